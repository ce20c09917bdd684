"""Replies to protect, unprotect, retag and restore, through the dispatcher as Slack and the CLI
run them: the outcome comes first (Slack's first line, the notification text, the CLI's first
line), the release tag names the image, times are Slack date tokens, a no-op is private, plurals
agree, and every reply stays within Block Kit's limits."""

from __future__ import annotations

import dataclasses
import json
import re

import pytest

from bot.errors import UsageError
from bot.lifecycle.images import ImageStatus
from bot.ops.authorize import Actor
from bot.ops.registry import parse_command
from bot.ops.results import ProtectResult, RestoreResult, Shielding
from bot.ops.verb import Reply
from bot.ops.verbs import protect, restore
from bot.ops.verbs.retag import Answer
from bot.state.records import Lease, SavedManifest
from tests.functional.conftest import DAY, NOW, World
from tests.support.blockkit import block_kit_problems, first_line

ALICE = Actor("U0ALICE", "C0OPS")
RELEASE = ("git-325dc21f", "git-684254dd", "tag-1-252-0", "tag-1-253-0")
DATE_TOKEN = re.compile(r"<!date\^(\d+)\^\{date_short_pretty\} \{time\}\|([^>]+ UTC)>")


async def run(world: World, text: str) -> Reply:
    reply = await world.ops.run(parse_command(text), ALICE)
    return checked(reply)


def checked(reply: Reply) -> Reply:
    """The reply, once its payload is within Block Kit's limits and every form starts alike."""
    assert block_kit_problems(reply.payload) == [], reply.payload
    assert reply.lines and reply.lines[0].strip(), reply.lines
    return reply


def outcome(reply: Reply) -> tuple[str, str, str]:
    """The notification text, the first line in Slack, and the CLI's first line."""
    return reply.payload["text"], first_line(reply.payload), reply.lines[0]


def times_in(text: str) -> list[tuple[int, str]]:
    return [(int(epoch), shown) for epoch, shown in DATE_TOKEN.findall(text)]


async def test_protect_waiting_for_the_guard_rule_says_first_it_is_not_protected_yet(
    world: World,
) -> None:
    world.push("release", *RELEASE)
    reply = await run(world, "protect app:tag-1-253-0 for 3d INC-42")
    text, slack, cli = outcome(reply)
    expected = (
        "Not protected yet: keep tag added to app tag-1-253-0 — not shielded until the "
        "guard rule is applied."
    )
    assert text == slack == cli == expected
    assert reply.public and reply.pending is not None
    details = json.dumps(reply.payload["blocks"][1])
    assert times_in(details) == [(int(NOW + 3 * DAY), "2025-06-18 15:06 UTC")]
    assert "<@U0ALICE>" in details and "INC-42" in details
    assert "sha256:" in reply.lines[1] and "until 2025-06-18 15:06 UTC: INC-42" in reply.lines[1]
    # The proposal is a rule diff, with the guard rule's 100 years explained in one line.
    [diff] = [b["text"]["text"] for b in reply.payload["blocks"] if "```" in str(b)]
    assert diff.startswith('```+ rule 1 ("ecr-lifeguard: keep protected images')
    assert '\n  rule 1 → 2 ("keep 2 releases"): images with a tag starting with' in diff
    assert '"rulePriority"' not in json.dumps(reply.payload)  # no walls of JSON
    assert "never expires anything" in json.dumps(reply.payload)
    assert reply.lines[3].startswith('+ rule 1 ("ecr-lifeguard')
    assert reply.lines[4].startswith('  rule 1 → 2 ("keep 2 releases")')


