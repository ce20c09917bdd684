"""``plan --format json`` writes, a chunk at a time, what ``json.dumps(indent=2)`` writes."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.cli.commands import write_json
from bot.lifecycle.evaluate import evaluate
from bot.lifecycle.inputs import parse_describe_images
from bot.lifecycle.parse import parse_policy_document
from bot.lifecycle.preview import Chunks, preview_document, preview_sections
from bot.lifecycle.timefmt import parse_instant

BLOG = Path(__file__).resolve().parents[2] / "examples" / "blog"

values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=12,
)


def written(document: dict[str, Any]) -> bytes:
    out = io.BytesIO()
    write_json(document, out)
    return out.getvalue()


def expected(document: dict[str, Any]) -> bytes:
    return (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode()


@settings(max_examples=300, deadline=None)
@given(
    document=st.dictionaries(st.text(max_size=5), values, max_size=4),
    items=st.lists(st.dictionaries(st.text(max_size=3), values, max_size=3), max_size=6),
    cut=st.integers(1, 4),
)
def test_chunked_output_is_byte_for_byte_what_json_dumps_writes(
    document: dict[str, Any], items: list[dict[str, Any]], cut: int
) -> None:
    chunks = [items[i : i + cut] for i in range(0, len(items), cut)] + [[]]
    lazy = {**document, "items": Chunks(lambda: iter(chunks))}
    assert written(lazy) == expected({**document, "items": items})
    assert written(document) == expected(document)


def test_the_plan_document_is_the_same_in_chunks_of_any_size() -> None:
    policy = parse_policy_document((BLOG / "policy.json").read_text())
    images = parse_describe_images((BLOG / "images.json").read_text())
    evaluation = evaluate(policy, images, parse_instant("2022-12-23T12:00:00Z"))
    whole = preview_document(evaluation, include_kept=True)
    for size in (1, 2, 7, 100):
        sections = preview_sections(evaluation, include_kept=True, chunk=size)
        assert written(sections) == expected(whole)
    assert written(preview_sections(evaluation)) == (BLOG / "plan.json").read_bytes()
