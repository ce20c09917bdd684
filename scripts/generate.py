#!/usr/bin/env python3
"""Regenerate everything derived from the settings model, in one command.

    python3 scripts/generate.py           # after changing bot/settings.py; commit the results
    python3 scripts/generate.py --check   # what tests/deploy/test_generated.py checks

Writes helm/ecr-lifeguard/values.schema.json (scripts/gen_chart_schema.py) and
docs/configuration.md (scripts/gen_config_reference.py). Run it with the project's venv
(``.venv/bin/python scripts/generate.py``) so that ``bot`` and pydantic import.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import gen_chart_schema
import gen_config_reference


def main(argv: list[str]) -> int:
    """Run both generators; non-zero when either failed (or, with --check, is stale)."""
    results = [gen_chart_schema.main(argv), gen_config_reference.main(argv)]
    return max(results)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
