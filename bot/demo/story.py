"""The demo's story, step by step, on the simulated clock of the blog case (2022-12-23).

1. The scheduled scan alerts on ``tag-1-253-0``: running, and expired by rule 1 because its
   digest was first pushed before ``tag-1-251-0``'s.
2. CI pushes ``tag-1-258-0``; the push event reaches the bot through its queue, and the
   rollback target ``tag-1-251-0`` falls out of "keep last 5".
3. Alice protects ``tag-1-253-0`` with ``/ecr protect``; she applies the guard rule, the
   evaluator confirms the image is shielded and the alert closes.
4. ECR's lifecycle run deletes from ``webshop-assets-copy``, an unprotected copy; its record
   reaches the bot as an event.
5. ``/ecr why-missing webshop-assets-copy:tag-1-253-0`` names rule 1 and the first push.

Example::

    await Story(world, console).tell()
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from rich.console import Console
from rich.rule import Rule
from rich.text import Text

from bot.demo.emulator import Emulator
from bot.demo.event_queue import MemoryQueue
from bot.demo.events import Expired, describe, lifecycle_run_event, push_event
from bot.demo.scene import (
    COPY,
    OCI_MANIFEST,
    REPOSITORY,
    ROLLBACK_TAG,
    RUNNING_TAG,
    image_manifest,
)
from bot.demo.scene import manifest_digest as digest_of
from bot.edge.aws.clients import AwsClients, targets
from bot.lifecycle.evaluate import evaluate
from bot.lifecycle.parse import parse_policy
from bot.lifecycle.timefmt import human, parse_instant
from bot.ops.authorize import Actor
from bot.ops.dispatch import Ops
from bot.ops.registry import BY_NAME, Invocation, parse_command
from bot.ops.verb import Reply
from bot.ops.verbs.buttons import ImageButton
from bot.ops.verbs.retag import Answer
from bot.ports import Manifest, Repository
from bot.refs import RepositoryKey
from bot.watch.consume import Handled
from bot.watch.schedule import Scheduler

START = parse_instant("2022-12-23T12:00:00Z")
NEW_TAG = "tag-1-258-0"
ALICE = "alice"
EVENT_SECONDS = 20.0
STEPS = 5
HOUR = 3_600.0


@dataclass
class Clock:
    """The simulated time every part of the demo's bot reads."""

    now: float = START

    def __call__(self) -> float:
        """The current simulated instant."""
        return self.now


@dataclass
class World:
    """What the story acts on: the emulator, the bot's parts, and where messages go.

    ``show`` prints a reply (a Slack payload) addressed to someone; ``handled`` receives what
    the consumer did with each event.
    """

    aws: Emulator
    clock: Clock
    scheduler: Scheduler
    ops: Ops
    queue: MemoryQueue
    channel: str
    show: Callable[[Reply, str], Awaitable[None]]
    handled: asyncio.Queue[Handled] = field(default_factory=asyncio.Queue)

    @property
    def key(self) -> RepositoryKey:
        """The blog repository."""
        return self.repository_key(REPOSITORY)

    def repository_key(self, name: str) -> RepositoryKey:
        """A repository of the emulator."""
        return RepositoryKey("123456789012", "us-east-1", name)


