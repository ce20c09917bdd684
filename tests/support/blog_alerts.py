"""The blog scenario's alert in every state, rendered by the real message builders (pure).

The repository, images and policy are the blog's (``examples/blog``); what uses the shared digest
is what the Kubernetes inventory reports in the end-to-end tests: pod ``shop/web-6-x2k9`` runs it
and Deployment ``shop/web`` can roll back to it (revision 6). ``scripts/render_blocks.py`` draws
these messages; ``tests/unit/test_alert_messages.py`` checks them.
"""

from __future__ import annotations

import json
from typing import Any

from bot.blocks.alert_states import resolved_message
from bot.blocks.alerts import AlertImage, AlertOptions, alert_message, guard_changes, with_snooze
from bot.blocks.events import deleted_in_use_message
from bot.blocks.subject import deleted_subject, subject_of
from bot.inventory.models import Consumer, ImageUse, ResolvedUse, UseKind
from bot.lifecycle.evaluate import evaluate
from bot.lifecycle.guard import keep_tag, with_guard
from bot.lifecycle.inputs import image_from_detail
from bot.lifecycle.parse import parse_policy
from bot.lifecycle.timefmt import DAY, parse_instant
from bot.refs import ImageRef, RepositoryKey
from bot.risk.assess import assess
from bot.risk.models import Risk
from bot.state.records import GuardPending, Lease
from tests.support.blog import BLOG, NOW, REPOSITORY, SHARED_DIGEST, blog_details
from tests.support.moto_state import ACCOUNT, REGION

KEY = RepositoryKey(ACCOUNT, REGION, REPOSITORY)
ALICE = "<@U0ALICE>"
RUNBOOK = "https://wiki.example.com/runbooks/ecr-lifeguard"
OPTIONS = AlertOptions(protect_for=7 * DAY, runbook_url=RUNBOOK)


def blog_uses() -> list[ResolvedUse]:
    """The rollback target first, as the inventory lists it; the alert must put the pod first."""
    ref = ImageRef(REPOSITORY, digest=SHARED_DIGEST, registry=ACCOUNT, region=REGION)
    deployment = Consumer(
        "k8s-deployment", "shop/web", cluster="prod-eks", namespace="shop", channel="#shop-oncall"
    )
    pod = Consumer(
        "k8s-pod", "shop/web-6-x2k9", cluster="prod-eks", namespace="shop", channel="#shop-oncall"
    )
    return [
        ResolvedUse(ImageUse(ref, UseKind.ROLLBACK, deployment, "revision 6"), SHARED_DIGEST),
        ResolvedUse(ImageUse(ref, UseKind.RUNNING, pod, "web"), SHARED_DIGEST),
    ]


def blog_risk() -> Risk:
    """The shared digest at risk, as the scan finds it."""
    images = [image_from_detail(d) for d in blog_details()]
    policy = parse_policy((BLOG / "policy.json").read_text())
    evaluation = evaluate(policy, images, parse_instant(NOW))
    [risk] = assess(KEY, evaluation, {SHARED_DIGEST: blog_uses()})
    return risk


def blog_states(options: AlertOptions = OPTIONS) -> dict[str, dict[str, Any]]:
    """Every state of the blog alert: name → Slack message payload."""
    now = parse_instant(NOW)
    risk = blog_risk()
    image = AlertImage(KEY, SHARED_DIGEST, subject_of(risk))
    at_risk = alert_message(image, now, options)
    policy = parse_policy((BLOG / "policy.json").read_text())
    lease = Lease(
        repository=KEY,
        digest=SHARED_DIGEST,
        owner=ALICE,
        reason="INC-42 rollback",
        created_at=now,
        until=now + 7 * DAY,
        keep_tag=keep_tag("keep-", SHARED_DIGEST),
    )
    guard = GuardPending(
        owner=ALICE,
        until=lease.until,
        keep_tag=lease.keep_tag,
        token="tok-1",
        changes=guard_changes(policy, with_guard(policy, "keep-"), "keep-"),
    )
    ended = "the protection by <@U0ALICE> ended: keep-ec1477a7420a removed; it is not at risk again: the lifecycle policy keeps it"  # noqa: E501
    return {
        "at_risk": at_risk,
        "snoozed": with_snooze(at_risk, ALICE, now + 4 * 3600, now),
        "guard_pending": alert_message(image, now, options, guard=guard),
        "protected": resolved_message(image, "protected", "protected", now, options, lease=lease),
        "lease_ended": resolved_message(image, "lease_ended", ended, now + 7 * DAY, options),
        "deleted": resolved_message(image, "deleted", "deleted by lifecycle rule 1", now, options),
        "deleted_unannounced": deleted_in_use_message(
            KEY,
            SHARED_DIGEST,
            deleted_subject(risk.decision.image.tags, blog_uses(), 1),
            "deleted by lifecycle rule 1",
            now=now,
            options=options,
        ),
        "safe_policy": resolved_message(
            image, "policy", "the lifecycle policy no longer expires or archives it", now, options
        ),
        "safe_unused": resolved_message(image, "unused", "nothing uses it any more", now, options),
    }


if __name__ == "__main__":
    print(json.dumps(blog_states(), indent=1, ensure_ascii=False))
