"""Benchmark the event consumer as it runs in production: ``ecr-lifeguard run`` replicas reading
EventBridge ECR events from SQS, against moto (ECR), a local SQS queue, a real redis-server and
the local Slack.

Run by hand from the repository root::

    python benchmarks/bench_events.py            # 100,000 images; 200 latency pushes, 3,000 events
    python benchmarks/bench_events.py --quick    # the same registry, fewer events (about a minute)
    python benchmarks/bench_events.py --json     # the same figures as JSON

The set-up, in five processes beside this one:

* **moto** (server mode, its own process): ``shop/web`` with 10,000 images and 90 repositories
  ``load/rNN`` with 1,000 each (100,000 images; releases ``v…``, ``main-…`` builds and recent
  untagged images), each with a policy that keeps its releases and builds by count and expires
  untagged images after 14 days. Images go straight into moto's backend (pushing
  100,000 through ``PutImage`` would take far too long). moto answers ``DescribeImages`` with every
  image at once; the benchmark makes it page as ECR does (``maxResults``, default 100, at most
  1,000, and ``nextToken``) so that a full listing costs what it costs on AWS.
* **SQS**: ``tests.support.sqs_queue`` (its own process), a standard queue on the SQS JSON wire
  protocol whose every call costs the same whatever the queue holds. moto's SQS recomputes every
  queue attribute over every message on each ``ReceiveMessage`` (43 ms of moto's CPU per event
  with 800 queued, measured): with moto as the queue the benchmark would time moto.
* **redis-server** (``tests.support.redis_server``) and the **Slack stub** (in this process).
* **replicas**: ``ecr-lifeguard run --http``, configured only through the environment: one region,
  static references as the inventory (the oldest 400 releases of ``shop/web`` and the newest
  release of every ``load`` repository are in use), ``scan.push_margin`` 0, previews off (moto has
  no lifecycle preview). Each replica scans everything once at start (the cache is then warm).

What it measures, in one run:

1. **Event-to-alert latency** for a PUSH into the 10,000-image repository: this process pushes a
   new release with ``PutImage``, then sends the ECR "Image Action" PUSH event to the queue; the
   push makes the oldest kept release (in use) expirable, and the replica posts an alert. Latency
   is from just before ``SendMessage`` to the ``chat.postMessage`` naming that digest reaching
   the Slack stub; p50, p95 and p99 over sequential pushes.
2. The **naive baseline** in the same run: the same consumer with the repository's cache dropped
   (in Redis) before each event, so each PUSH lists the whole repository again, as a consumer
   without a cache must.
3. **AWS calls per PUSH**, from the replica's own ``lifeguard_aws_calls_total`` (``/metrics``),
   for both, split into ECR and SQS.
4. **Sustained events per second** on one replica and on two: the replicas are paused
   (``SIGSTOP``), N PUSH events for images across the 90 ``load`` repositories are queued, the
   replicas resume, and the time until they have handled all N (their ``lifeguard_events_total``)
   gives the rate. Every event is a real reaction (one ``DescribeImages``, the cache, evaluation
   of a 1,000-image repository, reconciliation); none of them posts.
5. **Resident memory** of each replica (``VmRSS`` and its peak ``VmHWM``), holding the 100,000
   cached images, after all of the above; and how long each takes to stop on ``SIGTERM``.

Everything shares this machine's cores (``os.cpu_count()`` is printed); moto, Redis, the stub and
the replicas compete for them, which is most visible with two replicas.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import logging
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
ACCOUNT = "123456789012"
REGION = "us-east-1"
DAY = 86_400.0
SEED = 20_261_201
BIG = "shop/web"
BIG_IMAGES = 10_000
LOAD_REPOSITORIES = 90
LOAD_IMAGES = 1_000
IN_USE_RELEASES = 400
CHANNEL = "C0ALERTS"
DOCKER_V2 = "application/vnd.docker.distribution.manifest.v2+json"
TARGETS = {"p99_ms": 250.0, "events_per_s": 200.0, "aws_calls_per_push": 2.0, "rss_mb": 300.0}
TEST_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_REGION": REGION,
    "AWS_DEFAULT_REGION": REGION,
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}


@dataclass(frozen=True)
class Scenario:
    latency_pushes: int
    naive_pushes: int
    events: int


FULL = Scenario(latency_pushes=200, naive_pushes=30, events=3_000)
QUICK = Scenario(latency_pushes=60, naive_pushes=10, events=800)


# --- the moto process -----------------------------------------------------------------------------


def policy(releases: int, builds: int) -> str:
    """Keep ``releases`` v… images and ``builds`` main-… images; untagged go after 14 days."""

    def count_rule(priority: int, prefix: str, keep: int) -> dict[str, Any]:
        return {
            "rulePriority": priority,
            "description": f"keep the last {keep} {prefix}*",
            "selection": {
                "tagStatus": "tagged",
                "tagPrefixList": [prefix],
                "countType": "imageCountMoreThan",
                "countNumber": keep,
            },
            "action": {"type": "expire"},
        }

    untagged = {
        "rulePriority": 3,
        "description": "untagged after 14 days",
        "selection": {
            "tagStatus": "untagged",
            "countType": "sinceImagePushed",
            "countUnit": "days",
            "countNumber": 14,
        },
        "action": {"type": "expire"},
    }
    return json.dumps({"rules": [count_rule(1, "v", releases), count_rule(2, "main-", builds),
                                 untagged]})  # fmt: skip


def seed_repository(backend: Any, name: str, size: int, now: float) -> dict[str, Any]:
    """Put ``size`` images into moto's backend: a fifth releases, three fifths builds, the rest
    untagged and recent. Returns the releases (oldest first) and every tagged image."""
    from moto.ecr.models import Image

    from tests.support.moto_state import image_manifest

    rng = random.Random(f"{SEED}:{name}")
    releases, builds = size // 5, size * 3 // 5
    kinds = ["release"] * releases + ["build"] * builds
    rng.shuffle(kinds)
    tagged_times = sorted(rng.uniform(now - 365 * DAY, now - DAY) for _ in kinds)
    untagged_times = [rng.uniform(now - 10 * DAY, now - 600) for _ in range(size - len(kinds))]
    manifest = image_manifest(name)
    repository = backend.repositories[name]
    seeded: dict[str, Any] = {"releases": [], "tagged": []}
    for number, (kind, pushed) in enumerate(
        [*zip(kinds, tagged_times, strict=True), *(("untagged", t) for t in untagged_times)]
    ):
        digest = "sha256:" + hashlib.sha256(f"{name}:{number}".encode()).hexdigest()
        tags = {"release": [f"v1.{number}"], "build": [f"main-{digest[7:15]}"]}.get(kind, [])
        image = Image(ACCOUNT, tags[0] if tags else None, manifest, name, DOCKER_V2, digest)
        image.image_tags = list(tags)
        image.image_pushed_at = int(pushed)
        repository.images.append(image)
        if kind == "release":
            seeded["releases"].append(digest)
        if tags:
            seeded["tagged"].append([digest, tags[0]])
    return seeded


def page_describe_images() -> None:
    """Make moto page ``DescribeImages`` as ECR does (``maxResults`` 1..1000, default 100)."""
    from moto.ecr import responses

    original = responses.ECRResponse.describe_images

    def describe_images(self: Any) -> Any:
        if self._get_param("imageIds"):
            return original(self)
        result = original(self)
        details = result.result["imageDetails"]
        start = int(self._get_param("nextToken") or 0)
        size = min(int(self._get_param("maxResults") or 100), 1000)
        page: dict[str, Any] = {"imageDetails": details[start : start + size]}
        if start + size < len(details):
            page["nextToken"] = str(start + size)
        return responses.ActionResult(page)

    responses.ECRResponse.describe_images = describe_images


def serve_moto(out: Path) -> None:
    """The moto process: seed, write what was seeded to ``out``, serve until stdin closes."""
    import boto3
    from moto.ecr.models import ecr_backends
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no access log
    page_describe_images()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    ecr = boto3.client("ecr", region_name=REGION, endpoint_url=url)
    backend = ecr_backends[ACCOUNT][REGION]
    now = time.time()
    repositories = {BIG: BIG_IMAGES} | {
        f"load/r{n:02d}": LOAD_IMAGES for n in range(LOAD_REPOSITORIES)
    }
    seeded = {}
    for name, size in repositories.items():
        ecr.create_repository(repositoryName=name)
        ecr.put_lifecycle_policy(
            repositoryName=name, lifecyclePolicyText=policy(size // 5, size * 3 // 5)
        )
        seeded[name] = seed_repository(backend, name, size, now)
    out.write_text(json.dumps({"url": url, "repositories": seeded}))
    print("ready", flush=True)
    sys.stdin.read()  # the parent closes it (or dies)
    server.stop()


@dataclass
class Queue:
    """The SQS queue (tests.support.sqs_queue) in its own process."""

    process: subprocess.Popen[str]
    url: str

    @property
    def endpoint(self) -> str:
        return self.url.rsplit("/", 2)[0]

    @classmethod
    def start(cls) -> Queue:
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.support.sqs_queue"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT,
        )  # fmt: skip
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        if not url.startswith("http"):
            raise RuntimeError("the queue process did not start")
        return cls(process, url)

    def stop(self) -> None:
        stop_child(self.process)


def stop_child(process: subprocess.Popen[str]) -> None:
    """Close its stdin (it then exits); kill it if it does not."""
    if process.stdin:
        process.stdin.close()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()


@dataclass
class Moto:
    process: subprocess.Popen[str]
    url: str
    repositories: dict[str, Any]

    @classmethod
    def start(cls, work: Path) -> Moto:
        out = work / "seeded.json"
        process = subprocess.Popen(
            [sys.executable, __file__, "--serve-moto", str(out)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT,
        )  # fmt: skip
        assert process.stdout is not None
        if process.stdout.readline().strip() != "ready":
            raise RuntimeError("the moto process did not start")
        seeded = json.loads(out.read_text())
        return cls(process, seeded["url"], seeded["repositories"])

    def stop(self) -> None:
        stop_child(self.process)


# --- the replicas -------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (``/proc/PID/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def static_references(moto: Moto, path: Path) -> Path:
    """The inventory: the oldest releases of shop/web, the newest release of each load repo."""
    references = [
        {"image": f"{BIG}@{digest}", "name": f"shop/web rollback {n}"}
        for n, digest in enumerate(moto.repositories[BIG]["releases"][:IN_USE_RELEASES])
    ]
    references += [
        {"image": f"{name}@{seeded['releases'][-1]}", "name": f"{name} (running)"}
        for name, seeded in moto.repositories.items()
        if name != BIG
    ]
    document = {"defaults": {"registry": ACCOUNT, "region": REGION}, "references": references}
    path.write_text(json.dumps(document))
    return path


def replica_environment(
    moto: Moto, queue: Queue, redis_url: str, slack_api: str, work: Path
) -> dict[str, str]:
    """Everything a replica is told, as the Helm chart would tell it: the environment."""
    from tests.support.slack_stub import BOT_TOKEN, SIGNING_SECRET

    env = {k: v for k, v in os.environ.items() if not k.startswith(("LIFEGUARD_", "AWS_"))}
    return env | TEST_ENV | {
        "AWS_ENDPOINT_URL": moto.url,
        "AWS_ENDPOINT_URL_SQS": queue.endpoint,
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack_api,
        "REDIS_URL": redis_url,
        "LIFEGUARD_AWS__REGIONS": json.dumps([REGION]),
        "LIFEGUARD_INVENTORY__ECS": "false",
        "LIFEGUARD_INVENTORY__LAMBDA": "false",
        "LIFEGUARD_INVENTORY__STATIC_REFERENCES": str(static_references(moto, work / "refs.json")),
        "LIFEGUARD_ROUTING__DEFAULT_CHANNEL": CHANNEL,
        "LIFEGUARD_EVENTS__QUEUE_URL": queue.url,
        "LIFEGUARD_SCAN__PUSH_MARGIN": "0",
        "LIFEGUARD_PREVIEW__ENABLED": "false",
        "LIFEGUARD_BOT__SCAN_INTERVAL": "1d",
    }  # fmt: skip


@dataclass
class Replica:
    name: str
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @classmethod
    def start(cls, name: str, env: dict[str, str], work: Path) -> Replica:
        port = free_port()
        log = work / f"{name}.log"
        journal = work / f"{name}-journal.jsonl"
        command = [str(Path(sys.executable).parent / "ecr-lifeguard"), "run", "--http",
                   "--port", str(port)]  # fmt: skip
        with log.open("wb") as sink:
            process = subprocess.Popen(
                command,
                env=env | {"LIFEGUARD_BOT__JOURNAL_PATH": str(journal)},
                stdout=sink, stderr=subprocess.STDOUT, cwd=ROOT,
            )  # fmt: skip
        return cls(name, process, port, log)

    def _check_alive(self) -> None:
        if self.process.poll() is not None:
            tail = self.log.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"replica {self.name} exited ({self.process.returncode}):\n{tail}")

    async def until_logged(self, text: str, within: float = 600.0) -> float:
        """Wait until the replica's log says ``text``; the seconds it took."""
        started = time.perf_counter()
        while text not in self.log.read_text(errors="replace"):
            self._check_alive()
            if time.perf_counter() - started > within:
                raise RuntimeError(f"replica {self.name} never logged {text!r}")
            await asyncio.sleep(0.2)
        return time.perf_counter() - started

    async def metrics(self, session: Any) -> dict[str, Counter[str]]:
        """The replica's counters: {metric: {label value: total}}."""
        from prometheus_client.parser import text_string_to_metric_families

        async with session.get(f"http://127.0.0.1:{self.port}/metrics") as response:
            text = await response.text()
        found: dict[str, Counter[str]] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if not sample.name.endswith("_total"):
                    continue
                label = ",".join(f"{v}" for v in sample.labels.values())
                found.setdefault(sample.name, Counter())[label] += sample.value
        return found

    def memory_mb(self) -> dict[str, float]:
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        return {
            key: int(fields[key].split()[0]) / 1024 for key in ("VmRSS", "VmHWM") if key in fields
        }

    def pause(self) -> None:
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.process.send_signal(signal.SIGCONT)

    def stop(self) -> float:
        """SIGTERM; the seconds until the process exited."""
        started = time.perf_counter()
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        return time.perf_counter() - started


