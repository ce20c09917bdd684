"""The Slack bot's services against real components: moto over HTTP (with the ECR fake for what
moto lacks), a real redis-server or the in-process store, and the local Slack stub.

Every test runs twice, on :class:`MemoryStore` and on :class:`RedisStore`. The services get a
fixed clock; ECR is reached through ``AWS_ENDPOINT_URL_ECR`` (the fake, which forwards to moto).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import botocore.loaders
import pytest
import redis.asyncio as aioredis

from bot.edge.aws.clients import AwsClients, targets
from bot.edge.aws.ecr import EcrRegistry
from bot.edge.slack import SlackDirectory, SlackNotifier, web_client
from bot.edge.stores.memory import MemoryStore
from bot.edge.stores.redis_store import RedisStore
from bot.errors import UpstreamError
from bot.lifecycle.evaluate import evaluate
from bot.lifecycle.guard import GUARD_DESCRIPTION, is_guard
from bot.lifecycle.parse import parse_policy
from bot.lifecycle.timefmt import parse_instant
from bot.ops.authorize import Actor
from bot.ops.deps import CommandError, Denied, Lifeguard
from bot.ops.verbs.protect import ProtectService
from bot.ops.verbs.restore import RestoreService
from bot.ops.verbs.retag import RetagService, tag_is_immutable
from bot.refs import ImageRef, RepositoryKey, parse_image_ref
from bot.settings import AwsSettings, Settings
from bot.state.records import AlertRecord, Confirmations, SavedManifest, image_key
from bot.state.store import Store
from bot.watch.schedule import AlertLoop, Resolution, snooze
from tests.support.blog import NOW as BLOG_NOW
from tests.support.blog import REPOSITORY as BLOG_REPOSITORY
from tests.support.blog import SHARED_DIGEST, load_blog_repository
from tests.support.ecr_fake import EcrFake
from tests.support.moto_state import (
    ACCOUNT,
    OCI_MANIFEST,
    REGION,
    archive,
    digest_of,
    ecr_image,
    image_manifest,
    push,
    set_image_times,
)
from tests.support.redis_server import (
    RedisServer,
    RedisServerMissing,
    flush_prefix,
    redis_url_from_environment,
    start_redis_server,
)
from tests.support.slack_stub import BOT_TOKEN, CHANNEL_ID, SlackStub

DAY = 86_400.0
T0 = parse_instant("2025-06-02T12:00:00Z")
REPO = "app"
KEY = RepositoryKey(ACCOUNT, REGION, REPO)
ALICE = Actor("U0ALICE", "C0OPS")
BOB = Actor("U0BOB", "C0RANDOM")
ALICE_ELSEWHERE = Actor("U0ALICE", "C0OTHER")  # the same allowed user, in another channel
KEEP = re.compile(r"^keep-[0-9a-f]{12}$")

# Rules at 1, 5 and 10: the guard goes first, and only the rule at 1 has to move (to 2).
POLICY = json.dumps(
    {
        "rules": [
            {
                "rulePriority": 1,
                "description": "keep 3 releases",
                "selection": {
                    "tagStatus": "tagged",
                    "tagPrefixList": ["release"],
                    "countType": "imageCountMoreThan",
                    "countNumber": 3,
                },
                "action": {"type": "expire"},
            },
            {
                "rulePriority": 5,
                "description": "untagged after a day",
                "selection": {
                    "tagStatus": "untagged",
                    "countType": "sinceImagePushed",
                    "countUnit": "days",
                    "countNumber": 1,
                },
                "action": {"type": "expire"},
            },
            {
                "rulePriority": 10,
                "description": "anything after 30 days",
                "selection": {
                    "tagStatus": "any",
                    "countType": "sinceImagePushed",
                    "countUnit": "days",
                    "countNumber": 30,
                },
                "action": {"type": "expire"},
            },
        ]
    }
)


# --- time, stores, ECR ---------------------------------------------------------------------------


@dataclass
class Clock:
    """A clock the test moves by hand (the services and the in-process store read it)."""

    now: float = T0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(scope="module", autouse=True)
def parse_botocore_endpoints_once() -> Iterator[None]:
    """Parse botocore's endpoints file (read-only data) once for the module, not per session.

    Every unit of work makes fresh AWS clients with a fresh SDK session, as in production, and
    each session parses that file again (about 50 ms); the cache keeps the module fast.
    """
    original = botocore.loaders.JSONFileLoader.load_file
    parsed: dict[str, Any] = {}

    def load_file(self: Any, file_path: str, *args: Any, **kwargs: Any) -> Any:
        if not file_path.endswith(f"{os.sep}data{os.sep}endpoints"):
            return original(self, file_path, *args, **kwargs)
        if file_path not in parsed:
            parsed[file_path] = original(self, file_path, *args, **kwargs)
        return parsed[file_path]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(botocore.loaders.JSONFileLoader, "load_file", load_file)
        yield


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(scope="session")
def bot_redis_url() -> Iterator[str]:
    """A Redis for the session: LIFEGUARD_TEST_REDIS_URL, or a redis-server started here."""
    external = redis_url_from_environment()
    if external:
        yield external
        return
    server: RedisServer | None = None
    try:
        server = start_redis_server()
    except RedisServerMissing as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield server.url
    finally:
        server.stop()


@dataclass
class StoreKit:
    """The store under test, and how to get another replica's view of the same state."""

    kind: str
    store: Store
    url: str = ""
    prefix: str = ""
    opened: list[RedisStore] = field(default_factory=list)

    async def another(self) -> Store:
        """Another replica's store: a second Redis connection, or the same in-process store."""
        if self.kind == "memory":
            return self.store
        other = await RedisStore.connect(self.url, prefix=self.prefix)
        self.opened.append(other)
        return other

    async def expire_confirmation(self, token: str, clock: Clock) -> None:
        """Let a pending confirmation expire, the way this store expires records."""
        if self.kind == "memory":
            clock.advance(Confirmations.TTL + 1)
            return
        client = aioredis.from_url(self.url, decode_responses=True)
        try:
            key = f"{self.prefix}record:confirm:{token}"
            ttl = await client.pttl(key)
            assert 0 < ttl <= Confirmations.TTL * 1000, ttl  # the product set the expiry
            await client.pexpire(key, 1)
            for _ in range(200):
                if not await client.exists(key):
                    return
                await asyncio.sleep(0.005)
            raise AssertionError("Redis did not expire the confirmation")
        finally:
            await client.aclose()


@pytest.fixture(params=["memory", "redis"])
async def kit(request: pytest.FixtureRequest, clock: Clock) -> AsyncIterator[StoreKit]:
    if request.param == "memory":
        yield StoreKit("memory", MemoryStore(clock=clock))
        return
    url = request.getfixturevalue("bot_redis_url")
    prefix = f"lifeguard-bot-test:{uuid.uuid4().hex[:8]}:"
    store = await RedisStore.connect(url, prefix=prefix)
    kit = StoreKit("redis", store, url, prefix)
    try:
        yield kit
    finally:
        for other in kit.opened:
            await other.close()
        await store.close()
        await flush_prefix(url, prefix)


