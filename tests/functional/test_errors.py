"""The one mapping from an exception to what a person sees: kind, words, exit status, audience."""

from __future__ import annotations

import logging

import pytest

from bot.errors import (
    Busy,
    CliInputError,
    CommandError,
    ConfigError,
    CredentialsError,
    Denied,
    EventRejected,
    Exit,
    InputError,
    NotWatched,
    StoreUnavailable,
    UpstreamError,
    UsageError,
    explain,
)
from bot.ops.dispatch import error_reply


@pytest.mark.parametrize(
    ("error", "kind", "exit_status"),
    [
        (
            UsageError("retag takes 2 arguments, got 1", "retag", "retag <ref> <new-tag>"),
            "usage",
            2,
        ),
        (CliInputError(["--images nope.json: no such file"]), "input", 2),
        (InputError.single("rules", "empty"), "input", 2),
        (Denied("You may not protect images in app."), "denied", 2),
        (CommandError("app:v1 is not in the repository."), "refused", 2),
        (NotWatched("not watched"), "refused", 2),
        (Busy("busy"), "refused", 2),
        (ConfigError("SLACK_BOT_TOKEN is not set"), "refused", 2),
        (StoreUnavailable("nothing was changed"), "unavailable", 1),
        (UpstreamError("ecr", "PutImage", "ServerException", "boom"), "upstream", 1),
        (EventRejected("unknown", "x"), "refused", 2),
    ],
)
def test_each_error_has_its_kind_and_exit_status(
    error: Exception, kind: str, exit_status: int
) -> None:
    explanation = explain(error)
    assert (explanation.kind, int(explanation.exit)) == (kind, exit_status)
    assert explanation.text and explanation.lines


def test_upstream_errors_name_the_service_and_the_fix() -> None:
    error = CredentialsError(
        "ecr", "DescribeImages", "NoCredentials", "Unable to locate credentials", hint="set X"
    )
    explanation = explain(error)
    assert explanation.text == "ecr failed: Unable to locate credentials. To fix: set X"
    assert explanation.lines == ("Unable to locate credentials", "to fix: set X")


def test_a_usage_error_carries_how_to_write_the_command() -> None:
    reply = error_reply(UsageError("retag takes 2 arguments", "retag", "retag <ref> <new-tag>"))
    assert "Usage: `/ecr retag &lt;ref&gt; &lt;new-tag&gt;`" in str(reply.payload)
    assert not reply.public


def test_a_bug_is_logged_once_with_an_incident_id_and_never_shown(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.ERROR):
        explanation = explain(KeyError("secret detail"))
    assert explanation.kind == "internal" and explanation.exit == Exit.UPSTREAM_FAILURE
    assert "secret detail" not in explanation.text
    incident = explanation.text.split("incident ")[1].split(")")[0]
    [record] = caplog.records
    assert incident in record.getMessage() and record.exc_info is not None
