"""Benchmark ``ecr-lifeguard scan`` end to end: inventory and scan against moto, over HTTP.

Run by hand from the repository root::

    python benchmarks/bench_scan.py            # 200 repositories x 2,000 images (400,000)
    python benchmarks/bench_scan.py --quick    # 20 repositories x 500 images (10,000)
    python benchmarks/bench_scan.py --json     # the same figures as JSON
    python benchmarks/bench_scan.py --profile  # also a cProfile of the main thread (slower!)

Scenario (deterministic, fixed seed; the evaluation instant is fixed too):

* ECR: repositories created and given a lifecycle policy through the API. Four policy shapes
  rotate: keep the last N release tags (``v…``) + expire untagged after 7 or 14 days + expire
  anything older than 90, 180 or 365 days; plus a rule keeping the last 200 ``main-…`` images, or
  expiring ``pr-*`` previews after 30 days, or a total count cap. Images (10 % releases, 40 %
  ``main-<sha>``, 20 % ``pr-<n>-<sha>``, 30 % untagged; some releases also carry a ``main-`` tag,
  the newest one ``latest``; 80 % Docker v2 / 20 % OCI manifests, no image indexes) have push
  times spread over the year before the instant, most a last pull time, and an explicit digest.
  Pushing them through ``PutImage`` would take far too long, so they are put into moto's backend
  directly (``ecr_backends[account][region].repositories[name].images``, ``moto.ecr.models.Image``
  objects); all images of a repository share one small manifest, which only ``imageSizeInBytes``
  reads.
* ECS: 50 services in 5 clusters, created through the API: 3 task-definition revisions each
  (rollback targets), 2 running tasks each (``group=service:<name>``) whose containers carry
  injected digests, and service revisions/deployments served by ``EcsRevisionsFake`` (which
  forwards every other ECS call to moto). Every fifth service runs a digest whose tag has moved
  on; some services have a deployment in progress.
* Kubernetes: 100 Deployments in a ``FakeKubeApi``, 5 pods each (500 pods; ``imageID`` pointing
  at digests in those repositories, some pods still on the previous ReplicaSet's digest), each
  Deployment with its current and 3 older ReplicaSets.

Then the real path, in this process and exactly as ``ecr-lifeguard scan`` wires it: ``Settings``
with ``AwsSettings(regions=["us-east-1"])`` and one kubeconfig context, ``AwsClients``,
``inventory_sources``, ``collect_inventory``, ``registries`` and ``scan``, over HTTP to moto's
``ThreadedMotoServer`` (``AWS_ENDPOINT_URL``) and to the ECS fake (``AWS_ENDPOINT_URL_ECS``).
Lambda is inventoried too (the CLI's default; there are no functions).

What it measures:

* wall time (``time.perf_counter``) of the whole scan (from entering ``AwsClients`` until it is
  closed), of inventory collection and of the scan itself. Seeding is timed but not part of it;
* AWS calls: ``AwsClients.calls`` (every call the bot made, by operation). ECR calls per
  repository come from a ``before-parameter-build.ecr`` hook on the bot's ECR client (counted by
  ``repositoryName``; it also records the ``maxResults`` the paginator sends). They are compared
  with the target ``ceil(images / 1000) + 1`` (DescribeImages pages + GetLifecyclePolicy).
  moto ignores ``maxResults`` and returns a whole repository in one DescribeImages page, so the
  measured count is one page per repository; the projection for real AWS (1,000 images per page)
  is ``max(1, ceil(images / 1000))`` DescribeImages calls per repository and is shown next to it;
* time inside the emulator, and so the share outside it. The moto server runs in this process,
  in werkzeug threads (werkzeug's dev server answers ``Connection: close``, so every call is a new
  connection and a new thread), while the bot runs in the main thread's event loop; the GIL lets
  only one of them execute Python at a time. The benchmark starts moto's own server
  (``DomainDispatcherApplication(create_backend_app)`` + ``MotoRequestHandler``, as
  ``ThreadedMotoServer`` does) with a handler subclass that times each request: the CPU time of
  the handling thread (``time.thread_time``, which leaves out time spent waiting for the GIL, the
  socket or a CPU) over ``handle_one_request`` (reading the request, routing, moto's backend and
  serialisation, writing the response), summed per operation under a lock; and the wall time
  over ``run_wsgi``, merged into "at least one moto request in flight". The fakes run in the main
  loop; their handlers are timed the same way (the Kubernetes list handler never suspends; the
  ECS fake's own operations are timed, the calls it forwards are counted under moto).
  Emulator time = moto handler CPU + fake handler CPU, and two shares are reported:

  - **wall basis: outside the emulator = wall - emulator time**: the bot, botocore/aiobotocore,
    aiohttp, kubernetes_asyncio and the event loop, the ECS proxy hop (a few hundred small
    requests), and any time the process is not on a CPU at all. On a shared machine that last
    part is mostly other processes taking the CPUs, so the benchmark also reports wall - process
    CPU and the CPU other processes used meanwhile (``/proc/stat``);
  - **CPU basis: (process CPU - emulator time) / process CPU**, which other load on the machine
    does not distort. The main thread's CPU time is shown as a cross-check, and so is the wall
    time with at least one moto request in flight (an upper bound of moto's share: a request in
    flight may be waiting for the GIL while the bot runs).

  ``--profile`` adds a cProfile of the main thread (moto's threads are not profiled; cProfile
  measures wall time, GIL waits included), which slows the run down;
* memory: peak RSS of the process (``ru_maxrss``), RSS after seeding (moto holding every image),
  and the peak during the scan alone (``VmHWM`` after resetting it through
  ``/proc/self/clear_refs``), all in MiB.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import hashlib
import io
import json
import math
import os
import pstats
import random
import resource
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

SEED = 20_260_601
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC).timestamp()
DAY = 86_400.0
HISTORY_DAYS = 365
ACCOUNT = "123456789012"
REGION = "us-east-1"
HOST = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"
PAGE = 1000  # DescribeImages page size on real AWS
CONTEXT = "bench-eks"
DOCKER_V2 = "application/vnd.docker.distribution.manifest.v2+json"
OCI = "application/vnd.oci.image.manifest.v1+json"
ENVOY = "docker.io/envoyproxy/envoy:v1.29.2"
ENVOY_DIGEST = "sha256:" + hashlib.sha256(b"envoy").hexdigest()
TEAMS = ("payments", "checkout", "search", "identity", "platform", "data", "mobile", "billing")
CLUSTERS = ("prod", "prod-batch", "staging", "internal", "edge")
FARGATE: dict[str, Any] = {
    "launchType": "FARGATE",
    "networkConfiguration": {"awsvpcConfiguration": {"subnets": ["subnet-1"]}},
}
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
    name: str
    repositories: int
    images: int  # per repository
    services: int = 50
    deployments: int = 100
    pods_per_deployment: int = 5

    @property
    def pods(self) -> int:
        return self.deployments * self.pods_per_deployment


FULL = Scenario("full", repositories=200, images=2000)
QUICK = Scenario("quick", repositories=20, images=500)


# --------------------------------------------------------------------------------------------
# Timing the emulator
# --------------------------------------------------------------------------------------------


@dataclass
class Meter:
    """Time spent handling requests, from any thread: CPU per operation, and busy wall time."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    active: int = 0
    busy_since: float = 0.0
    busy: float = 0.0
    cpu: Counter[str] = field(default_factory=Counter)
    wall: Counter[str] = field(default_factory=Counter)
    requests: Counter[str] = field(default_factory=Counter)

    def start(self) -> tuple[float, float]:
        now = time.perf_counter()
        with self.lock:
            if self.active == 0:
                self.busy_since = now
            self.active += 1
        return now, time.thread_time()

    def stop(self, operation: str, started: tuple[float, float], *, cpu: bool = True) -> None:
        """The end of a request; ``cpu=False`` when :meth:`add_cpu` reports its CPU time."""
        spent = time.thread_time() - started[1]
        now = time.perf_counter()
        with self.lock:
            self.active -= 1
            if self.active == 0:
                self.busy += now - self.busy_since
            if cpu:
                self.cpu[operation] += spent
            self.wall[operation] += now - started[0]
            self.requests[operation] += 1

    def add_cpu(self, operation: str, spent: float) -> None:
        with self.lock:
            self.cpu[operation] += spent

    def count(self, operation: str) -> None:
        with self.lock:
            self.requests[operation] += 1

    def snapshot(self) -> Snapshot:
        now = time.perf_counter()
        with self.lock:
            busy = self.busy + (now - self.busy_since if self.active else 0.0)
            return Snapshot(busy, Counter(self.cpu), Counter(self.wall), Counter(self.requests))