async def test_protect_with_the_guard_rule_applied_says_protected_until_when(
    world: World,
) -> None:
    world.settings.protect.apply_policy_change = "automatic"
    world.push("release", *RELEASE)
    reply = await run(world, "protect app:tag-1-252-0 for 2d")
    text, slack, cli = outcome(reply)
    token = f"<!date^{int(NOW + 2 * DAY)}^{{date_short_pretty}} {{time}}|2025-06-17 15:06 UTC>"
    assert text == slack == f"Protected app tag-1-253-0 until {token}."
    assert cli == "Protected app tag-1-253-0 until 2025-06-17 15:06 UTC."
    assert "The evaluator confirms it is now shielded" in json.dumps(reply.payload)

    again = await run(world, "protect app:tag-1-253-0 for 3d")
    assert again.lines[0] == "Protected app tag-1-253-0 until 2025-06-18 15:06 UTC (extended)."


async def test_an_untagged_image_is_named_by_its_short_digest_never_its_keep_tag(
    world: World,
) -> None:
    world.settings.protect.apply_policy_change = "automatic"
    digest = world.push("bare")
    short = digest.removeprefix("sha256:")[:12]
    reply = await run(world, f"protect app@{digest}")
    assert reply.lines[0].startswith(f"Protected app@{short} until ")
    assert f"keep-{short}" not in reply.payload["text"]


def test_a_protection_the_policy_still_overrides_says_not_protected_first(world: World) -> None:
    lease = _lease(world)
    still = Shielding(False, "rule 1 (keep 2 releases) expires it")
    result = ProtectResult(lease, True, None, True, still, tags=("v1", lease.keep_tag))
    reply = checked(protect.present(result))
    text, slack, cli = outcome(reply)
    assert text == slack == cli
    assert text.startswith("Not protected: the lifecycle policy still acts on app v1")
    assert "Not shielded yet: rule 1 (keep 2 releases) expires it" in json.dumps(reply.payload)


async def test_unprotect_says_unprotected_and_what_happened_to_the_keep_tag(world: World) -> None:
    digest = world.push("release", *RELEASE)
    await run(world, "protect app:tag-1-253-0 for 3d")
    reply = await run(world, "unprotect app:tag-1-253-0")
    keep = "keep-" + digest.removeprefix("sha256:")[:12]
    text, slack, cli = outcome(reply)
    assert text == slack == cli
    assert text == (
        f"Unprotected app tag-1-253-0: {keep} removed; the lifecycle policy applies to it again."
    )
    assert reply.public
    assert "was protected by <@U0ALICE> until 2025-06-18 15:06 UTC" in reply.lines[1]


async def test_unprotect_of_an_image_whose_keep_tag_is_its_last_says_the_tag_stays(
    world: World,
) -> None:
    digest = world.push("bare")
    await run(world, f"protect app@{digest}")
    reply = await run(world, f"unprotect app@{digest}")
    assert reply.lines[0].startswith("Unprotected app@")
    assert "the lease ended; keep-" in reply.lines[0] and "so it stays" in reply.lines[0]


async def test_retag_says_retagged_naming_the_release_tag_and_the_digest_is_unchanged(
    world: World,
) -> None:
    world.push("release", *RELEASE)
    reply = await run(world, "retag app:tag-1-253-0 stable")
    text, slack, cli = outcome(reply)
    assert text == slack == "Retagged app tag-1-253-0 as `stable`."
    assert cli == "Retagged app tag-1-253-0 as stable."
    assert reply.public
    assert "unchanged: nothing was pulled or pushed" in json.dumps(reply.payload)

    already = await run(world, "retag app:tag-1-253-0 stable")
    assert already.lines[0] == "Nothing to do: app tag-1-253-0 already has the tag stable."
    assert not already.public


async def test_a_tag_move_asks_first_then_says_retagged_and_where_the_tag_came_from(
    world: World,
) -> None:
    old = world.push("old", "v1", "stable")
    world.push("new", "v2")
    asked = await run(world, "retag app:v2 stable")
    short = old.removeprefix("sha256:")[:12]
    text, slack, cli = outcome(asked)
    assert text == slack == f"Not retagged yet: `stable` is on app v1 ({short}); move it to app v2?"
    assert cli == f"Not retagged yet: stable is on app v1 ({short}); move it to app v2?"
    assert not asked.public and asked.pending is not None
    moved = checked(await world.ops.answer("move-tag", Answer(asked.pending.token), ALICE))
    assert moved.lines[0] == f"Retagged app v2 as stable, moved from app v1 ({short})."
    assert moved.payload["text"].startswith("Retagged app v2 as `stable`, moved from app v1")


