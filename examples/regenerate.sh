#!/usr/bin/env bash
# Regenerate the example outputs from the CLI itself (tests check they stay identical).
# Usage: bash examples/regenerate.sh   (with ecr-lifeguard installed, e.g. in .venv)
set -euo pipefail
cd "$(dirname "$0")/.."
run() { "${ECR_LIFEGUARD:-ecr-lifeguard}" "$@"; }
blog=examples/blog
now=2022-12-23T12:00:00Z
run plan --policy $blog/policy.json --images $blog/images.json --now $now > $blog/plan.txt
run plan --policy $blog/policy.json --images $blog/images.json --now $now --format json > $blog/plan.json
run lint --policy $blog/policy.json > $blog/lint.txt
run lint --policy $blog/policy.json --format json > $blog/lint.json