@dataclass(frozen=True)
class Snapshot:
    busy: float
    cpu: Counter[str]
    wall: Counter[str]
    requests: Counter[str]

    def since(self, earlier: Snapshot) -> Snapshot:
        return Snapshot(
            self.busy - earlier.busy,
            self.cpu - earlier.cpu,
            self.wall - earlier.wall,
            self.requests - earlier.requests,
        )

    @property
    def total_cpu(self) -> float:
        return sum(self.cpu.values())


def operation_name(target: str | None, method: str, path: str) -> str:
    """``ecr.DescribeImages`` from an ``X-Amz-Target`` header; REST calls by method and path."""
    prefixes = {
        "AmazonEC2ContainerRegistry_V20150921.": "ecr.",
        "AmazonEC2ContainerServiceV20141113.": "ecs.",
    }
    for prefix, service in prefixes.items():
        if target and target.startswith(prefix):
            return service + target.removeprefix(prefix)
    if target:
        return target
    head = "/".join(path.split("/")[:3])
    return f"{method} {head}"


def start_moto(meter: Meter) -> tuple[Any, str]:
    """moto's server in a thread of this process, with every request timed by ``meter``."""
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from moto.server import ThreadedMotoServer
    from werkzeug.serving import make_server

    class TimedHandler(MotoRequestHandler):  # type: ignore[misc]
        operation: str | None = None

        def handle_one_request(self) -> None:
            """CPU of the whole request, reading and parsing its head included."""
            self.operation = None
            cpu = time.thread_time()
            try:
                super().handle_one_request()
            finally:
                if self.operation is not None:
                    meter.add_cpu(self.operation, time.thread_time() - cpu)

        def run_wsgi(self) -> None:
            """Wall time from parsed head to response written."""
            started = meter.start()
            try:
                super().run_wsgi()
            finally:
                op = operation_name(self.headers.get("X-Amz-Target"), self.command, self.path)
                self.operation = op
                meter.stop(op, started, cpu=False)

        def log_request(self, *args: Any, **kwargs: Any) -> None:
            pass  # no access log on stderr

    class TimedServer(ThreadedMotoServer):  # type: ignore[misc]
        def _server_entry(self) -> None:  # as ThreadedMotoServer, with the timed handler
            app = DomainDispatcherApplication(create_backend_app)
            self._server = make_server(
                self._ip_address, self._port, app, True, request_handler=TimedHandler
            )
            self._server_ready_event.set()
            self._server.serve_forever()

    server = TimedServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    return server, f"http://{host}:{port}"


