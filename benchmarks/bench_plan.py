"""Benchmark ``ecr-lifeguard plan`` as the user runs it: the whole command, in a subprocess.

Run by hand from the repository root::

    python benchmarks/bench_plan.py            # 20,000 and 100,000 images, 10 and 50 rules
    python benchmarks/bench_plan.py --quick    # 20,000 images only, one repetition
    python benchmarks/bench_plan.py --json     # the same figures as JSON

Per case (images x rules), in the same run and alternating so that machine load hits both alike:

* ``python -c 'import json; json.load(open(I))'``: the floor, reading and decoding the input;
* ``ecr-lifeguard plan --policy P --images I --now T --format json > file`` and ``--format table``:
  wall time and peak RSS of the whole command (start-up, reading, evaluation, output), each as a
  ratio to the ``json.load`` time. Target: at most 3x and 300 MB for both formats;
* in one more process, where the time goes: decoding and reading the images, evaluation, building
  the JSON document, encoding it.

Timings are medians of several runs. Peak RSS is each process's own ``ru_maxrss``, read through a
small parent process that runs just that command (``RUSAGE_CHILDREN`` of a fresh process).

Input data is generated deterministically (fixed seed) into ``benchmarks/.data/`` exactly as
``aws ecr describe-images`` (AWS CLI v2) prints it, and reused by later runs.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

HERE = Path(__file__).resolve().parent
DATA_DIR = HERE / ".data"

SEED = 20_240_305
GENERATOR_VERSION = 2  # bump when the generated data changes, so stale files are not reused
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC).timestamp()  # the evaluation instant
DAY = 86_400.0
HISTORY_DAYS = 730  # push times spread over two years before NOW
CLI_TIMEZONE = ZoneInfo("Europe/Berlin")  # AWS CLI v2 prints local time with its offset

SIZES = (20_000, 100_000)
RULE_COUNTS = (10, 50)
REPEATS = {20_000: 5, 100_000: 3}

TARGET_CASE = (100_000, 10)
TARGET_VS_LOAD = 3.0
TARGET_PEAK_MB = 300.0

REGISTRY_ID = "123456789012"
REPOSITORY = "payments-api"
FEATURES = (
    "auth",
    "billing",
    "checkout",
    "search",
    "onboarding",
    "refunds",
    "reports",
    "notifications",
    "profile",
    "cart",
    "inventory",
    "shipping",
    "analytics",
    "admin",
    "api-gateway",
    "login-v2",
    "dark-mode",
    "i18n",
    "export",
    "webhooks",
)
MEDIA_TYPES = (  # (manifest media type, artifact media type or None, cumulative weight)
    (
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.container.image.v1+json",
        0.80,
    ),
    (
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.config.v1+json",
        0.95,
    ),
    ("application/vnd.oci.image.index.v1+json", None, 1.0),
)


# --------------------------------------------------------------------------------------------
# Data: describe-images output
# --------------------------------------------------------------------------------------------


def images_path(size: int) -> Path:
    return DATA_DIR / f"describe-images-{size}-seed{SEED}-v{GENERATOR_VERSION}.json"


def cli_time(instant: float) -> str:
    """An instant as AWS CLI v2 prints it: local time, microseconds, offset."""
    return datetime.fromtimestamp(instant, CLI_TIMEZONE).isoformat(timespec="microseconds")


class _TagMaker:
    """Tags for each kind of build; every tag is unique within the repository."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.git_seen: set[str] = set()
        self.minor, self.patch, self.rc = 0, 0, 0
        self.feature_builds = dict.fromkeys(FEATURES, 0)
        self.main_builds = 0
        self.prod_per_day: dict[str, int] = {}
        self.nightly_days: set[str] = set()

    def git(self) -> str:
        while True:
            tag = f"git-{self.rng.getrandbits(32):08x}"
            if tag not in self.git_seen:
                self.git_seen.add(tag)
                return tag

    def release(self, pushed: float) -> list[str]:
        rng = self.rng
        if rng.random() < 0.12:  # a release candidate of the next patch
            self.rc += 1
            return [f"v1.{self.minor}.{self.patch + 1}-rc{self.rc}", self.git()]
        self.rc = 0
        if rng.random() < 0.04:
            self.minor, self.patch = self.minor + 1, 0
        else:
            self.patch += 1
        tags = [f"v1.{self.minor}.{self.patch}", self.git()]
        if rng.random() < 0.35:  # deployed to production that day
            day = datetime.fromtimestamp(pushed, UTC).strftime("%Y%m%d")
            self.prod_per_day[day] = self.prod_per_day.get(day, 0) + 1
            tags.append(f"prod-{day}-{self.prod_per_day[day]}")
        return tags

    def feature(self) -> list[str]:
        name = self.rng.choice(FEATURES)
        self.feature_builds[name] += 1
        return [self.git(), f"feature-{name}-{self.feature_builds[name]}"]

    def main(self, pushed: float) -> list[str]:
        self.main_builds += 1
        tags = [f"main-{self.main_builds}", self.git()]
        day = datetime.fromtimestamp(pushed, UTC).strftime("%Y%m%d")
        if day not in self.nightly_days:
            self.nightly_days.add(day)
            tags.append(f"nightly-{day}")
        return tags