# --- the load ---------------------------------------------------------------------------------


def push_event(repository: str, digest: str, tag: str) -> dict[str, Any]:
    """An ECR Image Action PUSH event, as EventBridge delivers it to SQS."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "ECR Image Action",
        "source": "aws.ecr",
        "account": ACCOUNT,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": REGION,
        "resources": [],
        "detail": {
            "result": "SUCCESS",
            "repository-name": repository,
            "image-digest": digest,
            "action-type": "PUSH",
            "image-tag": tag,
        },
    }


@dataclass
class World:
    moto: Moto
    queue: Queue
    slack: Any
    ecr: Any
    sqs: Any
    redis_url: str
    pushed: int = 0
    pushed_out: list[str] = field(default_factory=list)

    async def push_release(self) -> tuple[str, str]:
        """Push a new release to shop/web; return (its digest, the in-use digest it pushes out)."""
        from tests.support.moto_state import image_manifest

        tag = f"v9.{self.pushed}"
        manifest = image_manifest(f"bench-release-{SEED}-{self.pushed}")
        answer = await asyncio.to_thread(
            self.ecr.put_image, repositoryName=BIG, imageManifest=manifest, imageTag=tag
        )
        out = self.moto.repositories[BIG]["releases"][self.pushed]
        self.pushed += 1
        return answer["image"]["imageId"]["imageDigest"], out

    async def alert_latency(self, digest: str, tag: str, out: str) -> float:
        """Send the PUSH event; seconds until the alert for ``out`` reaches Slack."""
        event = json.dumps(push_event(BIG, digest, tag))
        sent = time.time()
        await asyncio.to_thread(self.sqs.send_message, QueueUrl=self.queue.url, MessageBody=event)
        call = await self.slack.wait_for(
            "chat.postMessage", lambda c: out in json.dumps(c.args.get("blocks")), timeout=60
        )
        return float(call.time - sent)

    async def drop_cache(self) -> None:
        """Forget shop/web in the cache, so that the next event lists it in full."""
        import redis.asyncio as aioredis

        client = aioredis.from_url(self.redis_url)
        try:
            keys = [key async for key in client.scan_iter(match=f"*{ACCOUNT}/{REGION}/{BIG}")]
            if keys:
                await client.delete(*keys)
        finally:
            await client.aclose()

    async def queue_load(self, count: int, rng: random.Random) -> None:
        """``count`` PUSH events for tagged images across the load repositories."""
        names = [name for name in self.moto.repositories if name != BIG]
        bodies = []
        for _ in range(count):
            name = rng.choice(names)
            digest, tag = rng.choice(self.moto.repositories[name]["tagged"])
            bodies.append(json.dumps(push_event(name, digest, tag)))
        for start in range(0, count, 10):
            entries = [{"Id": str(n), "MessageBody": body}
                       for n, body in enumerate(bodies[start : start + 10])]  # fmt: skip
            await asyncio.to_thread(
                self.sqs.send_message_batch, QueueUrl=self.queue.url, Entries=entries
            )


def progress(figures: dict[str, Any], what: str, value: Any) -> Any:
    """Keep a phase's figure, and say it on stderr at once (the report comes at the end)."""
    figures[what] = value
    print(f"  {what}: {json.dumps(value, default=str)}", file=sys.stderr, flush=True)
    return value


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def calls_between(before: dict[str, Counter[str]], after: dict[str, Counter[str]]) -> Counter[str]:
    name = "lifeguard_aws_calls_total"
    return after.get(name, Counter()) - before.get(name, Counter())


