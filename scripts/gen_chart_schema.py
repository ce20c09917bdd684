#!/usr/bin/env python3
"""Write helm/ecr-lifeguard/values.schema.json: the chart's own schema plus ``config``.

``config`` (the settings file the chart renders into its ConfigMap) gets the JSON schema of the
non-secret sections of ``bot.settings.Settings``, so `helm install` refuses an unknown setting
or a wrong type with the setting named. The rest comes from
``helm/ecr-lifeguard/schema/chart.schema.yaml``.

Usage::

    python3 scripts/gen_chart_schema.py           # write the file
    python3 scripts/gen_chart_schema.py --check   # exit 1 when the committed file is stale

(``python3 scripts/generate.py`` runs this and the configuration reference together.)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

from settings_model import ROOT, config_schema

CHART = ROOT / "helm" / "ecr-lifeguard"
SOURCE = CHART / "schema" / "chart.schema.yaml"
TARGET = CHART / "values.schema.json"


def render() -> str:
    """The complete values.schema.json text."""
    schema = yaml.safe_load(SOURCE.read_text(encoding="utf-8"))
    schema["properties"]["config"] = config_schema()
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def write_or_check(target: Path, text: str, argv: list[str]) -> int:
    """Write ``text`` to ``target``, or with ``--check`` tell whether it is current."""
    name = target.relative_to(ROOT) if target.is_relative_to(ROOT) else target
    if "--check" in argv:
        if target.exists() and target.read_text(encoding="utf-8") == text:
            return 0
        print(f"{name} is stale: run `python3 scripts/generate.py` and commit it", file=sys.stderr)
        return 1
    target.write_text(text, encoding="utf-8")
    print(f"wrote {name}")
    return 0


def main(argv: list[str]) -> int:
    """Entry point: write, or check with ``--check``."""
    return write_or_check(TARGET, render(), argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