def _build_tags(rng: random.Random, times: list[float]) -> list[list[str]]:
    """Tags per image (push order): 25% untagged, 20% releases, 45% feature builds, 10% main."""
    maker = _TagMaker(rng)
    tags: list[list[str]] = []
    last_release_of_minor: dict[int, int] = {}
    releases: list[int] = []
    for index, pushed in enumerate(times):
        draw = rng.random()
        if draw < 0.25:
            tags.append([])
        elif draw < 0.45:
            tags.append(maker.release(pushed))
            if "-rc" not in tags[-1][0]:
                releases.append(index)
                last_release_of_minor[maker.minor] = index
        elif draw < 0.90:
            tags.append(maker.feature())
        else:
            tags.append(maker.main(pushed))
    for minor, index in last_release_of_minor.items():  # moving minor tag: a multi-tag image
        tags[index].append(f"v1.{minor}")
    tags[releases[-1]].append("latest")
    stable_before = NOW - 30 * DAY
    tags[max(i for i in releases if times[i] < stable_before)].append("stable")
    return tags


def _image_detail(rng: random.Random, size: int, index: int, pushed: float, tags: list[str]) -> Any:
    digest = hashlib.sha256(f"{SEED}:{size}:{index}".encode()).hexdigest()
    draw = rng.random()
    media, artifact, _ = next(m for m in MEDIA_TYPES if draw < m[2])
    detail: dict[str, Any] = {
        "registryId": REGISTRY_ID,
        "repositoryName": REPOSITORY,
        "imageDigest": f"sha256:{digest}",
    }
    if tags:
        detail["imageTags"] = tags
    detail["imageSizeInBytes"] = rng.randint(30_000_000, 900_000_000)
    detail["imagePushedAt"] = cli_time(pushed)
    detail["imageManifestMediaType"] = media
    if artifact:
        detail["artifactMediaType"] = artifact
    pulled = None
    if rng.random() < 0.60:
        pulled = round(pushed + (NOW - pushed) * rng.random(), 3)
        detail["lastRecordedPullTime"] = cli_time(pulled)
    if NOW - pushed > 120 * DAY and rng.random() < 0.066:
        since = max(pushed, pulled or pushed) + 30 * DAY
        detail["imageStatus"] = "ARCHIVED"
        detail["lastArchivedAt"] = cli_time(round(since + (NOW - since) * rng.random(), 3))
    else:
        detail["imageStatus"] = "ACTIVE"
    return detail


def generate_images(size: int) -> dict[str, Any]:
    """Describe-images output for ``size`` images (deterministic for a size and SEED)."""
    rng = random.Random(f"{SEED}-{size}")
    start = NOW - HISTORY_DAYS * DAY
    # Slightly more pushes in recent months, as repositories grow; millisecond precision.
    times = sorted(round(start + HISTORY_DAYS * DAY * rng.random() ** 0.8, 3) for _ in range(size))
    tags = _build_tags(rng, times)
    details = [
        _image_detail(rng, size, index, pushed, image_tags)
        for index, (pushed, image_tags) in enumerate(zip(times, tags, strict=True))
    ]
    rng.shuffle(details)  # describe-images pages are not in push order
    return {"imageDetails": details}


