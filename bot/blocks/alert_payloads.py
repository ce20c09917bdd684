"""What a notifier sends at each step of an alert's life, whatever it sends to (pure).

Slack (:class:`bot.edge.slack.notifier.SlackNotifier`) and the demo's terminal draw the same
payloads: a new alert, the alert as it reads now, and how it ended with the thread's reply.
"""

from __future__ import annotations

from typing import Any

from bot.blocks.alert_states import resolved_message
from bot.blocks.alerts import AlertImage, AlertOptions, alert_message
from bot.blocks.subject import subject_of
from bot.risk.models import Risk
from bot.settings import Settings
from bot.state.records import AlertRecord, AlertSubject, Lease


def alert_options(settings: Settings) -> AlertOptions:
    """The alert options the configuration asks for: lease length, protect mode, snooze, runbook.

    Example:
        >>> alert_options(Settings()).protect_label
        'Protect 7 days'
    """
    return AlertOptions(
        protect_for=settings.protect.default_duration,
        snooze_options=tuple(settings.bot.snooze_options),
        runbook_url=settings.alerts.runbook_url,
        apply_mode="automatic"
        if settings.protect.apply_policy_change == "automatic"
        else "confirm",
    )


def current_alert(
    record: AlertRecord, risk: Risk | None, now: float, options: AlertOptions
) -> dict[str, Any]:
    """The alert's message as it reads now (from the record when ``risk`` is None: the record
    keeps what the alert is about).

    Example:
        >>> from bot.refs import RepositoryKey
        >>> record = AlertRecord(repository=RepositoryKey("1", "r", "app"), digest="sha256:ab",
        ...                      channel="C1", ts="1.0", state="open", fingerprint="f",
        ...                      posted_at=0.0)
        >>> current_alert(record, None, 0.0, AlertOptions())["text"]
        'app ab expires within 24 h'
    """
    subject = record.subject or (subject_of(risk) if risk else AlertSubject())
    image = AlertImage(record.repository, record.digest, subject)
    return alert_message(image, now, options, guard=record.guard)


def ended_alert(
    record: AlertRecord,
    reason: str,
    detail: str,
    now: float,
    options: AlertOptions,
    *,
    lease: Lease | None = None,
) -> tuple[dict[str, Any], str]:
    """The alert's message once its risk ended, and the reply for its thread.

    Example:
        >>> from bot.refs import RepositoryKey
        >>> record = AlertRecord(repository=RepositoryKey("1", "r", "app"), digest="sha256:ab",
        ...                      channel="C1", ts="1.0", state="open", fingerprint="f",
        ...                      posted_at=0.0)
        >>> ended_alert(record, "safe", "nothing uses it any more", 0.0, AlertOptions())[1]
        'No longer at risk: app ab: nothing uses it any more.'
    """
    image = AlertImage(record.repository, record.digest, record.subject or AlertSubject())
    payload = resolved_message(image, reason, detail, now, options, lease=lease)
    text = str(payload["text"])
    said = detail.strip().rstrip(".")
    return payload, text if said in text else f"{text}: {said}."