def time_kube_api(api: Any, meter: Meter) -> None:
    """Time FakeKubeApi's list handler (it never suspends: its wall time is its CPU time)."""
    original = api._list

    async def timed(resource_name: str, request: Any) -> Any:
        started = meter.start()
        try:
            return await original(resource_name, request)
        finally:
            meter.stop(f"kube.list {resource_name}", started)

    api._list = timed


def time_ecs_fake(fake: Any, meter: Meter) -> None:
    """Time the operations EcsRevisionsFake answers itself; count those it forwards to moto."""
    original = fake._handle
    own = {"ListServiceDeployments", "DescribeServiceRevisions"}

    async def timed(request: Any) -> Any:
        op = operation_name(request.headers.get("X-Amz-Target"), request.method, request.path)
        if op.removeprefix("ecs.") not in own:
            meter.count("ecs fake: calls forwarded to moto")
            return await original(request)
        started = meter.start()
        try:
            return await original(request)
        finally:
            meter.stop(f"fake {op}", started)

    fake._handle = timed


# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------


@dataclass
class Seeded:
    """What later steps need to know of one repository (a small sample of its images)."""

    name: str
    images: int
    releases: list[tuple[str, str]] = field(default_factory=list)  # (tag, digest), oldest first
    mains: list[tuple[str, str]] = field(default_factory=list)
    moved: list[str] = field(default_factory=list)  # untagged digests 20-60 days old


def repository_name(index: int) -> str:
    return f"{TEAMS[index % len(TEAMS)]}/service-{index:03d}"


def lifecycle_policy(index: int, rng: random.Random) -> dict[str, Any]:
    """One of four realistic policy shapes, with varied numbers."""
    keep = rng.choice([10, 20, 30, 50])
    untagged_days = rng.choice([7, 14])
    max_age = rng.choice([90, 180, 365])

    def rule(description: str, selection: dict[str, Any]) -> dict[str, Any]:
        return {"description": description, "selection": selection, "action": {"type": "expire"}}

    releases = rule(
        f"keep the last {keep} releases",
        {
            "tagStatus": "tagged",
            "tagPrefixList": ["v"],
            "countType": "imageCountMoreThan",
            "countNumber": keep,
        },
    )
    untagged = rule(
        f"expire untagged after {untagged_days} days",
        {
            "tagStatus": "untagged",
            "countType": "sinceImagePushed",
            "countUnit": "days",
            "countNumber": untagged_days,
        },
    )
    old = rule(
        f"expire anything older than {max_age} days",
        {
            "tagStatus": "any",
            "countType": "sinceImagePushed",
            "countUnit": "days",
            "countNumber": max_age,
        },
    )
    extra = [
        rule(
            "keep the last 200 main builds",
            {
                "tagStatus": "tagged",
                "tagPrefixList": ["main-"],
                "countType": "imageCountMoreThan",
                "countNumber": 200,
            },
        ),
        rule(
            "expire previews after 30 days",
            {
                "tagStatus": "tagged",
                "tagPatternList": ["pr-*"],
                "countType": "sinceImagePushed",
                "countUnit": "days",
                "countNumber": 30,
            },
        ),
    ]
    shape = index % 4
    if shape == 0:
        rules = [releases, untagged, old]
    elif shape in (1, 2):
        rules = [releases, extra[shape - 1], untagged, old]
    else:
        cap = rule(
            "keep at most 1000 images",
            {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 1000},
        )
        rules = [extra[1], releases, untagged, cap]
    return {"rules": [{"rulePriority": i + 1, **r} for i, r in enumerate(rules)]}


def image_tags(
    rng: random.Random, counters: Counter[str], sha: str, newest: bool
) -> tuple[str, list[str]]:
    """(kind, tags) of the next image pushed."""
    roll = rng.random()
    if roll < 0.10 or newest:
        counters["release"] += 1
        n = counters["release"]
        tags = [f"v{1 + n // 100}.{n // 10 % 10}.{n % 10}"]
        if rng.random() < 0.5:
            tags.append(f"main-{sha[:7]}")
        if newest:
            tags.append("latest")
        return "release", tags
    if roll < 0.50:
        return "main", [f"main-{sha[:7]}"]
    if roll < 0.70:
        counters["pr"] += 1
        return "pr", [f"pr-{1000 + counters['pr'] // 3}-{sha[:7]}"]
    return "untagged", []


