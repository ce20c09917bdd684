"""What is generated from the settings model is current: the chart's values.schema.json and
docs/configuration.md. When a test here fails, run ``python3 scripts/generate.py`` (with the
project's venv) and commit the result."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

from bot.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "scripts"
FIX = "run `.venv/bin/python scripts/generate.py` and commit the result"


def script(name: str) -> ModuleType:
    """Import ``scripts/<name>.py`` (the scripts import each other by plain name)."""
    if str(SCRIPTS) not in sys.path:
        sys.path.insert(0, str(SCRIPTS))
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", ["gen_chart_schema", "gen_config_reference"])
def test_the_committed_file_is_current(name: str) -> None:
    generator = script(name)
    target: Path = generator.TARGET
    assert target.read_text(encoding="utf-8") == generator.render(), (
        f"{target.relative_to(ROOT)} is stale: {FIX}"
    )


def test_check_mode_reports_a_stale_file_and_write_mode_fixes_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    generator = script("gen_chart_schema")
    target = tmp_path / "values.schema.json"
    target.write_text("{}\n")
    text = generator.render()
    assert generator.write_or_check(target, text, ["--check"]) == 1
    assert capsys.readouterr().err.strip() == (
        f"{target} is stale: run `python3 scripts/generate.py` and commit it"
    )
    assert generator.write_or_check(target, text, []) == 0
    assert generator.write_or_check(target, text, ["--check"]) == 0
    assert json.loads(target.read_text())["properties"]["config"]["type"] == "object"


def test_every_section_and_setting_is_documented() -> None:
    reference = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    for section, field in Settings.model_fields.items():
        key = field.alias or section
        if field.validation_alias is None:
            assert f"## `{key}`" in reference, key
    for setting in ("`aws.max_concurrency`", "`inventory.lambda`", "`LIFEGUARD_BOT__HTTP_PORT`"):
        assert setting in reference
    assert "`SLACK_BOT_TOKEN`" in reference and "`REDIS_URL`" in reference


def test_the_chart_schema_covers_every_section_and_no_secret() -> None:
    schema = json.loads((ROOT / "helm/ecr-lifeguard/values.schema.json").read_text())
    config = schema["properties"]["config"]
    assert config["additionalProperties"] is False
    assert set(config["properties"]) == {
        field.alias or name
        for name, field in Settings.model_fields.items()
        if field.validation_alias is None
    }
    text = json.dumps(config)
    assert "slack_bot_token" not in text and "SLACK_BOT_TOKEN" not in text
    duration = config["properties"]["protect"]["properties"]["default_duration"]
    assert {option["type"] for option in duration["anyOf"]} == {"number", "string"}


def test_the_examples_in_the_generator_docstrings_hold() -> None:
    import doctest

    results = doctest.testmod(script("settings_model"))
    assert results.attempted >= 2
    assert results.failed == 0
