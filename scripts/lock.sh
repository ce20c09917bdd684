#!/usr/bin/env bash
# Regenerate the hash-pinned lock files from pyproject.toml (run after changing a dependency):
#
#   bash scripts/lock.sh              # keep current pins where still allowed
#   bash scripts/lock.sh --upgrade    # move every pin to the newest allowed release
#
# requirements/runtime.txt  what the container image installs (`pip install --require-hashes`)
# requirements/build.txt    the build backend, so the image can build the project offline
# tests/deploy/test_lock.py fails when a pyproject.toml dependency is missing from the lock or
# pinned outside its range.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/tools.sh
ensure_tools uv
export SSL_CERT_FILE=${SSL_CERT_FILE:-${PIP_CERT:-/etc/ssl/certs/ca-certificates.crt}}
export UV_CUSTOM_COMPILE_COMMAND="bash scripts/lock.sh"

compile() {
  "$LIFEGUARD_TOOLS/bin/uv" pip compile --quiet --universal --python-version 3.11 \
    --generate-hashes --annotation-style line "$@"
}
compile pyproject.toml -o requirements/runtime.txt "$@"
python3 - <<'PY' > requirements/build.in
import tomllib
print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["build-system"]["requires"]))
PY
compile requirements/build.in -o requirements/build.txt "$@"
echo "requirements/runtime.txt: $(grep -c '==' requirements/runtime.txt) pins; requirements/build.txt: $(grep -c '==' requirements/build.txt)"
