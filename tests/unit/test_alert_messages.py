"""The blog alert in every state: within Block Kit's limits, and readable at 3 a.m. — the release
tag and the consumer in the header and the notification, the running consumer first, the tags
and consumers kept in every later state, full-digest commands, Slack date tokens, links."""

from __future__ import annotations

import re
from typing import Any

import pytest

from bot.blocks.alerts import AlertOptions, timing_phrase
from bot.blocks.common import CONFIRM_GUARD, PROTECT, RESTORE, SNOOZE, UNPROTECT, WHY
from bot.blocks.links import consumer_url, ecr_image_url
from bot.blocks.subject import order_tags
from bot.inventory.models import Consumer
from bot.lifecycle.explain import describe_rule
from bot.risk.models import RiskWhen
from tests.support.blockkit import (
    action_ids,
    all_text,
    assert_block_kit,
    block_kit_problems,
    date_tokens,
    header_of,
    links,
)
from tests.support.blog import REPOSITORY, SHARED_DIGEST
from tests.support.blog_alerts import KEY, OPTIONS, RUNBOOK, blog_risk, blog_states

STATES = blog_states()
RELEASE = "tag-1-253-0"
POD = "shop/pod/web-6-x2k9"
ECR_URL = (
    "https://us-east-1.console.aws.amazon.com/ecr/repositories/private/123456789012/"
    f"webshop-assets/_/image/{SHARED_DIGEST}/details?region=us-east-1"
)


def texts_of(payload: dict[str, Any], kind: str) -> list[str]:
    return [b["text"]["text"] for b in payload["blocks"] if b["type"] == kind and "text" in b]


@pytest.mark.parametrize("state", sorted(STATES))
def test_every_state_is_within_block_kit_limits(state: str) -> None:
    assert_block_kit(STATES[state])


@pytest.mark.parametrize("state", sorted(STATES))
def test_every_state_names_the_release_the_consumer_and_keeps_tags_and_consumers(
    state: str,
) -> None:
    payload = STATES[state]
    name = f"{REPOSITORY} {RELEASE} ("
    assert name in header_of(payload) and name in payload["text"]
    assert "shop/web-6-x2k9" in header_of(payload) and "shop/web-6-x2k9" in payload["text"]
    text = all_text(payload)
    assert "`tag-1-253-0` `tag-1-252-0`" in text  # the release tags first, none hidden
    assert f"|{KEY.name}>\n{KEY.registry} · {KEY.region}" in text and SHARED_DIGEST in text
    used_by = next(t for t in texts_of(payload, "section") if "used by" in t.lower()
                   or "fail to pull" in t)  # fmt: skip
    running, rollback = used_by.index(POD), used_by.index("shop/deployment/web")
    assert running < rollback  # the running pod first, then the rollback target


@pytest.mark.parametrize("state", sorted(STATES))
def test_commands_carry_the_full_digest_and_times_are_slack_dates(state: str) -> None:
    payload = STATES[state]
    text = all_text(payload)
    commands = re.findall(r"`(/ecr [^`]+)`", text)
    assert all("…" not in c and c.endswith(SHARED_DIGEST) for c in commands)
    tokens = date_tokens(payload)
    assert tokens, "no Slack date token"
    without_tokens = re.sub(r"<!date\^[^>]+>", "", text)
    assert "UTC" not in without_tokens  # every time is a token each reader sees in their zone
    assert links(payload)["Image in the ECR console"] == ECR_URL.replace("&", "&amp;")
    assert links(payload)["Runbook"] == RUNBOOK


def test_the_alert_leads_with_state_and_severity_and_says_why_in_one_sentence() -> None:
    payload = STATES["at_risk"]
    assert (
        payload["text"]
        == f"{REPOSITORY} {RELEASE} (running in shop/web-6-x2k9) expires within 24 h"
    )
    state = texts_of(payload, "section")[0]
    assert state.startswith("*At risk: ECR will expire it* (rule 1) · *running now*")
    [why] = [b for b in payload["blocks"] if b.get("accessory", {}).get("action_id") == WHY]
    assert why["accessory"]["text"]["text"] == "More"
    sentence = why["text"]["text"].removeprefix("*Why* ")
    assert sentence.count(". ") == 0 and sentence.endswith("rule keeps 5.")
    assert blog_risk().reason.startswith(sentence) and len(blog_risk().reason) > len(sentence)
    assert action_ids(payload) == [WHY, PROTECT, SNOOZE]
    fields = next(b["fields"] for b in payload["blocks"] if "fields" in b)
    assert [f["text"].split("\n")[0] for f in fields] == [
        "*Tags*",
        "*Repository*",
        "*Digest*",
        "*Owner*",
    ]
    assert fields[3]["text"] == "*Owner*\n#shop-oncall"  # from the ecr-lifeguard/channel annotation


