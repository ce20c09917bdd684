"""What an alert is about, in the order people read it (pure): the release tags first, the running
consumer first, and the one-line name of the image that headers and notifications use."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from bot.inventory.models import ResolvedUse, UseKind
from bot.lifecycle.matching import entry_matches
from bot.lifecycle.policy import Selection
from bot.risk.models import Risk
from bot.state.records import AlertSubject, ConsumerNote
from bot.text import short_digest

# Two numbers joined by a dot, dash or underscore (1.2, 1-253-0, v2_0), or v and a number.
_VERSION = re.compile(r"(?:^|[^0-9A-Za-z])v?\d+[._-]\d+|^v\d+$", re.IGNORECASE)
_NUMBERS = re.compile(r"\d+")
MAX_HEADLINE_CONSUMER = 60


def is_version_like(tag: str) -> bool:
    """Whether a tag reads as a release version rather than a commit hash or a word.

    Example:
        >>> [is_version_like(t) for t in ("tag-1-253-0", "v2.0", "v3", "git-325dc21f", "latest")]
        [True, True, True, False, False]
    """
    return _VERSION.search(tag) is not None


def _version_key(tag: str) -> tuple[int, ...]:
    return tuple(int(n) for n in _NUMBERS.findall(tag))


def _matched_by(selection: Selection | None, tag: str) -> bool:
    if selection is None or selection.tag_status != "tagged":
        return False
    return any(entry_matches(e, selection.uses_patterns, tag) for e in selection.entries)


def order_tags(tags: Sequence[str], selection: Selection | None = None) -> tuple[str, ...]:
    """Tags in the order people search for them: the ones the acting rule's prefixes or patterns
    match, then version-like tags (newest version first in both), then the rest as ECR lists them.

    Example:
        >>> order_tags(["git-325dc21f", "git-684254dd", "tag-1-252-0", "tag-1-253-0"])
        ('tag-1-253-0', 'tag-1-252-0', 'git-325dc21f', 'git-684254dd')
    """
    matched = [t for t in tags if _matched_by(selection, t)]
    versions = [t for t in tags if t not in matched and is_version_like(t)]
    rest = [t for t in tags if t not in matched and t not in versions]
    newest_first = sorted(matched, key=_version_key, reverse=True)
    return (*newest_first, *sorted(versions, key=_version_key, reverse=True), *rest)


def consumer_notes(uses: Iterable[ResolvedUse]) -> tuple[ConsumerNote, ...]:
    """The consumers of an image, the most urgent use first (running, launched, rollback...).

    Example:
        >>> from bot.inventory.models import Consumer, ImageUse
        >>> from bot.refs import ImageRef
        >>> def use(kind, name):
        ...     used = ImageUse(ImageRef("app", "v1"), kind, Consumer("k8s", name))
        ...     return ResolvedUse(used, "d")
        >>> [n.consumer.name for n in consumer_notes([use(UseKind.ROLLBACK, "old"),
        ...                                           use(UseKind.RUNNING, "pod")])]
        ['pod', 'old']
    """
    notes = [
        ConsumerNote(consumer=u.consumer, kind=u.kind, detail=u.use.detail, note=u.note)
        for u in uses
    ]
    return tuple(sorted(notes, key=lambda n: -n.kind))


def subject_of(risk: Risk) -> AlertSubject:
    """Everything an alert names about a risk, kept with the alert for its later states.

    Example:
        >>> from bot.lifecycle.decisions import Decision, Outcome
        >>> from bot.lifecycle.images import Image
        >>> from bot.refs import RepositoryKey
        >>> from bot.risk.models import RiskWhen
        >>> image = Image("sha256:" + "a" * 64, ("git-1a2b", "v1.2"), 0.0)
        >>> risk = Risk(RepositoryKey("1", "r", "app"), Decision(image, Outcome.EXPIRE), (),
        ...             "Rule 1 expires it.", RiskWhen("now"))
        >>> subject_of(risk).tags
        ('v1.2', 'git-1a2b')
    """
    rule = risk.decision.rule
    return AlertSubject(
        tags=order_tags(risk.decision.image.tags, rule.selection if rule else None),
        consumers=consumer_notes(risk.uses),
        action="TRANSITION" if risk.action == "TRANSITION" else "EXPIRE",
        rule_priority=risk.rule_priority,
        when=risk.when,
        reason=risk.reason,
    )


def deleted_subject(
    tags: Sequence[str], uses: Iterable[ResolvedUse], rule_priority: int | None = None
) -> AlertSubject:
    """What the message about a deleted in-use image names, when no alert came before it.

    Example:
        >>> deleted_subject(["git-1a2b", "v2.0"], (), 1).tags
        ('v2.0', 'git-1a2b')
    """
    return AlertSubject(
        tags=order_tags(tags), consumers=consumer_notes(uses), rule_priority=rule_priority
    )


def release(subject: AlertSubject | None, digest: str) -> str:
    """The name people know the image by: its first tag, else its short digest.

    Example:
        >>> release(AlertSubject(tags=("tag-1-253-0", "git-1")), "sha256:" + "a" * 64)
        'tag-1-253-0'
        >>> release(None, "sha256:" + "a" * 64)
        'aaaaaaaaaaaa'
    """
    return subject.tags[0] if subject and subject.tags else short_digest(digest)


def user_phrase(subject: AlertSubject | None) -> str:
    """How the most urgent consumer uses the image, for a header: ``running in shop/web``.

    Example:
        >>> from bot.inventory.models import Consumer
        >>> note = ConsumerNote(consumer=Consumer("k8s-pod", "shop/web-1"), kind=UseKind.RUNNING)
        >>> user_phrase(AlertSubject(consumers=(note,)))
        'running in shop/web-1'
    """
    if subject is None or not subject.consumers:
        return ""
    first = subject.consumers[0]
    verb = {
        UseKind.RUNNING: "running in",
        UseKind.LAUNCH: "launched by",
        UseKind.ROLLBACK: "rollback target of",
        UseKind.STATIC: "named by",
    }[first.kind]
    name = first.consumer.name
    if len(name) > MAX_HEADLINE_CONSUMER:
        name = name[: MAX_HEADLINE_CONSUMER - 1] + "…"
    return f"{verb} {name}"


def headline(
    repository: str, digest: str, subject: AlertSubject | None, *, past: bool = False
) -> str:
    """Repository, release tag and consumer: ``webshop-assets tag-1-253-0 (running in shop/web)``;
    ``past`` for an image nothing uses any more (``was running in``).

    Example:
        >>> headline("app", "sha256:" + "a" * 64, None)
        'app aaaaaaaaaaaa'
    """
    user = user_phrase(subject)
    if user and past:
        user = "was " + user
    return f"{repository} {release(subject, digest)}" + (f" ({user})" if user else "")