def seed_repository(backend: Any, index: int, images: int) -> Seeded:
    """Put ``images`` images straight into moto's backend for one repository."""
    from moto.ecr.models import Image

    from tests.support.moto_state import image_manifest

    name = repository_name(index)
    rng = random.Random(f"{SEED}:images:{index}")
    manifest = image_manifest(name)
    start = NOW - HISTORY_DAYS * DAY
    pushes = sorted(rng.uniform(start, NOW - 600) for _ in range(images))
    repository = backend.repositories[name]
    seeded = Seeded(name, images)
    counters: Counter[str] = Counter()
    for number, pushed in enumerate(pushes):
        digest = "sha256:" + hashlib.sha256(f"{name}:{number}".encode()).hexdigest()
        kind, tags = image_tags(rng, counters, digest[7:], newest=number == images - 1)
        media_type = DOCKER_V2 if rng.random() < 0.8 else OCI
        image = Image(ACCOUNT, tags[0] if tags else None, manifest, name, media_type, digest)
        image.image_tags = list(tags)
        image.image_pushed_at = int(pushed)
        if rng.random() < 0.7:
            pulled = rng.uniform(pushed, NOW)
            image.last_recorded_pull_time = datetime.fromtimestamp(int(pulled), UTC)
        repository.images.append(image)
        if kind == "release":
            seeded.releases.append((tags[0], digest))
        elif kind == "main":
            seeded.mains.append((tags[0], digest))
        elif kind == "untagged" and 20 * DAY < NOW - pushed < 60 * DAY:
            seeded.moved.append(digest)
    seeded.releases = seeded.releases[-10:]
    seeded.mains = seeded.mains[-400:]  # the newest 400 (the policies keep 200)
    seeded.moved = seeded.moved[:5]
    return seeded


def seed_ecr(endpoint: str, scenario: Scenario) -> list[Seeded]:
    """Repositories and policies through the API, images straight into the backend."""
    import boto3
    from moto.ecr.models import ecr_backends

    from bot.lifecycle.parse import parse_policy

    ecr = boto3.client("ecr", region_name=REGION, endpoint_url=endpoint)
    backend = ecr_backends[ACCOUNT][REGION]
    seeded = []
    for index in range(scenario.repositories):
        name = repository_name(index)
        ecr.create_repository(repositoryName=name)
        text = json.dumps(lifecycle_policy(index, random.Random(f"{SEED}:policy:{index}")))
        parse_policy(text)  # the benchmark's own policies must be valid
        ecr.put_lifecycle_policy(repositoryName=name, lifecyclePolicyText=text)
        seeded.append(seed_repository(backend, index, scenario.images))
    return seeded


def seed_ecs(endpoint: str, fake: Any, repositories: list[Seeded], scenario: Scenario) -> int:
    """Clusters, task definitions, services, running tasks and service revisions. Returns tasks."""
    import boto3

    from tests.support.moto_state import set_task_digests

    ecs = boto3.client("ecs", region_name=REGION, endpoint_url=endpoint)
    for cluster in CLUSTERS:
        ecs.create_cluster(clusterName=cluster)
    rng = random.Random(f"{SEED}:ecs")
    tasks = 0
    for number in range(scenario.services):
        cluster = CLUSTERS[number % len(CLUSTERS)]
        repo = repositories[(number * 7) % len(repositories)]
        name = f"svc-{number:02d}"
        images = [(f"{HOST}/{repo.name}:{tag}", digest) for tag, digest in repo.releases[-3:]]
        definitions = [
            ecs.register_task_definition(
                family=f"{cluster}-{name}",
                containerDefinitions=[
                    {"name": "app", "image": image, "memory": 256},
                    {"name": "envoy", "image": ENVOY, "memory": 128},
                ],
            )["taskDefinition"]["taskDefinitionArn"]
            for image, _ in images
        ]
        service = ecs.create_service(
            cluster=cluster, serviceName=name, taskDefinition=definitions[-1], desiredCount=2
        )["service"]["serviceArn"]
        running = images[-1][1]
        if number % 5 == 0 and repo.moved:  # the tag moved on; the tasks still run the old digest
            running = rng.choice(repo.moved)
        started = ecs.run_task(
            cluster=cluster,
            taskDefinition=definitions[-1],
            count=2,
            group=f"service:{name}",
            **FARGATE,
        )["tasks"]
        for task in started:
            set_task_digests(cluster, task["taskArn"], [running, ENVOY_DIGEST], ACCOUNT, REGION)
        tasks += len(started)
        history = [(images[-2], definitions[-2], 10 * DAY), (images[-1], definitions[-1], DAY)]
        for (image, pinned), definition, age in history:
            digest = running if definition == definitions[-1] else pinned
            containers = [("app", image, digest), ("envoy", ENVOY, ENVOY_DIGEST)]
            revision = fake.add_revision(service, definition, containers)
            fake.add_deployment(service, revision, "SUCCESSFUL", age=age)
        if number % 10 == 3:  # a deployment in progress to a newer main build
            tag, digest = repo.mains[-1]
            containers = [("app", f"{HOST}/{repo.name}:{tag}", digest), ("envoy", ENVOY, None)]
            revision = fake.add_revision(service, definitions[-1], containers)
            fake.add_deployment(service, revision, "IN_PROGRESS", age=60.0)
    return tasks


