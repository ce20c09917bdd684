"""Wrapping terminal prose: at spaces only, never inside a `code span`, no trailing spaces."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.cli.prose import wrap

UNIT = re.compile(r"(?:`[^`]*`|[^\s`])+")  # a word, code spans (with their spaces) included
WORDS = st.sampled_from(
    ["a", "word", "longer-word", "`ecr-lifeguard protect`", "(`x y`).", "`a b c d e f`", "é"]
)


@settings(max_examples=300, deadline=None)
@given(words=st.lists(WORDS, min_size=1, max_size=30), width=st.integers(8, 60))
def test_wrapping_keeps_words_and_code_spans_whole(words: list[str], width: int) -> None:
    text = " ".join(words)
    lines = wrap(text, width, indent="  ")
    assert " ".join(line.strip() for line in lines) == text
    for line in lines:
        assert line == line.rstrip(), "trailing space"
        assert line.count("`") % 2 == 0, f"code span broken across lines: {line!r}"
        if len(UNIT.findall(line)) > 1:
            assert len(line) <= width, "only a single word (or code span) may overflow"
    assert all(line.startswith("  ") for line in lines[1:])


def test_line_breaks_in_the_text_are_kept() -> None:
    assert wrap("one two\nthree", 80) == ["one two", "three"]


def test_a_code_span_longer_than_the_width_gets_a_line_of_its_own() -> None:
    lines = wrap("run `ecr-lifeguard protect repo:tag for 7d` now", 20)
    assert lines == ["run", "`ecr-lifeguard protect repo:tag for 7d`", "now"]
    assert not any(re.search(r"\s$", line) for line in lines)
