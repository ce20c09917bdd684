"""The App Home tab on the real stores (MemoryStore and RedisStore over redis-server): the leases
are read when the tab is opened, so an image protected since the last scan is listed as
protected, never as at risk too."""

from __future__ import annotations

import json
from typing import Any

from bot.ops.home import home_view
from bot.refs import ImageRef
from bot.watch.schedule import LAST_SCAN
from tests.integration.bot.conftest import Blog
from tests.support.blockkit import block_kit_problems
from tests.support.blog import REPOSITORY as BLOG_REPOSITORY
from tests.support.blog import SHARED_DIGEST
from tests.support.bot_kit import ALICE, SHORT, Verbs
from tests.support.ecr_fake import EcrFake


def sections(view: dict[str, Any]) -> list[str]:
    return [
        block["text"]["text"]
        for block in view["blocks"]
        if block["type"] == "section" and "text" in block
    ]


async def test_an_image_protected_since_the_scan_is_listed_as_protected_not_at_risk(
    blog: Blog, fake: EcrFake
) -> None:
    deps = blog.deps()
    await blog.loop(deps).cycle()
    before = await home_view(deps)
    assert block_kit_problems(before, home=True) == []
    [at_risk] = [text for text in sections(before) if text.startswith(f"*{BLOG_REPOSITORY}*")]
    assert SHORT in at_risk
    assert "*1 in-use image at risk.*" in sections(before)[0]
    assert "1 repository." in sections(before)[0]  # the count agrees with its noun
    assert "<!date^" in sections(before)[0]  # each reader sees their own time

    service = Verbs(deps)
    result = await service.protect(
        ALICE, ImageRef(BLOG_REPOSITORY, digest=SHARED_DIGEST), None, "rollback target"
    )
    assert result.change is not None and result.change.token
    await service.apply_guard(ALICE, result.change.token)
    stale = await deps.store.get(LAST_SCAN)
    assert stale is not None and [r["digest"] for r in stale["risks"]] == [SHARED_DIGEST]

    after = await home_view(deps)  # no scan ran since: the leases are read now
    assert block_kit_problems(after, home=True) == []
    texts = sections(after)
    assert texts[0].startswith("*No in-use image is at risk.*")
    assert not any(text.startswith(f"*{BLOG_REPOSITORY}*") for text in texts)
    [protections] = [text for text in texts if text.startswith("*Protections (1)*")]
    assert f"`{BLOG_REPOSITORY}@{SHORT}` by <@U0ALICE>" in protections
    assert "rollback target" in protections
    assert "1 image of the last scan protected since" in json.dumps(after)


async def test_a_lease_ended_since_the_scan_is_no_longer_listed_as_protected(
    blog: Blog, fake: EcrFake
) -> None:
    deps = blog.deps()
    await blog.loop(deps).cycle()
    service = Verbs(deps)
    shared = ImageRef(BLOG_REPOSITORY, digest=SHARED_DIGEST)
    await service.protect(ALICE, shared, None, "")
    await service.unprotect(ALICE, shared)
    view = await home_view(deps)
    texts = sections(view)
    assert "*Protections:* none." in texts
    assert any(text.startswith(f"*{BLOG_REPOSITORY}*") and SHORT in text for text in texts)