class Story:
    """Tells the story on a :class:`World`; see the module docstring."""

    def __init__(self, world: World, console: Console) -> None:
        self.world = world
        self.console = console
        self.step = 0

    async def tell(self) -> None:
        """Every step, in order."""
        await self.scan()
        await self.push()
        await self.protect()
        await self.lifecycle_run()
        await self.why_missing()

    def begin(self, at: float, title: str, explanation: str) -> None:
        """A numbered step: the simulated time, what happens, in one line each."""
        self.step += 1
        self.world.clock.now = at
        self.console.print()
        self.console.print(Rule(f"Step {self.step} of {STEPS} · {human(at)}", align="left"))
        self.console.print(Text(title, style="bold"))
        self.console.print(Text(explanation, style="dim"))

    def note(self, text: str) -> None:
        """A line of the narration."""
        self.console.print(Text(f"→ {text}"))

    async def scan(self) -> None:
        """Step 1: the scheduled scan and its alerts."""
        self.begin(
            START,
            "The scheduled scan",
            "The bot evaluates every lifecycle policy exactly as ECR does, joins the result with "
            "what ECS and Kubernetes run, and alerts on the in-use images ECR will delete.",
        )
        summary = await self.world.scheduler.cycle()
        self.note(f"Scan done: {summary.describe()}.")
        digest = await self.digest_of(REPOSITORY, RUNNING_TAG)
        self.note(f"Alice clicks More on the {RUNNING_TAG} alert: the rest of the reasoning")
        more = Invocation(BY_NAME["why"], ImageButton(self.world.key, digest))
        await self.world.show(await self.world.ops.run(more, self.actor()), ALICE)

    async def push(self) -> None:
        """Step 2: a push arrives as an event and endangers the rollback target."""
        self.begin(
            START + 5 * 60,
            f"CI pushes {NEW_TAG}",
            "ECR sends a push event to the bot's queue; the bot reads the new image, evaluates "
            f"the repository again and updates its alerts: one more release pushes {ROLLBACK_TAG}"
            ', a rollback target, out of "keep the last 5".',
        )
        manifest = image_manifest(NEW_TAG)
        digest = digest_of(manifest)
        async with self.world.scheduler.deps.cloud() as cloud:
            registry = cloud.registry_for(self.world.key)
            repository = Repository(self.world.key, "", "")
            await registry.put_manifest(
                repository, Manifest(digest, manifest, OCI_MANIFEST), NEW_TAG
            )
        self.world.aws.set_pushed_at(REPOSITORY, digest, self.world.clock())
        await self.deliver(push_event(REPOSITORY, digest, NEW_TAG, at=self.world.clock()))

    async def protect(self) -> None:
        """Step 3: ``/ecr protect``, the guard rule applied, the evaluator's word."""
        self.begin(
            START + 10 * 60,
            f"Alice protects {RUNNING_TAG}",
            "The bot tags the digest with a keep tag, shows the guard rule the policy needs, "
            "applies it when Alice confirms, and re-runs the evaluator to check the image is "
            "shielded.",
        )
        text = f"protect {REPOSITORY}:{RUNNING_TAG} for 7d while 1.253 is live"
        reply = await self.command(text)
        if reply.pending is not None:
            self.note("Alice confirms: she applies the guard rule")
            answer = Invocation(BY_NAME[reply.pending.confirm_verb], Answer(reply.pending.token))
            await self.world.show(await self.world.ops.run(answer, self.actor()), ALICE)

    async def lifecycle_run(self) -> None:
        """Step 4: ECR's lifecycle run on the unprotected copy, reported as an event."""
        at = START + 15 * HOUR + 14 * 60
        self.begin(
            at,
            f"ECR's lifecycle run on {COPY}",
            f"{COPY} holds the same images and policy, without protection. ECR's run expires "
            "what the policy selects; the record of the run reaches the bot as an event, which "
            "it keeps as evidence.",
        )
        policy, expired = await self.expire(COPY)
        tags = ", ".join(sorted(t for image in expired for t in image.tags if t.startswith("tag")))
        self.note(f"ECR deleted {len(expired)} images from {COPY}, among them {tags}.")
        await self.deliver(lifecycle_run_event(COPY, policy, expired, at=self.world.clock()))

    async def why_missing(self) -> None:
        """Step 5: why-missing on the deleted tag."""
        self.begin(
            START + 15 * HOUR + 40 * 60,
            f"A deploy from {COPY} fails: manifest unknown",
            "why-missing looks up the repository, the image and the evidence, and names what "
            "deleted it, and why.",
        )
        await self.command(f"why-missing {COPY}:{RUNNING_TAG}")

    # --- parts ---------------------------------------------------------------------------------

    async def digest_of(self, name: str, tag: str) -> str:
        """The digest a tag names now, as ECR lists it."""
        async with self.world.scheduler.deps.cloud() as cloud:
            repository = Repository(self.world.repository_key(name), "", "")
            images = await cloud.registry_for(repository.key).images(repository)
        return next(image.digest for image in images if tag in image.tags)

    def actor(self) -> Actor:
        """Alice, in the alert channel."""
        return Actor(ALICE, self.world.channel)

    async def command(self, text: str) -> Reply:
        """Run ``/ecr text`` as Alice and show the reply."""
        self.note(f"Alice: /ecr {text}")
        reply = await self.world.ops.run(parse_command(text), self.actor())
        await self.world.show(reply, ALICE)
        return reply

    async def deliver(self, event: dict[str, object]) -> None:
        """Send an event to the queue and wait until the consumer has handled it."""
        self.note(f"On the queue: {describe(event)}")
        self.world.queue.send(json.dumps(event))
        handled = await asyncio.wait_for(self.world.handled.get(), EVENT_SECONDS)
        self.note(f"The bot handled the {handled.kind.replace('_', ' ')} event: {handled.outcome}.")

    async def expire(self, name: str) -> tuple[str, list[Expired]]:
        """The policy of ``name``, and what it expires now, deleted as ECR's run would."""
        key = self.world.repository_key(name)
        async with self.world.scheduler.deps.cloud() as cloud:
            registry = cloud.registry_for(key)
            repository = await registry.repository(name)
            assert repository is not None
            images = await registry.images(repository)
            info = await registry.lifecycle_policy(repository)
        assert info is not None
        evaluation = evaluate(parse_policy(info.text), images, self.world.clock())
        expired = [
            Expired(d.rule.rule_priority, d.image.digest, d.image.tags, d.image.pushed_at)
            for d in evaluation.acted()
            if d.rule is not None
        ]
        await self._delete(name, [e.digest for e in expired])
        return info.text, expired

    async def _delete(self, name: str, digests: list[str]) -> None:
        """Delete as ECR's lifecycle engine does (the emulator has none)."""
        settings = self.world.scheduler.deps.settings.aws
        ids = [{"imageDigest": digest} for digest in digests]
        async with AwsClients(settings) as clients:
            await clients.call(
                targets(settings)[0], "ecr", "batch_delete_image", repositoryName=name, imageIds=ids
            )