async def test_a_restore_of_an_active_image_is_private_and_says_nothing_to_restore(
    world: World,
) -> None:
    world.push("release", *RELEASE)
    reply = await run(world, "restore app:tag-1-252-0")
    text, slack, cli = outcome(reply)
    assert (
        text == slack == cli == "Nothing to restore: app tag-1-253-0 is active and can be pulled."
    )
    assert not reply.public and reply.follow_up is None
    assert world.registry.calls["UpdateImageStorageClass"] == 0


async def test_a_restore_from_archive_says_it_started_in_the_channel(world: World) -> None:
    digest = world.push("release", *RELEASE)
    repo = world.registry.repos["app"]
    repo.images[digest] = dataclasses.replace(repo.images[digest], status=ImageStatus.ARCHIVED)
    reply = await run(world, "restore app:tag-1-253-0")
    text, slack, cli = outcome(reply)
    assert text == slack == cli
    assert text.startswith("Restore started: app tag-1-253-0 is coming back from archive")
    assert reply.public and reply.follow_up is not None
    assert "I will say here when it can be pulled." in json.dumps(reply.payload)


async def test_a_re_push_says_restored_with_the_tags_it_brought_back(world: World) -> None:
    digest = world.push("release", *RELEASE)
    repo = world.registry.repos["app"]
    saved = SavedManifest(
        text=repo.manifests[digest], media_type=None, tags=RELEASE, saved_at=NOW - DAY
    )
    assert await world.deps.vault.save(world.key, digest, saved)
    del repo.images[digest]
    reply = await run(world, f"restore app@{digest}")
    assert reply.public
    assert reply.lines[0] == (
        "Restored app tag-1-253-0 from the saved manifest, with git-325dc21f, git-684254dd, "
        "tag-1-252-0, tag-1-253-0."
    )
    assert reply.payload["text"].startswith("Restored app tag-1-253-0 from the saved manifest")


def test_the_news_of_a_finished_restore_leads_with_the_outcome(world: World) -> None:
    result = RestoreResult("restoring", world.key, "sha256:" + "a" * 64, RELEASE)
    reply = checked(restore.present(result))
    assert reply.lines[0].startswith("Restore started: app tag-1-253-0")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("unprotect", "unprotect takes 1 argument, got 0"),
        ("retag app:v1", "retag takes 2 arguments, got 1"),
        ("protections a b", "protections takes at most 1 argument, got 2"),
    ],
)
def test_usage_errors_count_their_arguments_in_good_english(text: str, expected: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_command(text)
    assert str(caught.value) == expected


async def test_listings_count_in_the_singular_when_there_is_one(world: World) -> None:
    digest = world.push("release", *RELEASE)
    await run(world, "protect app:tag-1-253-0")
    listed = await run(world, "protections")
    assert listed.payload["text"] == "1 protection"
    [(epoch, shown)] = times_in(json.dumps(listed.payload))
    assert (epoch, shown) == (int(NOW + 7 * DAY), "2025-06-22 15:06 UTC")
    world.use(digest)
    scanned = await run(world, "at-risk")
    assert "1 repository scanned, 1 in-use image." in json.dumps(scanned.payload)


def _lease(world: World) -> Lease:
    digest = world.push("release", "v1")
    return Lease(
        repository=world.key,
        digest=digest,
        owner="<@U0ALICE>",
        reason="",
        created_at=NOW,
        until=NOW + DAY,
        keep_tag="keep-" + digest.removeprefix("sha256:")[:12],
    )