@pytest.fixture
async def fake(moto: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[EcrFake]:
    """The ECR fake in front of moto; every ECR client of the services goes through it."""
    async with EcrFake(moto) as ecr_fake:
        monkeypatch.setenv("AWS_ENDPOINT_URL_ECR", ecr_fake.url)
        monkeypatch.delenv("LIFEGUARD_CONFIG", raising=False)
        yield ecr_fake


@pytest.fixture
def ecr(boto: Any, fake: EcrFake) -> Any:
    """A boto3 ECR client straight to moto, to arrange and inspect state (not through the fake)."""
    return boto("ecr")


Factory = Callable[..., Lifeguard]


@pytest.fixture
def make_lifeguard(kit: StoreKit, clock: Clock, fake: EcrFake) -> Factory:
    """``make_lifeguard(protect={...}, permissions=[...], ...)``: a Lifeguard on the test store."""

    def make(store: Store | None = None, **overrides: Any) -> Lifeguard:
        values: dict[str, Any] = {
            "aws": AwsSettings(regions=["us-east-1"], max_attempts=1),
            "inventory": {"ecs": False, "lambda": False},
            "permissions": [{"repositories": "*", "users": [ALICE.user]}],
        }
        values.update(overrides)
        return Lifeguard(Settings(**values), store or kit.store, clock=clock)

    return make


@pytest.fixture
def lifeguard(make_lifeguard: Factory) -> Lifeguard:
    return make_lifeguard()


# --- arranging and reading moto -------------------------------------------------------------------


def create_repository(
    ecr: Any,
    name: str = REPO,
    *,
    policy: str | None = POLICY,
    mutability: str = "MUTABLE",
    exclusions: tuple[str, ...] = (),
) -> None:
    params: dict[str, Any] = {"repositoryName": name, "imageTagMutability": mutability}
    if exclusions:
        params["imageTagMutabilityExclusionFilters"] = [
            {"filterType": "WILDCARD", "filter": f} for f in exclusions
        ]
    ecr.create_repository(**params)
    if policy is not None:
        ecr.put_lifecycle_policy(repositoryName=name, lifecyclePolicyText=policy)


def push_image(
    ecr: Any,
    seed: str,
    tags: list[str],
    *,
    age_days: float = 1.0,
    repository: str = REPO,
    manifest: str | None = None,
    media_type: str = OCI_MANIFEST,
) -> str:
    """Push an image (real digest) pushed ``age_days`` before T0; return its digest."""
    text = manifest or image_manifest(seed)
    digest = push(ecr, repository, text, tags, media_type=media_type)
    pushed = datetime.fromtimestamp(T0 - age_days * DAY, UTC)
    set_image_times(repository, digest, pushed=pushed)
    return digest


def tags_by_digest(ecr: Any, repository: str = REPO) -> dict[str, set[str]]:
    details = ecr.describe_images(repositoryName=repository)["imageDetails"]
    return {d["imageDigest"]: set(d.get("imageTags", [])) for d in details}


def manifest_in_moto(ecr: Any, digest: str, repository: str = REPO) -> tuple[str, str]:
    found = ecr.batch_get_image(repositoryName=repository, imageIds=[{"imageDigest": digest}])
    [image] = found["images"]
    return image["imageManifest"], image.get("imageManifestMediaType", "")


def policy_in_moto(ecr: Any, repository: str = REPO) -> str:
    text: str = ecr.get_lifecycle_policy(repositoryName=repository)["lifecyclePolicyText"]
    return text


def keep_tag_of(digest: str) -> str:
    return "keep-" + digest.removeprefix("sha256:")[:12]


async def audit(lifeguard: Lifeguard, count: int = 20) -> list[dict[str, Any]]:
    return await lifeguard.audit.recent(count)


async def fresh_evaluation(lifeguard: Lifeguard, digest: str) -> Any:
    """The decision for ``digest`` under the policy now in ECR, from a fresh read of ECR."""
    async with AwsClients(lifeguard.settings.aws) as aws:
        registry = EcrRegistry(aws, targets(lifeguard.settings.aws)[0])
        repository = await registry.repository(REPO)
        assert repository is not None
        info = await registry.lifecycle_policy(repository)
        assert info is not None
        images = await registry.images(repository)
    return evaluate(parse_policy(info.text), images, lifeguard.clock()).decision(digest)


def ref(text: str) -> ImageRef:
    return parse_image_ref(text)


# --- the ECR fake itself --------------------------------------------------------------------------


async def test_the_ecr_fake_answers_storage_class_changes_as_ecr_does(
    ecr: Any, fake: EcrFake
) -> None:
    create_repository(ecr, policy=None)
    digest = push_image(ecr, "v1", ["v1"])
    settings = AwsSettings(regions=["us-east-1"], max_attempts=1)
    target = targets(settings)[0]
    ids = {"registryId": ACCOUNT, "repositoryName": REPO}
    async with AwsClients(settings) as aws:
        archived = await aws.call(
            target,
            "ecr",
            "update_image_storage_class",
            imageId={"imageTag": "v1"},
            targetStorageClass="ARCHIVE",
            **ids,
        )
        assert archived == {
            "ResponseMetadata": archived["ResponseMetadata"],
            **ids,
            "imageId": {"imageDigest": digest, "imageTag": "v1"},
            "imageStatus": "ARCHIVED",
        }
        failures = {
            "ImageStorageClassUpdateNotSupportedException": ({"imageTag": "v1"}, "ARCHIVE", REPO),
            "ImageNotFoundException": ({"imageTag": "nope"}, "STANDARD", REPO),
            "RepositoryNotFoundException": ({"imageTag": "v1"}, "STANDARD", "nope"),
        }
        for code, (image_id, storage_class, repository) in failures.items():
            with pytest.raises(UpstreamError) as failed:
                await aws.call(
                    target,
                    "ecr",
                    "update_image_storage_class",
                    repositoryName=repository,
                    imageId=image_id,
                    targetStorageClass=storage_class,
                )
            assert failed.value.code == code
    with pytest.raises(AssertionError, match="not being restored"):
        fake.finish_restore(REPO, digest)
    assert ecr_image(REPO, digest).image_status == "ARCHIVED"


# --- protect: keep tag and lease ------------------------------------------------------------------


async def test_protect_adds_a_keep_tag_and_stores_the_lease(
    ecr: Any, lifeguard: Lifeguard, fake: EcrFake
) -> None:
    create_repository(ecr)
    manifest = image_manifest("v1")
    digest = push_image(ecr, "v1", ["v1"], age_days=60)
    result = await ProtectService(lifeguard).protect(
        ALICE, ref("app:v1"), None, "rollback target", channel="C0OPS", thread_ts="1.000100"
    )
    tag = keep_tag_of(digest)
    assert KEEP.match(tag) and result.keep_tag_added
    assert tags_by_digest(ecr) == {digest: {"v1", tag}}  # same digest: no new image
    assert manifest_in_moto(ecr, digest) == (manifest, OCI_MANIFEST)
    [put] = fake.calls("PutImage")
    assert put["imageTag"] == tag and put["imageManifest"] == manifest
    lease = result.lease
    assert (lease.owner, lease.reason, lease.keep_tag) == ("<@U0ALICE>", "rollback target", tag)
    assert (lease.created_at, lease.until) == (T0, T0 + 7 * DAY)  # the default duration
    assert (lease.channel, lease.thread_ts) == ("C0OPS", "1.000100")
    assert not result.extended
    assert await lifeguard.leases.get(KEY, digest) == lease
    assert [x.digest for x in await lifeguard.leases.active()] == [digest]
    [entry, *_] = await audit(lifeguard)
    assert entry["action"] == "protect" and entry["result"] == "ok"
    assert entry["actor"] == "<@U0ALICE>" and entry["digest"] == digest
    assert entry["repository"] == REPO and entry["at"] == T0
    assert entry["after"] == {"until": T0 + 7 * DAY, "keep_tag": tag, "reason": "rollback target"}


async def test_protect_durations_and_extending_a_lease(
    ecr: Any, lifeguard: Lifeguard, clock: Clock, fake: EcrFake
) -> None:
    create_repository(ecr, policy=None)
    digest = push_image(ecr, "v1", ["v1"])
    service = ProtectService(lifeguard)
    first = await service.protect(ALICE, ref("app:v1"), 3600, "deploy window")
    assert first.lease.until == T0 + 3600 and first.keep_tag_added

    clock.advance(600)
    longer = await service.protect(ALICE_ELSEWHERE, ref("app:v1"), 3 * DAY, "")
    assert longer.extended and not longer.keep_tag_added
    assert longer.lease.until == T0 + 600 + 3 * DAY
    assert longer.lease.created_at == T0 and longer.lease.reason == "deploy window"
    shorter = await service.protect(ALICE, ref("app:v1"), 60, "still needed")
    assert shorter.lease.until == longer.lease.until  # a shorter ask never shortens a lease
    assert shorter.lease.reason == "still needed"
    assert len(fake.calls("PutImage")) == 1  # the keep tag was added once

    most = await service.protect(ALICE, ref("app:v1"), 90 * DAY, "max")
    assert most.lease.until == clock.now + 90 * DAY
    for too_long in (90 * DAY + 1, 365 * DAY):
        with pytest.raises(CommandError, match="at most 90 days"):
            await service.protect(ALICE, ref("app:v1"), too_long, "")
    with pytest.raises(CommandError, match="above zero"):
        await service.protect(ALICE, ref("app:v1"), 0, "")
    lease = await lifeguard.leases.get(KEY, digest)
    assert lease is not None and lease.until == clock.now + 90 * DAY


async def test_protect_refuses_archived_and_missing_images(
    ecr: Any, lifeguard: Lifeguard, fake: EcrFake
) -> None:
    create_repository(ecr)
    old = push_image(ecr, "old", ["old"], age_days=200)
    archive(REPO, old, datetime.fromtimestamp(T0 - 100 * DAY, UTC))
    service = ProtectService(lifeguard)
    with pytest.raises(CommandError, match=r"archived: restore it first \(`/ecr restore app:old`"):
        await service.protect(ALICE, ref("app:old"), None, "")
    with pytest.raises(CommandError, match=r"not in the repository.*why-missing app:gone"):
        await service.protect(ALICE, ref("app:gone"), None, "")
    with pytest.raises(CommandError, match="Repository nope does not exist"):
        await service.protect(ALICE, ref("nope:v1"), None, "")
    assert tags_by_digest(ecr) == {old: {"old"}}
    assert fake.calls("PutImage") == [] and await lifeguard.leases.active() == []
    assert policy_in_moto(ecr) == POLICY


# --- protect: the guard rule ---------------------------------------------------------------------


async def test_guard_rule_waits_for_confirmation_then_shields_the_image(
    ecr: Any, lifeguard: Lifeguard, fake: EcrFake
) -> None:
    create_repository(ecr)
    digest = push_image(ecr, "v1", ["v1"], age_days=60)  # expired by "anything after 30 days"
    push_image(ecr, "v2", ["v2"], age_days=1)
    before = await fresh_evaluation(lifeguard, digest)
    assert before.acted and before.rule.rule_priority == 10

    service = ProtectService(lifeguard)
    result = await service.protect(ALICE, ref("app:v1"), None, "incident 42")
    change = result.change
    assert change is not None and change.token and not result.applied
    assert policy_in_moto(ecr) == POLICY == change.before  # nothing applied yet
    assert result.shielding is not None and not result.shielding.shielded
    proposed = parse_policy(change.after).by_priority()
    assert [(r.rule_priority, r.description) for r in proposed] == [
        (1, GUARD_DESCRIPTION),
        (2, "keep 3 releases"),
        (5, "untagged after a day"),
        (10, "anything after 30 days"),
    ]
    assert is_guard(proposed[0], "keep-")
    assert proposed[0].selection.tag_prefix_list == ("keep-",)
    originals = parse_policy(POLICY).by_priority()
    assert [r.selection for r in proposed[1:]] == [r.selection for r in originals]
    [entry, *_] = await audit(lifeguard)
    assert entry["detail"] == "guard rule pending confirmation"

    applied, shielding = await service.apply_guard(ALICE, change.token)
    assert policy_in_moto(ecr) == change.after == applied.after
    assert applied.before == POLICY
    assert shielding.shielded, shielding.explanation
    after = await fresh_evaluation(lifeguard, digest)
    assert not after.acted and after.rule is not None and is_guard(after.rule, "keep-")
    [entry, *_] = await audit(lifeguard)
    assert (entry["action"], entry["result"], entry["digest"]) == (
        "put-lifecycle-policy",
        "ok",
        digest,
    )
    assert (entry["before"], entry["after"]) == (POLICY, change.after)

    with pytest.raises(CommandError, match="expired or was already used"):
        await service.apply_guard(ALICE, change.token)
    # protecting again, or another image, needs no further policy change
    again = await service.protect(ALICE, ref("app:v2"), None, "")
    assert again.change is None and again.shielding is not None and again.shielding.shielded


async def test_an_expired_guard_confirmation_is_refused(
    ecr: Any, lifeguard: Lifeguard, kit: StoreKit, clock: Clock, fake: EcrFake
) -> None:
    create_repository(ecr)
    push_image(ecr, "v1", ["v1"], age_days=60)
    service = ProtectService(lifeguard)
    result = await service.protect(ALICE, ref("app:v1"), None, "")
    assert result.change is not None and result.change.token
    await kit.expire_confirmation(result.change.token, clock)
    with pytest.raises(CommandError, match="expired or was already used"):
        await service.apply_guard(ALICE, result.change.token)
    assert policy_in_moto(ecr) == POLICY


async def test_a_policy_changed_since_the_proposal_is_not_overwritten(
    ecr: Any, lifeguard: Lifeguard, fake: EcrFake
) -> None:
    create_repository(ecr)
    push_image(ecr, "v1", ["v1"], age_days=60)
    service = ProtectService(lifeguard)
    result = await service.protect(ALICE, ref("app:v1"), None, "")
    assert result.change is not None and result.change.token
    edited = json.dumps({"rules": [json.loads(POLICY)["rules"][2]]})
    ecr.put_lifecycle_policy(repositoryName=REPO, lifecyclePolicyText=edited)
    with pytest.raises(CommandError, match="changed since this was proposed; nothing was applied"):
        await service.apply_guard(ALICE, result.change.token)
    assert policy_in_moto(ecr) == edited
    assert [e["action"] for e in await audit(lifeguard)] == ["protect"]


async def test_guard_rule_applied_at_once_when_automatic(
    ecr: Any, make_lifeguard: Factory, fake: EcrFake
) -> None:
    lifeguard = make_lifeguard(protect={"apply_policy_change": "automatic"})
    create_repository(ecr)
    digest = push_image(ecr, "v1", ["v1"], age_days=60)
    result = await ProtectService(lifeguard).protect(ALICE, ref("app:v1"), None, "")
    assert result.applied and result.change is not None and result.change.token is None
    assert policy_in_moto(ecr) == result.change.after != POLICY
    assert result.shielding is not None and result.shielding.shielded
    after = await fresh_evaluation(lifeguard, digest)
    assert not after.acted and after.rule is not None and is_guard(after.rule, "keep-")
    actions = [e["action"] for e in await audit(lifeguard)]
    assert actions == ["protect", "put-lifecycle-policy"]  # newest first


async def test_no_policy_means_nothing_to_guard(
    ecr: Any, lifeguard: Lifeguard, fake: EcrFake
) -> None:
    create_repository(ecr, policy=None)
    digest = push_image(ecr, "v1", ["v1"])
    result = await ProtectService(lifeguard).protect(ALICE, ref("app:v1"), None, "")
    assert result.change is None and not result.applied and result.shielding is None
    assert result.keep_tag_added and tags_by_digest(ecr) == {digest: {"v1", keep_tag_of(digest)}}
    assert fake.operations["PutLifecyclePolicy"] == 0


def fifty_rules() -> str:
    rules = [
        {
            "rulePriority": n,
            "selection": {
                "tagStatus": "tagged",
                "tagPrefixList": [f"team{n}-"],
                "countType": "imageCountMoreThan",
                "countNumber": 5,
            },
            "action": {"type": "expire"},
        }
        for n in range(1, 51)
    ]
    return json.dumps({"rules": rules})


async def test_a_guard_that_would_exceed_fifty_rules_is_refused_clearly(
    ecr: Any, lifeguard: Lifeguard, fake: EcrFake
) -> None:
    create_repository(ecr, policy=fifty_rules())
    push_image(ecr, "v1", ["v1"])
    with pytest.raises(CommandError) as refused:
        await ProtectService(lifeguard).protect(ALICE, ref("app:v1"), None, "")
    message = str(refused.value)
    assert "guard rule cannot be added" in message and "50" in message
    assert policy_in_moto(ecr) == fifty_rules()
    assert await lifeguard.leases.active() == []


async def test_a_refused_guard_leaves_no_keep_tag_behind(
    ecr: Any, lifeguard: Lifeguard, fake: EcrFake
) -> None:
    create_repository(ecr, policy=fifty_rules())
    digest = push_image(ecr, "v1", ["v1"])
    with pytest.raises(CommandError, match="guard rule cannot be added"):
        await ProtectService(lifeguard).protect(ALICE, ref("app:v1"), None, "")
    assert tags_by_digest(ecr) == {digest: {"v1"}}


# --- authorisation --------------------------------------------------------------------------------


async def test_a_user_who_may_not_is_refused_named_who_may_and_audited(
    ecr: Any, lifeguard: Lifeguard, fake: EcrFake
) -> None:
    create_repository(ecr)
    digest = push_image(ecr, "v1", ["v1"], age_days=60)
    old = push_image(ecr, "v0", ["v0"], age_days=90)
    archive(REPO, old, datetime.fromtimestamp(T0 - 10 * DAY, UTC))
    before_tags = tags_by_digest(ecr)
    mutations = [
        ("protect", ProtectService(lifeguard).protect(BOB, ref("app:v1"), None, "mine")),
        ("retag", RetagService(lifeguard).retag(BOB, ref("app:v1"), "stable")),
        ("restore", RestoreService(lifeguard).restore(BOB, ref("app:v0"))),
    ]
    for action, attempt in mutations:
        with pytest.raises(Denied) as denied:
            await attempt
        assert str(denied.value) == (
            f"You may not {action} images in app: only <@U0ALICE> may {action} images in app."
        )
    assert tags_by_digest(ecr) == before_tags and policy_in_moto(ecr) == POLICY
    writes = {"PutImage", "PutLifecyclePolicy", "UpdateImageStorageClass", "BatchDeleteImage"}
    assert not writes & set(fake.operations)
    assert await lifeguard.leases.active() == []
    entries = await audit(lifeguard)
    assert [(e["action"], e["result"], e["actor"]) for e in entries] == [
        ("restore", "denied", "<@U0BOB>"),
        ("retag", "denied", "<@U0BOB>"),
        ("protect", "denied", "<@U0BOB>"),
    ]
    assert all(e["repository"] == REPO and "only <@U0ALICE>" in e["detail"] for e in entries)
    assert digest not in {e["digest"] for e in entries}  # nothing was done to the image


async def test_unprotect_and_guard_confirmation_need_permission_too(
    ecr: Any, lifeguard: Lifeguard, fake: EcrFake
) -> None:
    create_repository(ecr)
    digest = push_image(ecr, "v1", ["v1"], age_days=60)
    service = ProtectService(lifeguard)
    result = await service.protect(ALICE, ref("app:v1"), None, "")
    assert result.change is not None and result.change.token
    with pytest.raises(Denied, match="only <@U0ALICE> may unprotect"):
        await service.unprotect(BOB, ref("app:v1"))
    with pytest.raises(Denied, match="only <@U0ALICE> may change the lifecycle policy of"):
        await service.apply_guard(BOB, result.change.token)
    assert policy_in_moto(ecr) == POLICY
    assert keep_tag_of(digest) in tags_by_digest(ecr)[digest]
    assert await lifeguard.leases.get(KEY, digest) is not None
    denied = [e["action"] for e in await audit(lifeguard) if e["result"] == "denied"]
    assert denied == ["change the lifecycle policy of", "unprotect"]


async def test_a_denied_confirmation_leaves_the_token_for_an_allowed_user(
    ecr: Any, lifeguard: Lifeguard, fake: EcrFake
) -> None:
    create_repository(ecr)
    push_image(ecr, "v1", ["v1"], age_days=60)
    service = ProtectService(lifeguard)
    result = await service.protect(ALICE, ref("app:v1"), None, "")
    assert result.change is not None and result.change.token
    with pytest.raises(Denied):
        await service.apply_guard(BOB, result.change.token)
    await service.apply_guard(ALICE, result.change.token)
    assert policy_in_moto(ecr) == result.change.after


async def test_user_group_and_channel_rules(
    ecr: Any, make_lifeguard: Factory, fake: EcrFake
) -> None:
    lifeguard = make_lifeguard(
        permissions=[
            {"repositories": "app*", "user_groups": ["S0PLATFORM"]},
            {"repositories": "app", "channels": ["C0DEPLOY"]},
        ]
    )
    create_repository(ecr)
    create_repository(ecr, "billing", policy=None)
    digest = push_image(ecr, "v1", ["v1"])
    push_image(ecr, "b1", ["b1"], repository="billing")
    async with SlackStub() as stub:
        stub.set_usergroup("S0PLATFORM", ["U0CAROL"])
        directory = SlackDirectory(web_client(BOT_TOKEN, stub.api_url), ["S0PLATFORM"])
        carol = await directory.actor("U0CAROL", "C0RANDOM")
        eve = await directory.actor("U0EVE", "C0RANDOM")
    assert carol.groups == {"S0PLATFORM"} and eve.groups == frozenset()
    dave = Actor("U0DAVE", "C0DEPLOY")
    service = RetagService(lifeguard)
    assert (await service.retag(carol, ref("app:v1"), "by-group")).status == "done"
    assert (await service.retag(dave, ref("app:v1"), "by-channel")).status == "done"
    assert tags_by_digest(ecr)[digest] == {"v1", "by-group", "by-channel"}
    with pytest.raises(Denied) as denied:
        await service.retag(eve, ref("app:v1"), "by-eve")
    assert "only <!subteam^S0PLATFORM>, people in <#C0DEPLOY> may retag" in str(denied.value)
    with pytest.raises(Denied, match="no permission rule covers billing"):
        await service.retag(carol, ref("billing:b1"), "x")
    assert tags_by_digest(ecr)[digest] == {"v1", "by-group", "by-channel"}
    [entry, *_] = await audit(lifeguard)
    assert (entry["actor"], entry["result"], entry["repository"]) == (
        "<@U0CAROL>",
        "denied",
        "billing",
    )


async def test_the_cli_actor_is_trusted_without_permission_rules(
    ecr: Any, make_lifeguard: Factory, fake: EcrFake
) -> None:
    lifeguard = make_lifeguard(permissions=[])
    create_repository(ecr)
    digest = push_image(ecr, "v1", ["v1"])
    cli = Actor("ops@laptop", trusted=True)
    result = await ProtectService(lifeguard).protect(cli, ref("app:v1"), DAY, "from the CLI")
    assert result.lease.owner == "ops@laptop"
    assert keep_tag_of(digest) in tags_by_digest(ecr)[digest]
    with pytest.raises(Denied, match="no permission rule covers app"):
        await ProtectService(lifeguard).protect(ALICE, ref("app:v1"), DAY, "")
    entries = await audit(lifeguard)
    assert [(e["actor"], e["result"]) for e in entries] == [
        ("<@U0ALICE>", "denied"),
        ("ops@laptop", "ok"),
    ]


# --- unprotect and lease expiry -------------------------------------------------------------------


async def test_unprotect_removes_the_keep_tag(
    ecr: Any, lifeguard: Lifeguard, fake: EcrFake
) -> None:
    create_repository(ecr, policy=None)
    digest = push_image(ecr, "v1", ["v1"])
    service = ProtectService(lifeguard)
    await service.protect(ALICE, ref("app:v1"), None, "")
    result = await service.unprotect(ALICE, ref("app:v1"))
    tag = keep_tag_of(digest)
    assert result.tag_removed and result.note == f"{tag} removed"
    assert tags_by_digest(ecr) == {digest: {"v1"}}
    assert await lifeguard.leases.get(KEY, digest) is None
    assert await lifeguard.leases.active() == []
    [entry, *_] = await audit(lifeguard)
    assert (entry["action"], entry["result"], entry["detail"]) == ("unprotect", "ok", result.note)
    assert entry["before"] == {"until": T0 + 7 * DAY} and entry["digest"] == digest
    with pytest.raises(CommandError, match="is not protected"):
        await service.unprotect(ALICE, ref("app:v1"))


async def test_unprotect_keeps_the_keep_tag_when_it_is_the_last_tag(
    ecr: Any, lifeguard: Lifeguard, fake: EcrFake
) -> None:
    create_repository(ecr, policy=None)
    digest = push_image(ecr, "untagged", [])
    service = ProtectService(lifeguard)
    await service.protect(ALICE, ref(f"app@{digest}"), None, "")
    tag = keep_tag_of(digest)
    assert tags_by_digest(ecr) == {digest: {tag}}
    result = await service.unprotect(ALICE, ref(f"app@{digest}"))
    assert not result.tag_removed
    assert f"{tag} is the image's last tag" in result.note and "stays" in result.note
    assert tags_by_digest(ecr) == {digest: {tag}}
    assert await lifeguard.leases.get(KEY, digest) is None
    assert fake.operations["BatchDeleteImage"] == 0
    [entry, *_] = await audit(lifeguard)
    assert entry["action"] == "unprotect" and "last tag" in entry["detail"]


async def test_due_leases_end_and_their_keep_tags_go(
    ecr: Any, lifeguard: Lifeguard, clock: Clock, fake: EcrFake
) -> None:
    create_repository(ecr, policy=None)
    tagged = push_image(ecr, "tagged", ["v1"])
    lonely = push_image(ecr, "lonely", [])
    later = push_image(ecr, "later", ["v3"])
    service = ProtectService(lifeguard)
    await service.protect(ALICE, ref("app:v1"), DAY, "")
    await service.protect(ALICE, ref(f"app@{lonely}"), 2 * DAY, "")
    await service.protect(ALICE, ref("app:v3"), 5 * DAY, "")
    clock.advance(DAY - 1)
    assert await service.end_due_leases() == []
    clock.advance(2 * DAY)
    ended = sorted(await service.end_due_leases(), key=lambda r: r.lease.until)
    assert [(r.lease.digest, r.tag_removed) for r in ended] == [(tagged, True), (lonely, False)]
    assert "last tag" in ended[1].note
    assert tags_by_digest(ecr) == {
        tagged: {"v1"},
        lonely: {keep_tag_of(lonely)},
        later: {"v3", keep_tag_of(later)},
    }
    assert [lease.digest for lease in await lifeguard.leases.active()] == [later]
    expired = [e for e in await audit(lifeguard) if e["action"] == "lease-expired"]
    assert {(e["actor"], e["digest"], e["result"]) for e in expired} == {
        ("ecr-lifeguard", tagged, "ok"),
        ("ecr-lifeguard", lonely, "ok"),
    }
    assert {e["detail"] for e in expired} == {r.note for r in ended}
    assert await service.end_due_leases() == []  # nothing ends twice


# --- retag ----------------------------------------------------------------------------------------


def manifest_without_media_type(seed: str) -> str:
    """An OCI manifest that leaves ``mediaType`` out: PutImage then needs the media type."""
    document = json.loads(image_manifest(seed))
    del document["mediaType"]
    return json.dumps(document, indent=2) + "\n"  # bytes nobody would re-serialise the same way


async def test_retag_adds_a_tag_with_the_manifest_bytes_and_media_type_unchanged(
    ecr: Any, lifeguard: Lifeguard, fake: EcrFake
) -> None:
    create_repository(ecr, policy=None)
    manifest = manifest_without_media_type("v1")
    digest = push_image(ecr, "v1", ["v1"], manifest=manifest)
    assert digest == digest_of(manifest)
    result = await RetagService(lifeguard).retag(ALICE, ref("app:v1"), "stable")
    assert (result.status, result.tag, result.image.digest) == ("done", "stable", digest)
    assert result.moved_from is None and result.token is None
    assert tags_by_digest(ecr) == {digest: {"v1", "stable"}}
    assert manifest_in_moto(ecr, digest) == (manifest, OCI_MANIFEST)
    [put] = fake.calls("PutImage")
    assert put["imageManifest"] == manifest and put["imageManifestMediaType"] == OCI_MANIFEST
    assert put["imageDigest"] == digest
    [entry, *_] = await audit(lifeguard)
    assert (entry["action"], entry["result"], entry["digest"]) == ("retag", "ok", digest)
    assert (entry["before"], entry["after"]) == ({"stable": None}, {"stable": digest})


async def test_retag_with_a_tag_already_on_the_image_is_already(
    ecr: Any, lifeguard: Lifeguard, fake: EcrFake
) -> None:
    create_repository(ecr, policy=None, mutability="IMMUTABLE")
    digest = push_image(ecr, "v1", ["v1", "stable"])
    result = await RetagService(lifeguard).retag(ALICE, ref("app:v1"), "stable")
    assert (result.status, result.image.digest) == ("already", digest)
    assert fake.calls("PutImage") == [] and tags_by_digest(ecr) == {digest: {"v1", "stable"}}


async def test_moving_a_tag_needs_a_confirmation_bound_to_both_digests(
    ecr: Any, lifeguard: Lifeguard, fake: EcrFake
) -> None:
    create_repository(ecr, policy=None)
    old = push_image(ecr, "old", ["stable"], age_days=3)
    new = push_image(ecr, "new", ["v2"], age_days=1)
    service = RetagService(lifeguard)
    asked = await service.retag(ALICE, ref("app:v2"), "stable")
    assert asked.status == "needs_confirmation" and asked.token
    assert asked.moved_from is not None and asked.moved_from.digest == old
    assert asked.image.digest == new
    assert tags_by_digest(ecr) == {old: {"stable"}, new: {"v2"}}
    assert fake.calls("PutImage") == []

    done = await service.confirm(ALICE, asked.token)
    assert done.status == "done" and done.moved_from is not None
    assert (done.moved_from.digest, done.image.digest) == (old, new)
    assert tags_by_digest(ecr) == {old: set(), new: {"v2", "stable"}}  # old stays, untagged
    assert manifest_in_moto(ecr, new)[0] == image_manifest("new")
    [entry, *_] = await audit(lifeguard)
    assert (entry["before"], entry["after"]) == ({"stable": old}, {"stable": new})
    with pytest.raises(CommandError, match="expired or was already used"):
        await service.confirm(ALICE, asked.token)


async def test_a_confirmation_is_refused_when_the_tag_moved_meanwhile(
    ecr: Any, lifeguard: Lifeguard, fake: EcrFake
) -> None:
    create_repository(ecr, policy=None)
    old = push_image(ecr, "old", ["v1", "stable"], age_days=3)
    new = push_image(ecr, "new", ["v2"], age_days=2)
    other = push_image(ecr, "other", ["v3"], age_days=1)
    service = RetagService(lifeguard)
    asked = await service.retag(ALICE, ref("app:v2"), "stable")
    assert asked.token
    push(ecr, REPO, image_manifest("other"), ["stable"])  # someone moved it meanwhile
    moved = "stable moved since this was asked; nothing was changed"
    with pytest.raises(CommandError, match=moved):
        await service.confirm(ALICE, asked.token)
    assert tags_by_digest(ecr) == {old: {"v1"}, new: {"v2"}, other: {"v3", "stable"}}
    # bound to the target digest too: it is gone by the time of the confirmation
    second = await service.retag(ALICE, ref("app:v2"), "v3")
    assert second.token
    ecr.batch_delete_image(repositoryName=REPO, imageIds=[{"imageDigest": new}])
    with pytest.raises(CommandError, match=f"app@{new} is not in the repository"):
        await service.confirm(ALICE, second.token)
    assert tags_by_digest(ecr) == {old: {"v1"}, other: {"v3", "stable"}}
    assert fake.calls("PutImage") == []


@pytest.mark.parametrize(
    ("mode", "exclusions", "movable", "fixed"),
    [
        ("MUTABLE", (), "stable", None),
        ("IMMUTABLE", (), None, "stable"),
        ("IMMUTABLE_WITH_EXCLUSION", ("latest*",), "latest", "stable"),
        ("MUTABLE_WITH_EXCLUSION", ("release-*",), "stable", "release-1"),
    ],
)
async def test_tag_mutability_modes_decide_whether_a_tag_may_move(
    *,
    ecr: Any,
    lifeguard: Lifeguard,
    fake: EcrFake,
    mode: str,
    exclusions: tuple[str, ...],
    movable: str | None,
    fixed: str | None,
) -> None:
    create_repository(ecr, policy=None, mutability=mode, exclusions=exclusions)
    tags = [t for t in (movable, fixed) if t]
    old = push_image(ecr, "old", ["v1", *tags], age_days=3)
    new = push_image(ecr, "new", ["v2"], age_days=1)
    async with AwsClients(lifeguard.settings.aws) as aws:
        repository = await EcrRegistry(aws, targets(lifeguard.settings.aws)[0]).repository(REPO)
    assert repository is not None
    assert (repository.tag_mutability, repository.mutability_exclusions) == (mode, exclusions)
    assert [tag_is_immutable(repository, t) for t in tags] == [t == fixed for t in tags]

    service = RetagService(lifeguard)
    added = await service.retag(ALICE, ref("app:v2"), "extra")  # a new tag is always fine
    assert added.status == "done"
    if fixed:
        with pytest.raises(CommandError) as refused:
            await service.retag(ALICE, ref("app:v2"), fixed)
        message = str(refused.value)
        assert f"{fixed} is already on image {old.removeprefix('sha256:')[:12]}" in message
        assert f"does not let it move (tag mutability {mode}" in message
        assert tags_by_digest(ecr) == {old: {"v1", *tags}, new: {"v2", "extra"}}
    if movable:
        asked = await service.retag(ALICE, ref("app:v2"), movable)
        assert asked.status == "needs_confirmation" and asked.token
        await service.confirm(ALICE, asked.token)
        assert movable in tags_by_digest(ecr)[new] and movable not in tags_by_digest(ecr)[old]
    refused_puts = [c for c in fake.calls("PutImage") if c.get("imageTag") == fixed]
    assert refused_puts == []  # refused before asking ECR


async def test_a_repository_made_immutable_before_the_confirmation_refuses_clearly(
    ecr: Any, lifeguard: Lifeguard, fake: EcrFake
) -> None:
    create_repository(ecr, policy=None)
    old = push_image(ecr, "old", ["v1", "stable"], age_days=3)
    new = push_image(ecr, "new", ["v2"], age_days=1)
    service = RetagService(lifeguard)
    asked = await service.retag(ALICE, ref("app:v2"), "stable")
    assert asked.token
    ecr.put_image_tag_mutability(repositoryName=REPO, imageTagMutability="IMMUTABLE")
    with pytest.raises(CommandError, match=r"does not let it move \(tag mutability IMMUTABLE"):
        await service.confirm(ALICE, asked.token)
    assert tags_by_digest(ecr) == {old: {"v1", "stable"}, new: {"v2"}}
    [entry, *_] = await audit(lifeguard)
    assert (entry["action"], entry["result"], entry["digest"]) == ("retag", "refused", new)


# --- restore --------------------------------------------------------------------------------------


async def test_an_archived_image_is_restored_and_followed_to_active(
    ecr: Any, lifeguard: Lifeguard, fake: EcrFake
) -> None:
    create_repository(ecr, policy=None)
    digest = push_image(ecr, "v1", ["v1"], age_days=200)
    archive(REPO, digest, datetime.fromtimestamp(T0 - 100 * DAY, UTC))
    service = RestoreService(lifeguard)
    result = await service.restore(ALICE, ref("app:v1"))
    assert (result.status, result.digest, result.tags) == ("restoring", digest, ("v1",))
    [call] = fake.calls("UpdateImageStorageClass")
    assert call == {
        "registryId": ACCOUNT,
        "repositoryName": REPO,
        "imageId": {"imageDigest": digest},
        "targetStorageClass": "STANDARD",
    }
    assert ecr_image(REPO, digest).image_status == "ACTIVATING"
    [entry, *_] = await audit(lifeguard)
    assert (entry["action"], entry["before"], entry["after"]) == (
        "restore",
        "ARCHIVED",
        "ACTIVATING",
    )

    seen: list[str] = []
    changed = asyncio.Event()

    async def on_change(status: str) -> None:
        seen.append(status)
        changed.set()

    following = asyncio.create_task(
        service.follow(result.repository, digest, interval=0.02, on_change=on_change)
    )
    await asyncio.wait_for(changed.wait(), 10)
    assert seen == ["ACTIVATING"] and not following.done()
    activated = datetime(2025, 6, 2, 12, 20, tzinfo=UTC)
    fake.finish_restore(REPO, digest, activated)
    assert await asyncio.wait_for(following, 10) == "ACTIVE"
    assert seen == ["ACTIVATING", "ACTIVE"]
    details = ecr.describe_images(repositoryName=REPO)["imageDetails"]
    assert details[0]["imageStatus"] == "ACTIVE"
    assert details[0]["lastActivatedAt"] == activated
    again = await service.restore(ALICE, ref("app:v1"))
    assert again.status == "already_active"
    assert len(fake.calls("UpdateImageStorageClass")) == 1


async def test_a_restore_in_progress_is_not_started_again(
    ecr: Any, lifeguard: Lifeguard, fake: EcrFake
) -> None:
    create_repository(ecr, policy=None)
    digest = push_image(ecr, "v1", ["v1"], age_days=200)
    archive(REPO, digest, datetime.fromtimestamp(T0 - 100 * DAY, UTC), activating=True)
    service = RestoreService(lifeguard)
    result = await service.restore(ALICE, ref(f"app@{digest}"))
    assert (result.status, result.digest) == ("restoring", digest)
    assert fake.calls("UpdateImageStorageClass") == []
    assert ecr_image(REPO, digest).image_status == "ACTIVATING"


async def test_an_active_image_is_already_active(
    ecr: Any, lifeguard: Lifeguard, fake: EcrFake
) -> None:
    create_repository(ecr, policy=None)
    digest = push_image(ecr, "v1", ["v1", "git-4f2a9c1"])
    result = await RestoreService(lifeguard).restore(ALICE, ref("app:v1"))
    assert (result.status, result.digest) == ("already_active", digest)
    assert set(result.tags) == {"v1", "git-4f2a9c1"}
    assert fake.calls("UpdateImageStorageClass") == [] and fake.calls("PutImage") == []
    assert await audit(lifeguard) == []


async def save_in_vault(lifeguard: Lifeguard, ecr: Any, digest: str, tags: tuple[str, ...]) -> None:
    text, media_type = manifest_in_moto(ecr, digest)
    saved = SavedManifest(text, media_type, tags, T0 - DAY)
    assert await lifeguard.vault.save(KEY, digest, saved)


async def test_a_deleted_image_is_re_pushed_from_its_saved_manifest(
    ecr: Any, lifeguard: Lifeguard, fake: EcrFake
) -> None:
    create_repository(ecr, policy=None)
    manifest = manifest_without_media_type("v1")
    digest = push_image(ecr, "v1", ["v1", "git-4f2a9c1"], manifest=manifest)
    other = push_image(ecr, "v2", ["v2"])
    await save_in_vault(lifeguard, ecr, digest, ("v1", "git-4f2a9c1"))
    ecr.batch_delete_image(repositoryName=REPO, imageIds=[{"imageDigest": digest}])
    assert tags_by_digest(ecr) == {other: {"v2"}}

    result = await RestoreService(lifeguard).restore(ALICE, ref("app:v1"))
    assert (result.status, result.digest) == ("repushed", digest)
    assert set(result.tags) == {"v1", "git-4f2a9c1"}
    assert tags_by_digest(ecr) == {digest: {"v1", "git-4f2a9c1"}, other: {"v2"}}
    assert manifest_in_moto(ecr, digest) == (manifest, OCI_MANIFEST)
    [check] = fake.calls("BatchCheckLayerAvailability")
    document = json.loads(manifest)
    assert set(check["layerDigests"]) == {
        document["config"]["digest"],
        *(layer["digest"] for layer in document["layers"]),
    }
    [entry, *_] = await audit(lifeguard)
    assert (entry["action"], entry["result"], entry["digest"]) == ("restore", "ok", digest)
    assert entry["detail"] == "re-pushed from the saved manifest"


async def test_a_deleted_image_whose_layers_are_gone_gets_the_rebuild_hint(
    ecr: Any, lifeguard: Lifeguard, fake: EcrFake
) -> None:
    create_repository(ecr, policy=None)
    digest = push_image(ecr, "v1", ["v1", "git-4f2a9c1"])
    await save_in_vault(lifeguard, ecr, digest, ("git-4f2a9c1", "v1"))
    ecr.batch_delete_image(repositoryName=REPO, imageIds=[{"imageDigest": digest}])
    layer = json.loads(image_manifest("v1"))["layers"][0]["digest"]
    fake.forget_layers(layer)
    with pytest.raises(CommandError) as refused:
        await RestoreService(lifeguard).restore(ALICE, ref("app:v1"))
    message = str(refused.value)
    assert "cannot be re-pushed: ECR has already cleaned up its layers" in message
    assert "Rebuild it from commit 4f2a9c1 and push it again under v1." in message
    assert tags_by_digest(ecr) == {} and fake.calls("PutImage") == []


async def test_a_deleted_image_without_a_saved_manifest_is_refused(
    ecr: Any, lifeguard: Lifeguard, fake: EcrFake
) -> None:
    create_repository(ecr, policy=None)
    digest = push_image(ecr, "v1", ["v1"])
    ecr.batch_delete_image(repositoryName=REPO, imageIds=[{"imageDigest": digest}])
    service = RestoreService(lifeguard)
    for text in ("app:v1", f"app@{digest}"):
        with pytest.raises(CommandError) as refused:
            await service.restore(ALICE, ref(text))
        assert "ECR Lifeguard never saw it in use, so it has no copy of its manifest" in str(
            refused.value
        )
        assert "Rebuild it from the commit it was built from" in str(refused.value)
    assert tags_by_digest(ecr) == {} and fake.calls("PutImage") == []


# --- the alert loop (the blog case) ---------------------------------------------------------------

BLOG_KEY = RepositoryKey(ACCOUNT, REGION, BLOG_REPOSITORY)
SHARED_KEY = image_key(BLOG_KEY, SHARED_DIGEST)
SHORT = SHARED_DIGEST.removeprefix("sha256:")[:12]
EVALUATED = parse_instant("2022-12-23T03:00:00Z")
SHOP_CHANNEL, ASSETS_CHANNEL = "C0SHOP", "C0ASSETS"


@pytest.fixture
async def stub() -> AsyncIterator[SlackStub]:
    async with SlackStub() as slack:
        slack.add_channel(SHOP_CHANNEL, "shop-oncall")
        slack.add_channel(ASSETS_CHANNEL, "assets")
        yield slack


@dataclass
class Blog:
    """The blog repository in moto, what uses it, and a factory of alert loops."""

    ecr: Any
    by_tag: dict[str, str]
    references: Path
    make_lifeguard: Factory
    stub: SlackStub
    clock: Clock

    def lifeguard(
        self,
        *,
        owner_channel: str | None = None,
        rules: list[dict[str, str]] | None = None,
        store: Store | None = None,
        **overrides: Any,
    ) -> Lifeguard:
        shared: dict[str, str] = {
            "image": f"{BLOG_REPOSITORY}@{SHARED_DIGEST}",
            "name": "shop/web-6-x2k9 (still running the shared digest)",
        }
        if owner_channel:
            shared["channel"] = owner_channel
        current = {"image": f"{BLOG_REPOSITORY}:tag-1-257-0", "name": "shop/web"}
        document = {
            "defaults": {"registry": ACCOUNT, "region": REGION},
            "references": [shared, current],
        }
        self.references.write_text(json.dumps(document))  # JSON is YAML
        values: dict[str, Any] = {
            "inventory": {"ecs": False, "lambda": False, "static_references": self.references},
            "routing": {"rules": rules or [], "default_channel": CHANNEL_ID},
        }
        values.update(overrides)
        return self.make_lifeguard(store, **values)

    def loop(self, lifeguard: Lifeguard) -> AlertLoop:
        client = web_client(BOT_TOKEN, self.stub.api_url)
        notifier = SlackNotifier(client, protect_for=lifeguard.settings.protect.default_duration)
        return AlertLoop(lifeguard, notifier)

    def slack_writes(self) -> int:
        return len(self.stub.calls_to("chat.postMessage")) + len(self.stub.calls_to("chat.update"))


@pytest.fixture
def blog(
    *,
    ecr: Any,
    fake: EcrFake,
    make_lifeguard: Factory,
    stub: SlackStub,
    clock: Clock,
    tmp_path: Path,
) -> Blog:
    by_tag = load_blog_repository(ecr)
    fake.evaluated(BLOG_REPOSITORY, EVALUATED)
    clock.now = parse_instant(BLOG_NOW)
    return Blog(ecr, by_tag, tmp_path / "references.yaml", make_lifeguard, stub, clock)


def action_ids(message: Any) -> list[str]:
    return [
        element["action_id"]
        for block in message.blocks
        if block["type"] == "actions"
        for element in block["elements"]
    ]


def section_texts(message: Any) -> list[str]:
    return [b["text"]["text"] for b in message.blocks if b["type"] == "section"]


def header_text(message: Any) -> str:
    [header] = [b for b in message.blocks if b["type"] == "header"]
    text: str = header["text"]["text"]
    return text


async def test_one_alert_with_three_buttons_and_never_twice(blog: Blog, fake: EcrFake) -> None:
    lifeguard = blog.lifeguard()
    loop = blog.loop(lifeguard)
    summary = await loop.cycle()
    assert summary.ran and summary.problems == ()
    assert (summary.risks, summary.posted, summary.unrouted) == (1, 1, 0)
    [message] = blog.stub.messages(CHANNEL_ID)
    assert f"{BLOG_REPOSITORY} {SHORT}" in header_text(message)
    assert action_ids(message) == ["lg_protect", "lg_snooze", "lg_why"]
    [buttons] = [b["elements"] for b in message.blocks if b["type"] == "actions"]
    assert buttons[0]["text"]["text"].startswith("Protect 7")
    assert buttons[1]["text"]["text"] == "Snooze until next evaluation"
    assert buttons[2]["text"]["text"] == "Why?"
    assert SHARED_DIGEST in json.dumps(message.blocks)
    record = await lifeguard.alerts.get(SHARED_KEY)
    assert record is not None and (record.channel, record.ts) == (CHANNEL_ID, message.ts)
    assert record.state == "open" and record.posted_at == blog.clock.now

    again = await loop.cycle()
    assert again.ran and (again.risks, again.posted, again.updated) == (1, 0, 0)
    restarted = await blog.loop(blog.lifeguard()).cycle()  # a new replica, the same store
    assert (restarted.posted, restarted.updated) == (0, 0)
    assert blog.slack_writes() == 1 and len(blog.stub.messages(CHANNEL_ID)) == 1


@pytest.mark.parametrize(
    ("owner_channel", "rule_glob", "expected"),
    [
        ("#shop-oncall", "webshop-*", SHOP_CHANNEL),  # the consumer's channel wins
        (None, "webshop-*", ASSETS_CHANNEL),  # then the repository rules
        (None, "billing-*", CHANNEL_ID),  # then the default channel
    ],
)
async def test_alert_routing(
    blog: Blog, owner_channel: str | None, rule_glob: str, expected: str
) -> None:
    lifeguard = blog.lifeguard(
        owner_channel=owner_channel, rules=[{"repositories": rule_glob, "channel": "#assets"}]
    )
    summary = await blog.loop(lifeguard).cycle()
    assert summary.posted == 1
    posted = {c: len(blog.stub.messages(c)) for c in (SHOP_CHANNEL, ASSETS_CHANNEL, CHANNEL_ID)}
    assert posted == {c: int(c == expected) for c in posted}
    record = await lifeguard.alerts.get(SHARED_KEY)
    assert record is not None and record.channel == expected  # the id, even for "#shop-oncall"


async def test_protecting_resolves_the_alert_in_place_and_the_lease_end_reopens_it(
    blog: Blog, fake: EcrFake
) -> None:
    lifeguard = blog.lifeguard()
    loop = blog.loop(lifeguard)
    await loop.cycle()
    record = await lifeguard.alerts.get(SHARED_KEY)
    assert record is not None
    service = ProtectService(lifeguard)
    shared = ImageRef(BLOG_REPOSITORY, digest=SHARED_DIGEST)
    result = await service.protect(
        ALICE, shared, None, "rollback", channel=record.channel, thread_ts=record.ts
    )
    assert result.change is not None and result.change.token
    _, shielding = await service.apply_guard(ALICE, result.change.token)
    assert shielding.shielded

    summary = await loop.cycle()
    assert (summary.risks, summary.posted, summary.resolved) == (0, 0, 1)
    [update] = blog.stub.calls_to("chat.update")
    assert update.args["ts"] == record.ts
    [message] = blog.stub.messages(CHANNEL_ID)
    assert message.ts == record.ts and message.edited is not None
    assert header_text(message) == f"🛡️ Protected: {BLOG_REPOSITORY} {SHORT}"
    assert "Protected by" in section_texts(message)[0]
    assert "lg_protect" not in action_ids(message)
    [reply] = blog.stub.replies(CHANNEL_ID, record.ts)
    assert "Protected" in reply.text
    resolved = await lifeguard.alerts.get(SHARED_KEY)
    assert resolved is not None and resolved.state == "resolved"
    assert await lifeguard.alerts.open_alerts() == []
    assert (await loop.cycle()).resolved == 0  # a resolved alert is not revisited

    blog.clock.advance(7 * DAY + 60)  # the lease ends: its keep tag goes, in the thread
    ended = await loop.cycle()
    assert ended.leases_ended == 1
    assert (
        keep_tag_of(SHARED_DIGEST) not in tags_by_digest(blog.ecr, BLOG_REPOSITORY)[SHARED_DIGEST]
    )
    texts = [r.text for r in blog.stub.replies(CHANNEL_ID, record.ts)]
    assert texts[-1] == f"The protection by <@U0ALICE> ended: keep-{SHORT} removed."

    reopened = await loop.cycle()  # at risk again: the same thread, updated in place
    assert (reopened.posted, reopened.risks) == (1, 1)
    assert [m.ts for m in blog.stub.messages(CHANNEL_ID)] == [record.ts]
    assert blog.stub.replies(CHANNEL_ID, record.ts)[-1].text == "At risk again."
    assert action_ids(blog.stub.message(CHANNEL_ID, record.ts))[0] == "lg_protect"
    again = await lifeguard.alerts.get(SHARED_KEY)
    assert again is not None and again.state == "open"


async def test_a_deleted_image_gets_a_restore_button_and_can_be_restored(
    blog: Blog, fake: EcrFake
) -> None:
    lifeguard = blog.lifeguard()
    loop = blog.loop(lifeguard)
    await loop.cycle()
    record = await lifeguard.alerts.get(SHARED_KEY)
    assert record is not None
    before = manifest_in_moto(blog.ecr, SHARED_DIGEST, BLOG_REPOSITORY)
    tags = tags_by_digest(blog.ecr, BLOG_REPOSITORY)[SHARED_DIGEST]
    blog.ecr.batch_delete_image(
        repositoryName=BLOG_REPOSITORY, imageIds=[{"imageDigest": SHARED_DIGEST}]
    )  # ECR expired it
    summary = await loop.cycle()
    assert (summary.risks, summary.resolved) == (0, 1)
    message = blog.stub.message(CHANNEL_ID, record.ts)
    assert header_text(message) == f"🗑️ Deleted: {BLOG_REPOSITORY} {SHORT}"
    assert action_ids(message) == ["lg_restore", "lg_why"]
    deleted = await lifeguard.alerts.get(SHARED_KEY)
    assert deleted is not None and deleted.state == "deleted"

    restored = await RestoreService(lifeguard).restore(
        ALICE, ImageRef(BLOG_REPOSITORY, digest=SHARED_DIGEST)
    )
    assert restored.status == "repushed" and set(restored.tags) == tags
    assert manifest_in_moto(blog.ecr, SHARED_DIGEST, BLOG_REPOSITORY) == before
    assert tags_by_digest(blog.ecr, BLOG_REPOSITORY)[SHARED_DIGEST] == tags


async def test_in_use_manifests_are_saved_once(blog: Blog, fake: EcrFake) -> None:
    lifeguard = blog.lifeguard()
    loop = blog.loop(lifeguard)
    await loop.cycle()
    current = blog.by_tag["tag-1-257-0"]
    for digest in (SHARED_DIGEST, current):
        saved = await lifeguard.vault.get(BLOG_KEY, digest)
        assert saved is not None
        assert (saved.text, saved.media_type) == manifest_in_moto(blog.ecr, digest, BLOG_REPOSITORY)
        assert set(saved.tags) == tags_by_digest(blog.ecr, BLOG_REPOSITORY)[digest]
        assert saved.saved_at == blog.clock.now
    assert await lifeguard.vault.digest_for_tag(BLOG_KEY, "tag-1-257-0") == current
    others = set(tags_by_digest(blog.ecr, BLOG_REPOSITORY)) - {SHARED_DIGEST, current}
    assert not [d for d in others if await lifeguard.vault.has(BLOG_KEY, d)]
    fetched = fake.operations["BatchGetImage"]
    blog.clock.advance(3600)
    await loop.cycle()
    assert fake.operations["BatchGetImage"] == fetched  # nothing fetched again
    saved = await lifeguard.vault.get(BLOG_KEY, SHARED_DIGEST)
    assert saved is not None and saved.saved_at == blog.clock.now - 3600


def edited_blog_policy() -> str:
    """The blog policy with the count rule moved from priority 1 to 2 (the risk changes)."""
    policy = json.loads(blog_policy_text())
    policy["rules"][0]["rulePriority"] = 2
    return json.dumps(policy)


def blog_policy_text() -> str:
    return (Path(__file__).resolve().parents[2] / "examples" / "blog" / "policy.json").read_text()


async def test_snooze_holds_until_ecr_evaluates_again(blog: Blog, fake: EcrFake) -> None:
    lifeguard = blog.lifeguard()
    loop = blog.loop(lifeguard)
    await loop.cycle()
    snoozed = await snooze(lifeguard, BOB, BLOG_KEY, SHARED_DIGEST)  # anyone may snooze
    assert (snoozed.snoozed_at, snoozed.snoozed_evaluation) == (blog.clock.now, EVALUATED)
    [entry, *_] = await audit(lifeguard)
    assert (entry["action"], entry["actor"], entry["result"]) == ("snooze", "<@U0BOB>", "ok")
    blog.ecr.put_lifecycle_policy(
        repositoryName=BLOG_REPOSITORY, lifecyclePolicyText=edited_blog_policy()
    )
    writes = blog.slack_writes()
    blog.clock.advance(6 * 3600)
    quiet = await loop.cycle()
    assert (quiet.risks, quiet.updated, quiet.posted) == (1, 0, 0)
    assert blog.slack_writes() == writes  # the changed risk is not shown while snoozed

    fake.evaluated(BLOG_REPOSITORY, EVALUATED + DAY)
    woke = await loop.cycle()
    assert woke.updated == 1
    record = await lifeguard.alerts.get(SHARED_KEY)
    assert record is not None and not record.snoozed and record.fingerprint.startswith("EXPIRE:2")
    [reply] = blog.stub.replies(CHANNEL_ID, record.ts)
    assert reply.text == "ECR evaluated the repository again: the snooze ended."
    [update] = blog.stub.calls_to("chat.update")
    assert update.args["ts"] == record.ts


async def test_snooze_without_an_evaluation_time_lasts_a_day(blog: Blog, fake: EcrFake) -> None:
    fake.evaluated(BLOG_REPOSITORY, None)  # ECR has not reported an evaluation
    lifeguard = blog.lifeguard()
    loop = blog.loop(lifeguard)
    await loop.cycle()
    snoozed = await snooze(lifeguard, ALICE, BLOG_KEY, SHARED_DIGEST)
    assert snoozed.snoozed_evaluation is None
    writes = blog.slack_writes()
    blog.clock.advance(DAY - 60)
    assert (await loop.cycle()).updated == 0 and blog.slack_writes() == writes
    blog.clock.advance(60)
    assert (await loop.cycle()).updated == 1
    record = await lifeguard.alerts.get(SHARED_KEY)
    assert record is not None and not record.snoozed
    assert blog.stub.replies(CHANNEL_ID, record.ts)[-1].text.endswith("the snooze ended.")


async def test_two_replicas_on_one_store_run_one_cycle(blog: Blog, kit: StoreKit) -> None:
    first = blog.loop(blog.lifeguard())
    second = blog.loop(blog.lifeguard(store=await kit.another()))
    assert first.token != second.token
    results = await asyncio.gather(first.cycle(), second.cycle())
    assert sorted(r.ran for r in results) == [False, True]
    assert sum(r.posted for r in results) == 1
    assert len(blog.stub.calls_to("chat.postMessage")) == 1
    later = await second.cycle()  # the lock was released; the alert exists already
    assert later.ran and later.posted == 0
    assert len(blog.stub.calls_to("chat.postMessage")) == 1


async def test_only_the_replica_holding_the_claim_posts(blog: Blog, kit: StoreKit) -> None:
    lifeguard = blog.lifeguard()
    first = blog.loop(lifeguard)
    second = blog.loop(blog.lifeguard(store=await kit.another()))
    # The first replica claimed the alert and is posting it (or died while posting).
    assert await lifeguard.alerts.claim(SHARED_KEY, first.token)
    skipped = await second.cycle()
    assert skipped.ran and (skipped.risks, skipped.posted) == (1, 0)
    assert blog.stub.calls_to("chat.postMessage") == []
    posted = await first.cycle()
    assert posted.posted == 1 and len(blog.stub.messages(CHANNEL_ID)) == 1
    assert (await second.cycle()).posted == 0


async def test_the_resolved_alert_mentions_who_protected_the_image(stub: SlackStub) -> None:
    notifier = SlackNotifier(web_client(BOT_TOKEN, stub.api_url), protect_for=7 * DAY)
    ts = await notifier.post(CHANNEL_ID, {"text": "alert"})
    record = AlertRecord(BLOG_KEY, SHARED_DIGEST, CHANNEL_ID, ts, "open", "EXPIRE:1:now", T0)
    await notifier.resolve_alert(record, Resolution("protected", "protected by <@U0ALICE>"))
    [section] = section_texts(stub.message(CHANNEL_ID, ts))
    assert "<@U0ALICE>" in section