def handled(metrics: dict[str, Counter[str]]) -> Counter[str]:
    return metrics.get("lifeguard_events_total", Counter())


async def latency_phase(
    world: World, replica: Replica, session: Any, pushes: int, *, naive: bool
) -> dict[str, Any]:
    """Sequential pushes into shop/web, each alerting; latency and AWS calls per push."""
    latencies: list[float] = []
    before = await replica.metrics(session)
    for _ in range(pushes):
        if naive:
            await world.drop_cache()
        digest, out = await world.push_release()
        latencies.append(await world.alert_latency(digest, f"v9.{world.pushed - 1}", out))
    after = await replica.metrics(session)
    calls = calls_between(before, after)
    per_push = {op: n / pushes for op, n in sorted(calls.items())}
    ecr = sum(n for op, n in per_push.items() if op.lower().startswith("ecr"))
    return {
        "pushes": pushes,
        "p50_ms": 1000 * statistics.median(latencies),
        "p95_ms": 1000 * percentile(latencies, 0.95),
        "p99_ms": 1000 * percentile(latencies, 0.99),
        "max_ms": 1000 * max(latencies),
        "calls_per_push": per_push,
        "ecr_calls_per_push": ecr,
        "outcomes": dict(handled(after) - handled(before)),
    }


async def throughput_phase(
    world: World, replicas: list[Replica], session: Any, count: int, rng: random.Random
) -> dict[str, Any]:
    """Pause the replicas, queue ``count`` events, resume them, time until all are handled."""
    before = [handled(await r.metrics(session)) for r in replicas]
    pids = {r.name: r.process.pid for r in replicas} | {
        "moto (ECR)": world.moto.process.pid,
        "queue": world.queue.process.pid,
    }
    for replica in replicas:
        replica.pause()
    try:
        await world.queue_load(count, rng)
    finally:
        for replica in replicas:
            replica.resume()
    started = time.perf_counter()
    cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    while True:
        now = [handled(await r.metrics(session)) for r in replicas]
        done = [sum((n - b).values()) for n, b in zip(now, before, strict=True)]
        if sum(done) >= count:
            break
        if time.perf_counter() - started > 600:
            raise RuntimeError(f"only {sum(done)} of {count} events handled in 10 minutes")
        await asyncio.sleep(0.05)
    seconds = time.perf_counter() - started
    cpu = {name: cpu_seconds(pid) - cpu_before[name] for name, pid in pids.items()}
    outcomes: Counter[str] = Counter()
    for n, b in zip(now, before, strict=True):
        outcomes += n - b
    return {
        "replicas": len(replicas),
        "events": count,
        "seconds": seconds,
        "events_per_s": count / seconds,
        "per_replica": done,
        "cpu_ms_per_event": {name: 1000 * used / count for name, used in cpu.items()},
        "outcomes": dict(outcomes),
    }