def ensure_images(size: int) -> Path:
    """The describe-images file for ``size`` images, generated (in this process) if missing."""
    path = images_path(size)
    if not path.exists():
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".tmp")
        with partial.open("w", encoding="utf-8") as handle:
            json.dump(generate_images(size), handle, indent=4)  # as `aws ecr` prints it
            handle.write("\n")
        partial.replace(path)
    return path


# --------------------------------------------------------------------------------------------
# Policies
# --------------------------------------------------------------------------------------------


def _rule(
    description: str,
    *,
    status: str = "tagged",
    prefixes: list[str] | None = None,
    patterns: list[str] | None = None,
    keep: int | None = None,
    days: int | None = None,
    count_type: str | None = None,
    action: str = "expire",
    storage_class: str | None = None,
) -> dict[str, Any]:
    selection: dict[str, Any] = {"tagStatus": status}
    if prefixes:
        selection["tagPrefixList"] = prefixes
    if patterns:
        selection["tagPatternList"] = patterns
    if storage_class:
        selection["storageClass"] = storage_class
    if keep is not None:
        selection |= {"countType": "imageCountMoreThan", "countNumber": keep}
    elif days is not None:
        kind = count_type or "sinceImagePushed"
        selection |= {"countType": kind, "countUnit": "days", "countNumber": days}
    else:
        raise ValueError(f"rule {description!r} needs keep or days")
    body: dict[str, Any] = {"type": action}
    if action == "transition":
        body["targetStorageClass"] = "archive"
    return {"description": description, "selection": selection, "action": body}


def _head_rules() -> list[dict[str, Any]]:
    return [
        _rule("keep latest", patterns=["latest"], keep=1),
        _rule("keep stable", prefixes=["stable"], keep=1),
    ]


def _core_rules() -> list[dict[str, Any]]:
    return [
        _rule("release candidates", patterns=["v1.*-rc*"], keep=20),
        _rule("deployed releases", patterns=["v1.*.*", "prod-*"], keep=100),
        _rule(
            "archive releases nobody pulls",
            prefixes=["v1."],
            days=180,
            count_type="sinceImagePulled",
            action="transition",
        ),
        _rule("feature builds", prefixes=["feature-"], days=30),
        _rule("main builds", patterns=["main-*"], keep=200),
    ]


def _tail_rules() -> list[dict[str, Any]]:
    return [
        _rule("untagged", status="untagged", days=14),
        _rule("everything else", status="any", days=365),
        _rule(
            "delete after 180 days in archive",
            status="any",
            storage_class="archive",
            days=180,
            count_type="sinceImageTransitioned",
        ),
    ]


def _extra_rules() -> list[dict[str, Any]]:
    """40 more rules for the 50-rule policy: wildcards at the start, middle and end, AND lists."""
    rules = []
    for position, name in enumerate(FEATURES):  # 20 per-feature rules, prefixes and patterns
        if position % 2:
            rules.append(_rule(f"feature {name}", prefixes=[f"feature-{name}-"], days=60))
        else:
            rules.append(_rule(f"feature {name}", patterns=[f"feature-{name}-*"], keep=10))
    for minor in range(8):  # keep a few patches of the early minors
        rules.append(_rule(f"v1.{minor} patches", prefixes=[f"v1.{minor}."], keep=3))
    rules += [
        _rule("hotfix-style rc", patterns=["*-rc1"], keep=5),
        _rule("x.0 releases", patterns=["v1.*.0"], days=540),
        _rule("rc of x.0 releases", patterns=["*.0-rc*"], keep=5),
        _rule("nightlies 2026", patterns=["nightly-2026*"], days=45),
        _rule("nightlies", prefixes=["nightly-"], days=30),
        _rule("commits ending 0", patterns=["git-*0"], keep=50),
        _rule("four wildcards", patterns=["*a*b*c*"], keep=25),
        _rule("feature builds 1xx", patterns=["feature-*-1*"], keep=10),
        _rule("main builds 1xxx", patterns=["main-1*"], days=90),
        # The last three come after the core rules (see policy_rules).
        _rule("feature and commit", patterns=["feature-*", "git-*f"], keep=40),
        _rule("release and commit", prefixes=["v1.", "git-"], keep=300),
        _rule("checkout anywhere", patterns=["*checkout*"], days=20),
    ]
    return rules


