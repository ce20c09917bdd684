#!/usr/bin/env bash
# Download the wheels of the lock files into dist/wheels, checking every hash, so that the image
# builds without a package index (`docker build --build-arg PIP_NO_INDEX=1 .`).
#
#   bash scripts/build_wheels.sh
#
# Every locked package is fetched whatever its environment marker: the image's Python may differ
# from this one (Debian's 3.11.2 needs async-timeout, 3.11.7 does not). Wheels only: the image
# has no compiler. The host must match the image's platform (Linux, x86_64, CPython 3.11).
set -euo pipefail
cd "$(dirname "$0")/.."
DEST=dist/wheels
mkdir -p "$DEST" build
for lock in requirements/runtime.txt requirements/build.txt; do
  sed -E 's/ ; [^\\]+\\$/ \\/' "$lock" > "build/$(basename "$lock" .txt)-all-markers.txt"
done
python3 -m pip download --quiet --disable-pip-version-check --only-binary :all: --no-deps \
  --require-hashes -d "$DEST" \
  -r build/runtime-all-markers.txt -r build/build-all-markers.txt \
  2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
echo "$DEST: $(find "$DEST" -name '*.whl' | wc -l) wheels, $(du -sh "$DEST" | cut -f1)"