def seed_kubernetes(api: Any, repositories: list[Seeded], scenario: Scenario) -> None:
    """Deployments with their ReplicaSets and pods, on main builds of the repositories."""
    from tests.support.kube_api import container, deployment, pod, replica_set

    rng = random.Random(f"{SEED}:kube")
    for number in range(scenario.deployments):
        repo = repositories[(number * 13 + 5) % len(repositories)]
        namespace = TEAMS[number % len(TEAMS)]
        name = f"web-{number:03d}"
        # the current build and three older ones, some of them old enough to be expiring
        builds = sorted(rng.sample(range(len(repo.mains)), 4))
        history = [repo.mains[i] for i in builds]
        revision = 4
        spec = [container("web", f"{HOST}/{repo.name}:{history[-1][0]}"), container("proxy", ENVOY)]
        api.add("deployments", deployment(namespace, name, spec, revision=revision))
        for offset, (tag, _) in enumerate(reversed(history)):
            containers = [container("web", f"{HOST}/{repo.name}:{tag}"), container("proxy", ENVOY)]
            api.add(
                "replicasets",
                replica_set(
                    namespace,
                    f"{name}-{revision - offset}",
                    containers,
                    deployment=name,
                    revision=revision - offset,
                    replicas=scenario.pods_per_deployment if offset == 0 else 0,
                ),
            )
        for replica in range(scenario.pods_per_deployment):
            previous = replica == 0 and number % 4 == 0  # still on the previous ReplicaSet
            tag, digest = history[-2] if previous else history[-1]
            owner = f"{name}-{revision - 1 if previous else revision}"
            image = f"{HOST}/{repo.name}:{tag}"
            containers = [
                container("web", image, image_id=f"{HOST}/{repo.name}@{digest}"),
                container("proxy", ENVOY, image_id=f"docker.io/envoyproxy/envoy@{ENVOY_DIGEST}"),
            ]
            api.add(
                "pods",
                pod(namespace, f"{owner}-{replica:04x}", containers, owner=("ReplicaSet", owner)),
            )


# --------------------------------------------------------------------------------------------
# The measured run
# --------------------------------------------------------------------------------------------


@dataclass
class Measurement:
    seconds: dict[str, float]
    moto: dict[str, Snapshot]
    fakes: dict[str, Snapshot]
    main_thread_cpu: dict[str, float]
    process_cpu: dict[str, float]
    machine_cpu: dict[str, float]
    calls: dict[str, int]
    ecr_by_repository: dict[str, Counter[str]]
    page_sizes: set[Any]
    report: dict[str, Any]
    profile: str | None = None


def ecr_hook(by_repository: dict[str, Counter[str]], page_sizes: set[Any]) -> Callable[..., None]:
    def record(params: dict[str, Any], model: Any, **_: Any) -> None:
        repository = params.get("repositoryName") or "(registry)"
        by_repository.setdefault(repository, Counter())[model.name] += 1
        if model.name == "DescribeImages":
            page_sizes.add(params.get("maxResults"))

    return record


def report_summary(report: Any) -> dict[str, Any]:
    severities = Counter(risk.severity.name for risk in report.risks)
    return {
        "repositories": len(report.repositories),
        "with_policy": sum(1 for r in report.repositories if r.policy != "none"),
        "images": sum(r.images for r in report.repositories),
        "in_use_digests": sum(r.in_use for r in report.repositories),
        "inventory_uses": len(report.inventory.uses),
        "inventory_per_source": dict(report.inventory.per_source),
        "risks": len(report.risks),
        "risks_by_severity": dict(sorted(severities.items())),
        "problems": report.problems,
    }


async def measure(kubeconfig: Path, moto: Meter, fakes: Meter, profile: bool) -> Measurement:
    """One scan, as the CLI runs it, with the clocks around its parts."""
    from bot.assemble import inventory_sources, registries

    from bot.edge.aws.clients import AwsClients, targets
    from bot.inventory.sources import collect_inventory
    from bot.settings import AwsSettings, KubernetesSettings, Settings
    from bot.watch.scan import ScanOptions, scan

    settings = Settings(
        aws=AwsSettings(regions=[REGION]),
        kubernetes=KubernetesSettings(enabled=True, kubeconfig=str(kubeconfig), contexts=[CONTEXT]),
    )
    options = ScanOptions(
        now=NOW,
        repository_globs=tuple(settings.scan.repositories),
        horizon=settings.scan.horizon_days * 86_400,
        push_margin=settings.scan.push_margin,
    )
    by_repository: dict[str, Counter[str]] = {}
    page_sizes: set[Any] = set()
    profiler = cProfile.Profile() if profile else None
    marks: list[tuple[float, Snapshot, Snapshot, float, float, float]] = []

    def mark() -> None:
        clocks = (time.perf_counter(), moto.snapshot(), fakes.snapshot())
        marks.append((*clocks, time.thread_time(), time.process_time(), machine_busy()))

    if profiler:
        profiler.enable()
    mark()
    async with AwsClients(settings.aws) as aws:
        ecr = await aws.client(targets(settings.aws)[0], "ecr")
        ecr.meta.events.register("before-parameter-build.ecr", ecr_hook(by_repository, page_sizes))
        sources = await inventory_sources(settings, aws)
        mark()
        inventory = await collect_inventory(sources)
        mark()
        report = await scan(registries(settings, aws), inventory, options)
        mark()
        calls = dict(aws.calls)
    mark()
    if profiler:
        profiler.disable()
    phases = {"inventory": (1, 2), "scan": (2, 3), "whole_scan": (0, 4)}
    return Measurement(
        seconds={k: marks[b][0] - marks[a][0] for k, (a, b) in phases.items()},
        moto={k: marks[b][1].since(marks[a][1]) for k, (a, b) in phases.items()},
        fakes={k: marks[b][2].since(marks[a][2]) for k, (a, b) in phases.items()},
        main_thread_cpu={k: marks[b][3] - marks[a][3] for k, (a, b) in phases.items()},
        process_cpu={k: marks[b][4] - marks[a][4] for k, (a, b) in phases.items()},
        machine_cpu={k: marks[b][5] - marks[a][5] for k, (a, b) in phases.items()},
        calls=calls,
        ecr_by_repository=by_repository,
        page_sizes=page_sizes,
        report=report_summary(report),
        profile=profile_text(profiler) if profiler else None,
    )