def policy_rules(count: int) -> list[dict[str, Any]]:
    """Rules in priority order: special tags, extras (50 only), core, untagged, any, archive."""
    head, core, tail = _head_rules(), _core_rules(), _tail_rules()
    extras = _extra_rules() if count == 50 else []
    extras_first, extras_last = extras[:-3], extras[-3:]
    rules = head + extras_first + core + extras_last + tail
    if len(rules) != count:
        raise SystemExit(f"internal error: built {len(rules)} rules, wanted {count}")
    return [{"rulePriority": (i + 1) * 10, **rule} for i, rule in enumerate(rules)]


def policy_text(count: int) -> str:
    """The policy JSON, validated with ``parse_policy``; fails loudly when invalid."""
    from bot.lifecycle import InputError, parse_policy

    text = json.dumps({"rules": policy_rules(count)}, separators=(",", ":"))
    try:
        parse_policy(text)
    except InputError as exc:
        raise SystemExit(f"the generated {count}-rule policy is invalid:\n{exc}") from None
    return text


def ensure_policy(count: int) -> Path:
    path = DATA_DIR / f"policy-{count}-rules.json"
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    path.write_text(policy_text(count) + "\n", encoding="utf-8")
    return path


# --------------------------------------------------------------------------------------------
# Measuring commands: wall time and peak RSS, each in a process of its own
# --------------------------------------------------------------------------------------------

# Runs argv[2:] with stdout sent to the file argv[1]; prints wall seconds and the child's peak RSS.
_MEASURE = (
    "import resource, subprocess, sys, time\n"
    "with open(sys.argv[1], 'wb') as out:\n"
    "    started = time.perf_counter()\n"
    "    done = subprocess.run(sys.argv[2:], stdout=out, stderr=subprocess.PIPE)\n"
    "    wall = time.perf_counter() - started\n"
    "if done.returncode:\n"
    "    sys.exit(done.stderr.decode(errors='replace'))\n"
    "rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
    "print(wall, rss / 1024)\n"
)