def test_the_protect_dialog_says_what_the_configured_mode_does() -> None:
    def dialog(options: AlertOptions) -> str:
        payload = blog_states(options)["at_risk"]
        [button] = [
            e
            for b in payload["blocks"]
            for e in b.get("elements", [])
            if e.get("action_id") == PROTECT
        ]
        return str(button["confirm"]["text"]["text"])

    confirm = dialog(OPTIONS)
    assert "not shielded until someone applies it" in confirm and "for 7 days" in confirm
    automatic = dialog(AlertOptions(apply_mode="automatic"))
    assert "at once" in automatic and "shielded right away" in automatic


def test_until_the_guard_rule_is_applied_the_alert_says_so_with_apply_and_the_rule_diff() -> None:
    payload = STATES["guard_pending"]
    honest = "keep tag added — not shielded until the guard rule is applied"
    assert honest in payload["text"]
    assert honest in texts_of(payload, "section")[0].lower()
    assert action_ids(payload)[-2:] == [CONFIRM_GUARD, SNOOZE]
    diff = next(t for t in texts_of(payload, "section") if t.startswith("*The change Apply makes*"))
    assert "“expire after 36,500 days” selects only images pushed 100 years ago" in diff
    assert "~ rule 1 → rule 2, otherwise unchanged" in diff and "{" not in diff  # no JSON wall


def test_protected_shows_until_when_by_whom_with_unprotect() -> None:
    payload = STATES["protected"]
    state = texts_of(payload, "section")[0]
    assert "*Protected by <@U0ALICE> until <!date^1672401600^" in state and "(in 7 days)" in state
    assert action_ids(payload) == [UNPROTECT]


def test_the_end_of_a_protection_says_whether_it_is_at_risk_again() -> None:
    state = texts_of(STATES["lease_ended"], "section")[0]
    assert "ended" in state and "not at risk again: the lifecycle policy keeps it" in state


@pytest.mark.parametrize("state", ["deleted", "deleted_unannounced"])
def test_deleted_says_when_by_what_and_what_fails_with_restore(state: str) -> None:
    payload = STATES[state]
    first = texts_of(payload, "section")[0]
    assert first.startswith("🗑️ *Deleted by lifecycle rule 1*, noticed <!date^")
    assert "*What will now fail:*" in first
    assert any(
        t.startswith("*Will fail to pull it*\n• *running now*")
        for t in texts_of(payload, "section")
    )
    assert action_ids(payload) == [RESTORE, WHY]


def test_no_longer_at_risk_says_which() -> None:
    policy, unused = STATES["safe_policy"], STATES["safe_unused"]
    assert "the lifecycle policy changed" in texts_of(policy, "section")[0]
    assert "nothing uses it any more" in texts_of(unused, "section")[0]
    assert "(was running in shop/web-6-x2k9)" in header_of(unused)


def test_release_tags_come_first_the_acting_rules_then_versions() -> None:
    rule = blog_risk().decision.rule
    assert rule is not None and "tag" in describe_rule(rule)
    tags = ("git-325dc21f", "v2.1", "tag-1-252-0", "latest", "tag-1-253-0")
    assert order_tags(tags, rule.selection) == (
        "tag-1-253-0",
        "tag-1-252-0",
        "v2.1",
        "git-325dc21f",
        "latest",
    )


def test_links_go_to_the_ecr_image_and_the_ecs_service() -> None:
    assert ecr_image_url(KEY, SHARED_DIGEST) == ECR_URL
    service = Consumer("ecs-service", "prod/checkout", account="111111111111", region="eu-west-1")
    assert consumer_url(service) == (
        "https://eu-west-1.console.aws.amazon.com/ecs/v2/clusters/prod/services/checkout/health"
        "?region=eu-west-1"
    )


def test_headers_say_when_in_plain_words() -> None:
    assert timing_phrase(RiskWhen("now"), 0.0) == "within 24 h"
    assert timing_phrase(RiskWhen("at", at=3 * 3600.0), 0.0) == "in 3 h"
    assert timing_phrase(RiskWhen("after_pushes", pushes=2, rule_priority=1), 0.0) == (
        "after 2 more pushes"
    )


def test_the_limits_check_finds_what_slack_would_refuse() -> None:
    too_much = {
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": "h" * 151}},
            {"type": "section", "text": {"type": "mrkdwn", "text": "s" * 3001}},
            {"type": "section", "fields": [{"type": "mrkdwn", "text": "f"}] * 11},
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": "b" * 76},
                        "action_id": "a" * 256,
                        "value": "v" * 2001,
                    },
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": "ok"},
                        "action_id": "a" * 256,
                        "value": "v",
                    },
                ],
            },
        ]
        * 13
    }
    problems = "\n".join(block_kit_problems(too_much))
    for expected in (
        "no `text` fallback",
        "52 blocks (at most 50)",
        "header text of 151 characters (at most 150)",
        "section text of 3001 characters (at most 3000)",
        "11 fields (at most 10)",
        "button text of 76 characters (at most 75)",
        "button value of 2001 characters (at most 2000)",
        "(1 to 255 characters)",
        "ids used twice",
    ):
        assert expected in problems