def profile_text(profiler: cProfile.Profile) -> str:
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(25)
    stats.sort_stats("cumulative").print_stats(r"/bot/", 25)
    return out.getvalue()


def machine_busy() -> float:
    """CPU seconds every process on the machine has used since boot (``/proc/stat``)."""
    try:
        with open("/proc/stat", encoding="ascii") as stat:
            fields = [int(v) for v in stat.readline().split()[1:9]]
    except (OSError, ValueError):
        return 0.0
    user, nice, system, _idle, _iowait, irq, softirq, _steal = fields
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def memory_status() -> dict[str, float]:
    """VmRSS and VmHWM of this process, in MiB (Linux)."""
    found = {}
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            key, _, value = line.partition(":")
            if key in {"VmRSS", "VmHWM"}:
                found[key] = int(value.split()[0]) / 1024
    return found


def reset_peak_rss() -> bool:
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as refs:
            refs.write("5")
    except OSError:
        return False
    return True


async def run(scenario: Scenario, profile: bool) -> dict[str, Any]:
    from tests.support.ecs_revisions import EcsRevisionsFake
    from tests.support.kube_api import FakeKubeApi

    moto, fakes = Meter(), Meter()
    server, endpoint = start_moto(moto)
    os.environ["AWS_ENDPOINT_URL"] = endpoint
    api = FakeKubeApi()
    time_kube_api(api, fakes)
    await api.start()
    try:
        fake = EcsRevisionsFake(endpoint)
        time_ecs_fake(fake, fakes)
        async with fake:
            os.environ["AWS_ENDPOINT_URL_ECS"] = fake.url
            started = time.perf_counter()
            repositories = seed_ecr(endpoint, scenario)
            tasks = seed_ecs(endpoint, fake, repositories, scenario)
            seed_kubernetes(api, repositories, scenario)
            seeding = time.perf_counter() - started
            with tempfile.TemporaryDirectory() as tmp:
                kubeconfig = api.kubeconfig(Path(tmp) / "kubeconfig", context=CONTEXT)
                gc.collect()
                load_before = os.getloadavg()[0]
                before = memory_status()
                peak_reset = reset_peak_rss()
                measurement = await measure(kubeconfig, moto, fakes, profile)
                after = memory_status()
                load = (load_before, os.getloadavg()[0])
    finally:
        await api.stop()
        server.stop()
    return results(
        scenario,
        repositories,
        measurement,
        tasks=tasks,
        seeding=seeding,
        before=before,
        after=after,
        peak_reset=peak_reset,
        load=load,
    )


# --------------------------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------------------------


def ecr_figures(scenario: Scenario, repositories: list[Seeded], m: Measurement) -> dict[str, Any]:
    per_repo = [sum(m.ecr_by_repository.get(r.name, Counter()).values()) for r in repositories]
    pages = [max(1, math.ceil(r.images / PAGE)) for r in repositories]
    measured_pages = [
        m.ecr_by_repository.get(r.name, Counter())["DescribeImages"] for r in repositories
    ]
    projected = [
        n - got + want for n, got, want in zip(per_repo, measured_pages, pages, strict=True)
    ]
    target = [math.ceil(r.images / PAGE) + 1 for r in repositories]
    registry_level = sum(m.ecr_by_repository.get("(registry)", Counter()).values())
    return {
        "images_per_repository": scenario.images,
        "describe_images_max_results_sent": sorted(str(s) for s in m.page_sizes),
        "target_per_repository": max(target),
        "measured_per_repository": {
            "min": min(per_repo),
            "max": max(per_repo),
            "mean": statistics.fmean(per_repo),
            "describe_images_min": min(measured_pages),
            "describe_images_max": max(measured_pages),
            "by_operation": dict(
                sum((m.ecr_by_repository.get(r.name, Counter()) for r in repositories), Counter())
            ),
        },
        "real_aws_per_repository": {
            "min": min(projected),
            "max": max(projected),
            "describe_images_pages": max(pages),
        },
        "registry_level_calls": registry_level,
        "repositories_over_target": {
            "measured": sum(1 for n, t in zip(per_repo, target, strict=True) if n > t),
            "real_aws": sum(1 for n, t in zip(projected, target, strict=True) if n > t),
        },
        "real_aws_describe_images": sum(pages),
        "real_aws_total_calls": sum(m.calls.values())
        - m.calls.get("ecr.DescribeImages", 0)
        + sum(pages),
    }