def measure(command: list[str], output: Path) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one run of ``command``, stdout written to ``output``."""
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(output), *command],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr}")
    wall, rss = done.stdout.split()
    return float(wall), float(rss)


def commands(size: int, rules: int) -> dict[str, list[str]]:
    images, policy = str(images_path(size)), str(DATA_DIR / f"policy-{rules}-rules.json")
    now = datetime.fromtimestamp(NOW, UTC).isoformat()
    plan = [sys.executable, "-m", "bot", "plan", "--policy", policy, "--images", images]
    return {
        "json_load": [sys.executable, "-c", f"import json; json.load(open({images!r}))"],
        "plan_json": [*plan, "--now", now, "--format", "json"],
        "plan_table": [*plan, "--now", now, "--format", "table"],
    }


def command_case(size: int, rules: int, repeats: int) -> dict[str, Any]:
    """The whole commands, alternating, ``repeats`` times each: median wall time, peak RSS."""
    output = DATA_DIR / "plan-output.tmp"
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in commands(size, rules)}
    try:
        for _ in range(repeats):
            for name, command in commands(size, rules).items():
                runs[name].append(measure(command, output))
        output_mb = {}
        for name in ("plan_json", "plan_table"):
            measure(commands(size, rules)[name], output)
            output_mb[name] = output.stat().st_size / 2**20
    finally:
        output.unlink(missing_ok=True)
    figures: dict[str, Any] = {}
    for name, results in runs.items():
        figures[f"{name}_s"] = statistics.median(wall for wall, _ in results)
        figures[f"{name}_peak_mb"] = max(rss for _, rss in results)
    for name in ("plan_json", "plan_table"):
        figures[f"{name}_vs_load"] = figures[f"{name}_s"] / figures["json_load_s"]
        figures[f"{name}_output_mb"] = round(output_mb[name], 1)
    return figures


# --------------------------------------------------------------------------------------------
# Where the time goes: the stages of the command, in one fresh process
# --------------------------------------------------------------------------------------------


def _median_time(repeats: int, action: Callable[[], Any]) -> tuple[float, Any]:
    """Median wall time of ``action`` and its last result; the previous result is freed first."""
    times, result = [], None
    for _ in range(repeats):
        result = None
        started = time.perf_counter()
        result = action()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def stage_case(size: int, rules: int, repeats: int) -> dict[str, Any]:
    import orjson

    from bot.cli.commands import read_images
    from bot.lifecycle import Outcome, evaluate, parse_policy
    from bot.lifecycle.images import gc_paused
    from bot.lifecycle.preview import preview_document

    policy = parse_policy(read_policy_text(rules))
    raw = images_path(size).read_bytes()
    figures: dict[str, Any] = {"images_file_mb": round(len(raw) / 2**20, 1)}
    with gc_paused():  # as the command runs
        figures["read_s"], read = _median_time(repeats, lambda: read_images(raw))
        raw = b""
        images = read.images
        figures["evaluate_s"], evaluation = _median_time(
            repeats, lambda: evaluate(policy, images, NOW)
        )
        figures["document_s"], document = _median_time(
            repeats, lambda: preview_document(evaluation)
        )
        figures["encode_s"] = _median_time(
            repeats, lambda: orjson.dumps(document, option=orjson.OPT_INDENT_2)
        )[0]
    outcomes = [d.outcome for d in evaluation.decisions]
    figures |= {
        "images": len(images),
        "rules": len(policy.rules),
        "repeats": repeats,
        "acted": sum(1 for d in evaluation.acted()),
        "expire": outcomes.count(Outcome.EXPIRE),
        "transition": outcomes.count(Outcome.TRANSITION),
        "archived_in_input": sum(1 for i in images if i.storage_class == "archive"),
        "untagged_in_input": sum(1 for i in images if not i.tags),
    }
    return figures


def read_policy_text(rules: int) -> str:
    return (DATA_DIR / f"policy-{rules}-rules.json").read_text(encoding="utf-8")


def run_worker(argv: list[str]) -> None:
    mode, *numbers = argv
    args = [int(n) for n in numbers]
    if mode == "generate":
        result: Any = str(ensure_images(args[0]))
    elif mode == "stages":
        result = stage_case(*args)
    else:
        raise SystemExit(f"unknown worker mode {mode!r}")
    sys.stdout.write(json.dumps(result) + "\n")


def in_subprocess(*args: object) -> Any:
    """Run this script as a worker in a fresh interpreter; return the JSON it prints."""
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", *map(str, args)]
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    done = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        raise SystemExit(f"worker {args} failed with exit code {done.returncode}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------------------------
# Driver and report
# --------------------------------------------------------------------------------------------


def run_cases(quick: bool, progress: Callable[[str], None]) -> list[dict[str, Any]]:
    sizes = SIZES[:1] if quick else SIZES
    for count in RULE_COUNTS:
        ensure_policy(count)
    for size in sizes:
        if not images_path(size).exists():
            progress(f"generating {size:,} images ...")
        in_subprocess("generate", size)
    cases = []
    for size in sizes:
        for rules in RULE_COUNTS:
            repeats = 1 if quick else REPEATS[size]
            progress(f"{size:,} images x {rules} rules: whole commands ({repeats} runs each) ...")
            case = command_case(size, rules, repeats)
            progress(f"{size:,} images x {rules} rules: stages ...")
            case |= in_subprocess("stages", size, rules, repeats)
            cases.append(case)
    return cases


def check_targets(cases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per case and format: within 3x json.load, within 300 MB."""
    verdicts = []
    for case in cases:
        for fmt in ("json", "table"):
            ratio, peak = case[f"plan_{fmt}_vs_load"], case[f"plan_{fmt}_peak_mb"]
            verdicts.append(
                {
                    "case": f"{case['images']:,} x {case['rules']}",
                    "format": fmt,
                    "target_case": (case["images"], case["rules"]) == TARGET_CASE,
                    "vs_load": ratio,
                    "within_3x": ratio <= TARGET_VS_LOAD,
                    "peak_mb": peak,
                    "within_300mb": peak <= TARGET_PEAK_MB,
                }
            )
    return verdicts


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def render_table(cases: list[dict[str, Any]]) -> str:
    header = (
        "| images | rules | `json.load` | `plan --format json` | × load | peak | "
        "`plan --format table` | × load | peak |"
    )
    lines = [header, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for c in cases:
        lines.append(
            f"| {c['images']:,} | {c['rules']} | {c['json_load_s']:.2f} s "
            f"| {c['plan_json_s']:.2f} s | {c['plan_json_vs_load']:.1f}× "
            f"| {c['plan_json_peak_mb']:.0f} MB "
            f"| {c['plan_table_s']:.2f} s | {c['plan_table_vs_load']:.1f}× "
            f"| {c['plan_table_peak_mb']:.0f} MB |"
        )
    return "\n".join(lines)


def render_stages(cases: list[dict[str, Any]]) -> str:
    header = "| images | rules | read images | evaluate | JSON document | encode | acted on |"
    lines = [header, "|---:|---:|---:|---:|---:|---:|---:|"]
    for c in cases:
        lines.append(
            f"| {c['images']:,} | {c['rules']} | {c['read_s']:.3f} s | {c['evaluate_s']:.3f} s "
            f"| {c['document_s']:.3f} s | {c['encode_s']:.3f} s "
            f"| {c['acted']:,} ({c['expire']:,} expire, {c['transition']:,} archive) |"
        )
    return "\n".join(lines)


def render_targets(verdicts: list[dict[str, Any]]) -> str:
    lines = [f"Targets: the whole command <= {TARGET_VS_LOAD:.0f}x json.load and <= 300 MB:"]
    for v in verdicts:
        mark = "  (the issue's case)" if v["target_case"] else ""
        lines.append(
            f"  {v['case']:>14} {v['format']:<5}  {v['vs_load']:.2f}x "
            f"{_verdict(v['within_3x'])}  {v['peak_mb']:.0f} MB {_verdict(v['within_300mb'])}"
            f"{mark}"
        )
    return "\n".join(lines)


def render_notes(cases: list[dict[str, Any]], load: tuple[float, float]) -> str:
    return "\n".join(
        [
            "Whole commands: median of "
            + ", ".join(sorted({f"{c['repeats']} run(s) for {c['images']:,}" for c in cases}))
            + " images, alternating json.load / plan json / plan table; output written to a "
            "file (JSON: "
            + ", ".join(f"{c['plan_json_output_mb']} MiB" for c in cases if c["rules"] == 10)
            + f"). Peak RSS in MiB. Load average {load[0]:.1f} before, {load[1]:.1f} after, "
            f"{os.cpu_count()} CPUs.",
            "Input per size: "
            + "; ".join(
                f"{c['images']:,} images = {c['images_file_mb']} MiB, "
                f"{c['untagged_in_input']:,} untagged, {c['archived_in_input']:,} archived"
                for c in cases
                if c["rules"] == RULE_COUNTS[0]
            )
            + f". Evaluated at {datetime.fromtimestamp(NOW, UTC).isoformat()}.",
        ]
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="20,000 images only, one run each")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        run_worker(args.worker)
        return

    def progress(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    started = time.perf_counter()
    load_before = os.getloadavg()[0]
    cases = run_cases(args.quick, progress)
    load = (load_before, os.getloadavg()[0])
    verdicts = check_targets(cases)
    if args.json:
        document = {
            "python": sys.version.split()[0],
            "evaluated_at": NOW,
            "seed": SEED,
            "load_average": load,
            "cpus": os.cpu_count(),
            "cases": cases,
            "targets": verdicts,
        }
        print(json.dumps(document, indent=2))
    else:
        print(render_table(cases))
        print()
        print(render_stages(cases))
        print()
        print(render_targets(verdicts))
        print()
        print(render_notes(cases, load), flush=True)
    progress(f"benchmark finished in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