async def run(scenario: Scenario, concurrency: int | None = None) -> dict[str, Any]:
    import aiohttp
    import boto3

    from tests.support.redis_server import start_redis_server
    from tests.support.slack_stub import SlackStub

    figures: dict[str, Any] = {
        "cpus": os.cpu_count(),
        "scenario": scenario.__dict__,
        "concurrency": concurrency,
    }
    with tempfile.TemporaryDirectory(prefix="bench-events-") as tmp:
        work = Path(tmp)
        started = time.perf_counter()
        redis = start_redis_server()
        moto = Moto.start(work)
        queue = Queue.start()
        figures["seeding_s"] = time.perf_counter() - started
        replicas: list[Replica] = []
        try:
            async with SlackStub() as slack, aiohttp.ClientSession() as session:
                slack.add_channel(CHANNEL, "alerts")
                env = replica_environment(moto, queue, redis.url, slack.api_url, work)
                if concurrency is not None:
                    env["LIFEGUARD_EVENTS__CONCURRENCY"] = str(concurrency)
                ecr = boto3.client("ecr", region_name=REGION, endpoint_url=moto.url)
                sqs = boto3.client("sqs", region_name=REGION, endpoint_url=queue.endpoint)
                world = World(moto, queue, slack, ecr, sqs, redis.url)
                first = Replica.start("replica-1", env, work)
                replicas.append(first)
                progress(figures, "first_scan_s", await first.until_logged("cycle:"))
                figures["rss_after_scan_mb"] = first.memory_mb()
                cached = latency_phase(world, first, session, scenario.latency_pushes, naive=False)
                progress(figures, "latency", await cached)
                naive = latency_phase(world, first, session, scenario.naive_pushes, naive=True)
                progress(figures, "naive", await naive)
                rng = random.Random(SEED)
                one = throughput_phase(world, [first], session, scenario.events, rng)
                progress(figures, "one_replica", await one)
                second = Replica.start("replica-2", env, work)
                replicas.append(second)
                progress(figures, "second_scan_s", await second.until_logged("cycle:"))
                two = throughput_phase(world, replicas, session, scenario.events, rng)
                progress(figures, "two_replicas", await two)
                figures["memory_mb"] = {r.name: r.memory_mb() for r in replicas}
                posts = len(slack.calls_to("chat.postMessage"))
                figures["alerts_posted"] = posts
                figures["stop_s"] = {r.name: r.stop() for r in replicas}
        finally:
            for replica in replicas:
                if replica.process.poll() is None:
                    replica.process.kill()
            moto.stop()
            queue.stop()
            redis.stop()
    return figures