def time_figures(m: Measurement) -> dict[str, Any]:
    phases = {}
    for phase, wall in m.seconds.items():
        moto, fakes = m.moto[phase], m.fakes[phase]
        emulator = moto.total_cpu + fakes.total_cpu
        phases[phase] = {
            "wall_s": wall,
            "moto_cpu_s": moto.total_cpu,
            "moto_busy_wall_s": moto.busy,
            "fakes_cpu_s": fakes.total_cpu,
            "main_thread_cpu_s": m.main_thread_cpu[phase],
            "process_cpu_s": m.process_cpu[phase],
            "emulator_s": emulator,
            "outside_emulator_s": wall - emulator,
            "outside_emulator_share": (wall - emulator) / wall if wall else 0.0,
            "not_on_cpu_s": wall - m.process_cpu[phase],
            "other_processes_cpu_s": max(0.0, m.machine_cpu[phase] - m.process_cpu[phase]),
            "outside_emulator_cpu_share": (
                (m.process_cpu[phase] - emulator) / m.process_cpu[phase]
                if m.process_cpu[phase]
                else 0.0
            ),
        }
    whole_moto, whole_fakes = m.moto["whole_scan"], m.fakes["whole_scan"]
    by_operation = {
        op: {
            "requests": whole_moto.requests[op],
            "cpu_s": whole_moto.cpu[op],
            "wall_s": whole_moto.wall[op],
        }
        for op in sorted(whole_moto.requests, key=lambda o: -whole_moto.cpu[o])
    }
    fakes = {
        op: {"requests": whole_fakes.requests[op], "cpu_s": whole_fakes.cpu[op]}
        for op in sorted(whole_fakes.requests)
    }
    return {"phases": phases, "moto_by_operation": by_operation, "fakes_by_operation": fakes}


def results(
    scenario: Scenario,
    repositories: list[Seeded],
    m: Measurement,
    *,
    tasks: int,
    seeding: float,
    before: dict[str, float],
    after: dict[str, float],
    peak_reset: bool,
    load: tuple[float, float],
) -> dict[str, Any]:
    return {
        "scenario": {
            **asdict(scenario),
            "total_images": sum(r.images for r in repositories),
            "ecs_tasks": tasks,
            "pods": scenario.pods,
            "seed": SEED,
            "now": datetime.fromtimestamp(NOW, UTC).isoformat(),
        },
        "seeding_s": seeding,
        "load_average": load,
        "time": time_figures(m),
        "aws_calls": {
            "total": sum(m.calls.values()),
            "by_operation": dict(sorted(m.calls.items())),
        },
        "ecr": ecr_figures(scenario, repositories, m),
        "memory_mib": {
            "peak_rss_process": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "rss_after_seeding": before.get("VmRSS"),
            "peak_rss_during_scan": after.get("VmHWM") if peak_reset else None,
            "rss_after_scan": after.get("VmRSS"),
        },
        "report": m.report,
        "profile": m.profile,
    }


# --------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------


def _pct(part: float, whole: float) -> str:
    return f"{100 * part / whole:5.1f}%" if whole else "   - "


def time_lines(figures: dict[str, Any]) -> list[str]:
    t = figures["time"]
    phases = [t["phases"][k] for k in ("whole_scan", "inventory", "scan")]
    rows = [
        ("wall", "wall_s"),
        ("in the emulator: moto handler CPU", "moto_cpu_s"),
        ("in the emulator: fakes' handler CPU", "fakes_cpu_s"),
        ("outside the emulator (wall - emulator)", "outside_emulator_s"),
        ("process CPU, all threads", "process_cpu_s"),
        ("  of which the main thread (bot, SDK, loop)", "main_thread_cpu_s"),
        ("not on a CPU (wall - process CPU)", "not_on_cpu_s"),
        ("other processes' CPU on this machine", "other_processes_cpu_s"),
        ("cross-check: >= 1 moto request in flight", "moto_busy_wall_s"),
    ]
    lines = ["", f"{'time (s)':<46}{'whole scan':>12}{'inventory':>12}{'scan':>12}"]
    for label, key in rows:
        lines.append(f"{label:<46}" + "".join(f"{p[key]:12.2f}" for p in phases))
        if key == "outside_emulator_s":
            shares = [_pct(p["outside_emulator_s"], p["wall_s"]) for p in phases]
            lines.append(f"{'  share of wall time outside the emulator':<46}")
            lines[-1] += "".join(f"{share:>12}" for share in shares)
        if key == "main_thread_cpu_s":
            shares = [f"{100 * p['outside_emulator_cpu_share']:.1f}%" for p in phases]
            lines.append(f"{'  share of process CPU outside the emulator':<46}")
            lines[-1] += "".join(f"{share:>12}" for share in shares)
    lines += ["", f"{'emulator time by operation':<46}{'requests':>12}{'CPU s':>12}{'wall s':>12}"]
    for op, row in t["moto_by_operation"].items():
        cells = f"{row['requests']:12d}{row['cpu_s']:12.2f}{row['wall_s']:12.2f}"
        lines.append(f"  moto {op:<39}{cells}")
    for op, row in t["fakes_by_operation"].items():
        lines.append(f"  {op:<44}{row['requests']:12d}{row['cpu_s']:12.2f}")
    lines.append("  (wall s: per-request wall time summed; requests overlap and wait for the GIL)")
    return lines


