"""What the bot's integration tests share: a hand-moved clock, the stores under test, arranging
moto, and running the verbs' runners directly (their errors raised, not turned into replies)."""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from bot.edge.aws.cloud import open_cloud
from bot.edge.stores.redis_store import RedisStore
from bot.lifecycle.evaluate import evaluate
from bot.lifecycle.parse import parse_policy
from bot.lifecycle.timefmt import parse_instant
from bot.ops.authorize import Actor
from bot.ops.call import Call
from bot.ops.deps import Dependencies
from bot.ops.registry import BY_NAME
from bot.ops.results import (
    PolicyChange,
    ProtectResult,
    RestoreResult,
    RetagResult,
    Shielding,
    UnprotectResult,
)
from bot.ops.verbs import guard, protect, restore, retag, unprotect
from bot.refs import ImageRef, RepositoryKey, parse_image_ref
from bot.state.records import Confirmations, SavedManifest, image_key
from bot.state.store import Store
from tests.support.blog import REPOSITORY as BLOG_REPOSITORY
from tests.support.blog import SHARED_DIGEST
from tests.support.moto_state import (
    ACCOUNT,
    OCI_MANIFEST,
    REGION,
    image_manifest,
    push,
    set_image_times,
)

DAY = 86_400.0
T0 = parse_instant("2025-06-02T12:00:00Z")
REPO = "app"
KEY = RepositoryKey(ACCOUNT, REGION, REPO)
ALICE = Actor("U0ALICE", "C0OPS")
BOB = Actor("U0BOB", "C0RANDOM")
ALICE_ELSEWHERE = Actor("U0ALICE", "C0OTHER")  # the same allowed user, in another channel
KEEP = re.compile(r"^keep-[0-9a-f]{12}$")
BLOG_KEY = RepositoryKey(ACCOUNT, REGION, BLOG_REPOSITORY)
SHARED_KEY = image_key(BLOG_KEY, SHARED_DIGEST)
SHORT = SHARED_DIGEST.removeprefix("sha256:")[:12]
EVALUATED = parse_instant("2022-12-23T03:00:00Z")
SHOP_CHANNEL, ASSETS_CHANNEL = "C0SHOP", "C0ASSETS"

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


@dataclass
class Clock:
    """A clock the test moves by hand (the verbs and the in-process store read it)."""

    now: float = T0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


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


class Verbs:
    """The verbs' runners, called directly with a :class:`Call` (errors are raised).

    ``Verbs(deps).protect(ALICE, ref("app:v1"), 3 * DAY, "why")`` is what ``/ecr protect app:v1
    for 3d why`` runs after parsing.
    """

    def __init__(self, deps: Dependencies) -> None:
        self.deps = deps

    def call(self, name: str, actor: Actor) -> Call:
        verb = BY_NAME[name]
        return Call(self.deps, actor, verb.action, verb.permission)

    async def protect(
        self,
        actor: Actor,
        image: ImageRef,
        duration: float | None,
        reason: str,
        *,
        channel: str | None = None,
        thread_ts: str | None = None,
    ) -> ProtectResult:
        text = f"{duration:g}s" if duration is not None else ""
        args = protect.Protect(image, duration, text, reason, channel, thread_ts)
        return await protect.run(self.call("protect", actor), args)

    async def apply_guard(self, actor: Actor, token: str) -> tuple[PolicyChange, Shielding]:
        applied = await guard.run(self.call("apply-guard", actor), retag.Answer(token))
        return applied.change, applied.shielding

    async def unprotect(self, actor: Actor, image: ImageRef) -> UnprotectResult:
        return await unprotect.run(self.call("unprotect", actor), unprotect.Unprotect(image))

    async def end_due_leases(self) -> list[UnprotectResult]:
        return await unprotect.end_due_leases(self.deps)

    async def retag(self, actor: Actor, image: ImageRef, tag: str) -> RetagResult:
        return await retag.run(self.call("retag", actor), retag.Retag(image, tag))

    async def confirm(self, actor: Actor, token: str) -> RetagResult:
        return await retag.run_move(self.call("move-tag", actor), retag.Answer(token))

    async def restore(self, actor: Actor, image: ImageRef) -> RestoreResult:
        return await restore.run(self.call("restore", actor), restore.Restore(image, follow=False))

    async def follow(self, repository: RepositoryKey, digest: str, **options: Any) -> str:
        return await restore.follow(self.deps, repository, digest, **options)


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


async def audit(deps: Dependencies, count: int = 20) -> list[dict[str, Any]]:
    """The newest audit entries as stored (JSON objects)."""
    return [entry.as_json() for entry in await deps.audit.recent(count)]


async def fresh_evaluation(deps: Dependencies, digest: str) -> Any:
    """The decision for ``digest`` under the policy now in ECR, from a fresh read of ECR."""
    async with open_cloud(deps.settings) as cloud:
        registry = cloud.registries()[0]
        repository = await registry.repository(REPO)
        assert repository is not None
        info = await registry.lifecycle_policy(repository)
        assert info is not None
        images = await registry.images(repository)
    return evaluate(parse_policy(info.text), images, deps.clock()).decision(digest)


async def save_in_vault(deps: Dependencies, ecr: Any, digest: str, tags: tuple[str, ...]) -> None:
    text, media_type = manifest_in_moto(ecr, digest)
    saved = SavedManifest(text=text, media_type=media_type, tags=tags, saved_at=T0 - DAY)
    assert await deps.vault.save(KEY, digest, saved)


def ref(text: str) -> ImageRef:
    return parse_image_ref(text)


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


def manifest_without_media_type(seed: str) -> str:
    """An OCI manifest that leaves ``mediaType`` out: PutImage then needs the media type."""
    document = json.loads(image_manifest(seed))
    del document["mediaType"]
    return json.dumps(document, indent=2) + "\n"  # bytes nobody would re-serialise the same way


def blog_policy_text() -> str:
    return (Path(__file__).resolve().parents[2] / "examples" / "blog" / "policy.json").read_text()


def edited_blog_policy() -> str:
    """The blog policy with the count rule moved from priority 1 to 2 (the risk changes)."""
    policy = json.loads(blog_policy_text())
    policy["rules"][0]["rulePriority"] = 2
    return json.dumps(policy)


def action_ids(message: Any) -> list[str]:
    """The action ids of a message's buttons and menus, in order (section accessories too)."""
    found = []
    for block in message.blocks:
        if block["type"] == "actions":
            found += [element["action_id"] for element in block["elements"]]
        elif "action_id" in block.get("accessory", {}):
            found.append(block["accessory"]["action_id"])
    return found


def section_texts(message: Any) -> list[str]:
    return [b["text"]["text"] for b in message.blocks if b["type"] == "section" and "text" in b]


def header_text(message: Any) -> str:
    [header] = [b for b in message.blocks if b["type"] == "header"]
    text: str = header["text"]["text"]
    return text
