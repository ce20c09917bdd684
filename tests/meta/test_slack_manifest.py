"""The Slack app manifest asks for what the bot uses, and no more."""

from __future__ import annotations

from pathlib import Path

import yaml

from bot.app import build_runtime
from bot.edge.stores.memory import MemoryStore
from bot.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = yaml.safe_load((ROOT / "slack" / "manifest.yml").read_text())


def test_manifest_declares_the_slash_command_socket_mode_home_and_interactivity() -> None:
    features, settings = MANIFEST["features"], MANIFEST["settings"]
    assert [c["command"] for c in features["slash_commands"]] == ["/ecr"]
    assert features["app_home"]["home_tab_enabled"] is True
    assert settings["socket_mode_enabled"] is True
    assert settings["interactivity"]["is_enabled"] is True
    assert settings["event_subscriptions"]["bot_events"] == ["app_home_opened"]


def test_manifest_scopes_are_the_minimum() -> None:
    assert MANIFEST["oauth_config"]["scopes"]["bot"] == [
        "commands",
        "chat:write",
        "chat:write.public",
        "usergroups:read",
    ]


def test_the_bot_listens_for_what_the_manifest_declares() -> None:
    runtime = build_runtime(
        Settings(slack_bot_token="xoxb-test", slack_app_token="xapp-test"),
        MemoryStore(),
        mode="socket",
    )
    listeners = runtime.app._async_listeners
    assert len(listeners) == 1 + 5 + 3 + 1  # /ecr, image buttons, confirmations, App Home