def call_lines(figures: dict[str, Any]) -> list[str]:
    calls, ecr = figures["aws_calls"], figures["ecr"]
    measured, real = ecr["measured_per_repository"], ecr["real_aws_per_repository"]
    over = ecr["repositories_over_target"]
    lines = ["", f"{'AWS calls (AwsClients.calls)':<46}{'moto':>12}{'real AWS':>12}"]
    for op, n in calls["by_operation"].items():
        projected = ecr["real_aws_describe_images"] if op == "ecr.DescribeImages" else n
        lines.append(f"  {op:<44}{n:12d}{projected:12d}")
    lines += [
        f"  {'total':<44}{calls['total']:12d}{ecr['real_aws_total_calls']:12d}",
        "  (real AWS: DescribeImages at 1,000 images per page; moto returns one page)",
        "",
        f"ECR calls per repository ({ecr['images_per_repository']:,} images; "
        f"maxResults sent: {', '.join(ecr['describe_images_max_results_sent'])})",
        f"  {'target: ceil(images/1000) + 1':<44}{ecr['target_per_repository']:>12}",
        f"  {'measured against moto':<44}{_range(measured['min'], measured['max']):>12}",
        f"  {'  of which DescribeImages':<44}"
        f"{_range(measured['describe_images_min'], measured['describe_images_max']):>12}",
        f"  {'real AWS (1,000 images per page)':<44}{_range(real['min'], real['max']):>12}",
        f"  {'  of which DescribeImages':<44}{real['describe_images_pages']:>12}",
        f"  {'repositories over target: moto / real AWS':<44}"
        f"{_range(over['measured'], over['real_aws'], ' / '):>12}",
        f"  {'registry-level calls (DescribeRepositories)':<44}{ecr['registry_level_calls']:12d}",
    ]
    return lines


def _range(low: int, high: int, separator: str = "-") -> str:
    return str(low) if low == high and separator == "-" else f"{low}{separator}{high}"


def render(figures: dict[str, Any]) -> str:
    s, r, mem = figures["scenario"], figures["report"], figures["memory_mib"]
    lines = [
        f"ECR Lifeguard scan benchmark ({s['name']}): {s['repositories']} repositories x "
        f"{s['images']:,} images = {s['total_images']:,} images; {s['services']} ECS services "
        f"({s['ecs_tasks']} tasks); {s['pods']} pods; seed {s['seed']}",
        f"seeding moto and the fakes (not measured): {figures['seeding_s']:.1f} s; "
        f"load average before/after the scan: {figures['load_average'][0]:.2f} / "
        f"{figures['load_average'][1]:.2f} ({os.cpu_count()} CPUs)",
        f"result: {r['repositories']} repositories ({r['with_policy']} with a policy), "
        f"{r['images']:,} images, {r['inventory_uses']} inventory uses, {r['in_use_digests']} "
        f"in-use digests, {r['risks']} risks {r['risks_by_severity']}, "
        f"{len(r['problems'])} problems",
    ]
    lines += time_lines(figures)
    lines += call_lines(figures)
    peak_scan = mem["peak_rss_during_scan"]
    lines += [
        "",
        "memory (MiB)",
        f"  {'peak RSS of the process':<44}{mem['peak_rss_process']:12.0f}",
        f"  {'RSS after seeding (moto holds every image)':<44}{mem['rss_after_seeding']:12.0f}",
        f"  {'peak RSS during the scan':<44}"
        + (f"{peak_scan:12.0f}" if peak_scan is not None else f"{'n/a':>12}"),
    ]
    if figures["profile"]:
        lines += ["", "cProfile of the main thread (timings above include its overhead)"]
        lines.append(figures["profile"])
    return "\n".join(lines)


def prepare_environment() -> None:
    """Fake credentials, no config files, no metadata service; tests.support importable."""
    os.environ.update(TEST_ENV)
    for key in ("AWS_PROFILE", "AWS_ENDPOINT_URL_ECR", "LIFEGUARD_CONFIG", "KUBECONFIG"):
        os.environ.pop(key, None)
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20 repositories x 500 images")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument(
        "--profile", action="store_true", help="cProfile the main thread (slows the scan down)"
    )
    args = parser.parse_args(argv)
    scenario = QUICK if args.quick else FULL
    prepare_environment()
    started = time.perf_counter()
    figures = asyncio.run(run(scenario, args.profile))
    figures["benchmark_s"] = time.perf_counter() - started
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        print(render(figures))
        print(f"\nbenchmark took {figures['benchmark_s']:.1f} s (seeding included)")
    if figures["report"]["problems"]:
        print("problems:", *figures["report"]["problems"], sep="\n  ", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