# --- the report ---------------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "meets the target" if ok else "MISSES the target"


def render(f: dict[str, Any]) -> str:
    lat, naive = f["latency"], f["naive"]
    one, two = f["one_replica"], f["two_replicas"]
    rss = max(m.get("VmRSS", 0.0) for m in f["memory_mb"].values())
    peak = max(m.get("VmHWM", 0.0) for m in f["memory_mb"].values())
    lines = [
        f"ecr-lifeguard run, {LOAD_REPOSITORIES + 1} repositories, "
        f"{BIG_IMAGES + LOAD_REPOSITORIES * LOAD_IMAGES:,} images, {f['cpus']} CPUs, "
        f"events in flight per replica: {f['concurrency'] or 'default'}",
        f"  first full scan at start: {f['first_scan_s']:.1f} s "
        f"(second replica: {f['second_scan_s']:.1f} s)",
        "",
        f"event-to-alert, PUSH into {BIG} ({BIG_IMAGES:,} images), {lat['pushes']} pushes:",
        f"  cached:     p50 {lat['p50_ms']:6.1f} ms  p95 {lat['p95_ms']:6.1f} ms  "
        f"p99 {lat['p99_ms']:6.1f} ms  (target p99 <= {TARGETS['p99_ms']:.0f} ms: "
        f"{verdict(lat['p99_ms'] <= TARGETS['p99_ms'])})",
        f"  naive re-list ({naive['pushes']} pushes): p50 {naive['p50_ms']:6.1f} ms  "
        f"p99 {naive['p99_ms']:6.1f} ms  ({naive['p50_ms'] / lat['p50_ms']:.1f}x slower at p50)",
        "",
        "AWS calls per PUSH (the replica's lifeguard_aws_calls_total):",
        f"  cached: {fmt_calls(lat['calls_per_push'])}",
        f"  naive:  {fmt_calls(naive['calls_per_push'])}",
        f"  ECR calls per PUSH: {lat['ecr_calls_per_push']:.2f} cached, "
        f"{naive['ecr_calls_per_push']:.2f} naive (target <= {TARGETS['aws_calls_per_push']:.0f}: "
        f"{verdict(lat['ecr_calls_per_push'] <= TARGETS['aws_calls_per_push'])})",
        "",
        f"sustained events/s ({one['events']:,} PUSH events into 1,000-image repositories):",
        f"  one replica:  {one['events_per_s']:6.0f}/s  ({one['seconds']:.1f} s; "
        f"{fmt_outcomes(one['outcomes'])})  target >= {TARGETS['events_per_s']:.0f}/s: "
        f"{verdict(one['events_per_s'] >= TARGETS['events_per_s'])}",
        f"  two replicas: {two['events_per_s']:6.0f}/s  ({two['seconds']:.1f} s; "
        f"split {two['per_replica']}; {fmt_outcomes(two['outcomes'])})",
        "  CPU per event (one replica): "
        + ", ".join(f"{name} {ms:.1f} ms" for name, ms in one["cpu_ms_per_event"].items()),
        "",
        f"resident memory with {BIG_IMAGES + LOAD_REPOSITORIES * LOAD_IMAGES:,} cached images: "
        f"{rss:.0f} MB now, peak {peak:.0f} MB (target <= {TARGETS['rss_mb']:.0f} MB: "
        f"{verdict(peak <= TARGETS['rss_mb'])})",
        "  "
        + "; ".join(
            f"{name} {m.get('VmRSS', 0):.0f} MB (peak {m.get('VmHWM', 0):.0f})"
            for name, m in f["memory_mb"].items()
        ),
        "  after the first scan: " + f"{f['rss_after_scan_mb'].get('VmRSS', 0):.0f} MB",
        "stopped on SIGTERM in: "
        + ", ".join(f"{name} {s:.1f} s" for name, s in f["stop_s"].items()),
    ]
    return "\n".join(lines)


def fmt_calls(calls: dict[str, float]) -> str:
    return ", ".join(f"{op} {n:.2f}" for op, n in calls.items()) or "none"


def fmt_outcomes(outcomes: dict[str, float]) -> str:
    return ", ".join(f"{int(n)} {label.split(',')[-1]}" for label, n in outcomes.items())


def prepare_environment() -> None:
    os.environ.update(TEST_ENV)
    for key in ("AWS_PROFILE", "AWS_ENDPOINT_URL_ECR", "LIFEGUARD_CONFIG", "KUBECONFIG"):
        os.environ.pop(key, None)
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer events, same registry")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument(
        "--concurrency", type=int, help="events in flight per replica (default: the product's)"
    )
    parser.add_argument("--serve-moto", metavar="OUT", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    prepare_environment()
    if args.serve_moto:
        serve_moto(Path(args.serve_moto))
        return 0
    started = time.perf_counter()
    figures = asyncio.run(run(QUICK if args.quick else FULL, args.concurrency))
    figures["benchmark_s"] = time.perf_counter() - started
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        print(render(figures))
        print(f"\nbenchmark took {figures['benchmark_s']:.0f} s (seeding included)")
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
