"""The ECS and Lambda inventory sources against moto (and the service-revisions fake), over HTTP."""

from __future__ import annotations

import io
import zipfile
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.edge.aws.clients import AwsClients, targets
from bot.edge.aws.ecr import EcrRegistry
from bot.edge.aws.ecs import CHANNEL_TAG, DIGEST_NOT_REPORTED, EcsSource
from bot.edge.aws.lambda_functions import LambdaSource
from bot.errors import UpstreamError
from bot.inventory.models import Consumer, ImageUse, UseKind
from bot.inventory.resolve import uses_by_digest
from bot.inventory.sources import collect_inventory
from bot.refs import ImageRef
from bot.settings import AwsSettings
from tests.support.ecs_revisions import EcsRevisionsFake
from tests.support.moto_state import ACCOUNT, REGION, image_manifest, push, set_task_digests

SETTINGS = AwsSettings(regions=[REGION], max_attempts=1)
HOST = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"
FARGATE: dict[str, Any] = {
    "launchType": "FARGATE",
    "networkConfiguration": {"awsvpcConfiguration": {"subnets": ["subnet-1"]}},
}
OTHER_DIGEST = "sha256:" + "f" * 64


@pytest.fixture
async def revisions(moto: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[EcsRevisionsFake]:
    """The service-revision APIs for ECS clients made by AwsClients; the rest goes to moto."""
    async with EcsRevisionsFake(moto) as fake:
        monkeypatch.setenv("AWS_ENDPOINT_URL_ECS", fake.url)
        yield fake


async def collect(source: type[Any], **options: int) -> tuple[list[ImageUse], dict[str, int]]:
    async with AwsClients(SETTINGS) as aws:
        uses = await source(aws, targets(SETTINGS)[0], **options).collect()
        return uses, dict(aws.calls)


def ref(repository: str, tag: str | None = None, digest: str | None = None) -> ImageRef:
    return ImageRef(repository, tag, digest, ACCOUNT, REGION)


def consumer(kind: str, name: str, channel: str | None = None) -> Consumer:
    return Consumer(kind, name, account=ACCOUNT, region=REGION, channel=channel)


def channel_tags(channel: str) -> list[dict[str, str]]:
    return [{"key": CHANNEL_TAG, "value": channel}]


def register(ecs: Any, family: str, images: dict[str, str], channel: str | None = None) -> str:
    definition = ecs.register_task_definition(
        family=family,
        containerDefinitions=[
            {"name": name, "image": image, "memory": 128} for name, image in images.items()
        ],
        tags=channel_tags(channel) if channel else [],
    )
    return str(definition["taskDefinition"]["taskDefinitionArn"])


def service(ecs: Any, cluster: str, name: str, definition: str, channel: str | None = None) -> str:
    created = ecs.create_service(
        cluster=cluster,
        serviceName=name,
        taskDefinition=definition,
        desiredCount=1,
        tags=channel_tags(channel) if channel else [],
    )
    return str(created["service"]["serviceArn"])


def run(ecs: Any, cluster: str, definition: str, digests: list[str], **options: Any) -> list[str]:
    """Start tasks (``count`` of them) whose containers ECS resolved to ``digests``."""
    tasks = ecs.run_task(cluster=cluster, taskDefinition=definition, **FARGATE, **options)["tasks"]
    for task in tasks:
        set_task_digests(cluster, task["taskArn"], digests)
    return [task["taskArn"] for task in tasks]


def of_kind(uses: list[ImageUse], kind: UseKind) -> set[ImageUse]:
    return {use for use in uses if use.kind is kind}


async def test_running_tasks_report_the_digests_ecs_resolved(
    boto: Any, revisions: EcsRevisionsFake
) -> None:
    ecr, ecs = boto("ecr"), boto("ecs")
    ecr.create_repository(repositoryName="app")
    web = push(ecr, "app", image_manifest("web"), ["v1"])
    batch = push(ecr, "app", image_manifest("batch"), ["batch-1"])
    for cluster in ("prod", "jobs"):
        ecs.create_cluster(clusterName=cluster)
    web_definition = register(ecs, "web", {"web": f"{HOST}/app:v1", "proxy": "nginx:1.27"})
    batch_definition = register(ecs, "batch", {"worker": f"{HOST}/app:batch-1"})
    service(ecs, "prod", "web", web_definition, channel="#web-team")
    run(ecs, "prod", web_definition, [web, OTHER_DIGEST], group="service:web", count=2)
    run(ecs, "jobs", batch_definition, [batch], tags=channel_tags("#batch"))

    uses, calls = await collect(EcsSource, revisions=0)

    assert of_kind(uses, UseKind.RUNNING) == {
        ImageUse(
            ref("app", "v1", web),
            UseKind.RUNNING,
            consumer("ecs-service", "prod/web", "#web-team"),
            "container web",
        ),
        ImageUse(
            ref("app", "batch-1", batch),
            UseKind.RUNNING,
            consumer("ecs-task", "jobs/batch", "#batch"),
            "container worker",
        ),
    }
    assert all(use.ref.repository == "app" for use in uses), "nginx is not an ECR image"
    assert calls["ecs.ListClusters"] == 1
    assert calls["ecs.ListTasks"] == 2
    assert calls["ecs.DescribeTasks"] == 2  # one per cluster, every task of it at once


async def test_a_service_launches_its_pinned_digest_even_after_the_tag_moved(
    boto: Any, revisions: EcsRevisionsFake
) -> None:
    ecr, ecs = boto("ecr"), boto("ecs")
    ecr.create_repository(repositoryName="app")
    ancient = push(ecr, "app", image_manifest("ancient"))
    pinned = push(ecr, "app", image_manifest("pinned"), ["v1"])
    moved = push(ecr, "app", image_manifest("moved"), ["v1"])
    # moto deletes an image whose last tag moves away; real ECR keeps it untagged. Restore that.
    assert push(ecr, "app", image_manifest("pinned")) == pinned
    ecs.create_cluster(clusterName="prod")
    definition = register(ecs, "web", {"web": f"{HOST}/app:v1"})
    web = service(ecs, "prod", "web", definition, channel="#web-team")
    for status, digest, age in [
        ("SUCCESSFUL", ancient, 86_400.0),
        ("SUCCESSFUL", pinned, 3_600.0),
        ("IN_PROGRESS", moved, 60.0),
    ]:
        revision = revisions.add_revision(web, definition, [("web", f"{HOST}/app:v1", digest)])
        revisions.add_deployment(web, revision, status, age=age)

    uses, calls = await collect(EcsSource, revisions=0)

    launch = of_kind(uses, UseKind.LAUNCH)
    assert {use.ref.digest for use in launch} == {pinned, moved}, "not the older deployment's"
    assert {use.consumer for use in launch} == {consumer("ecs-service", "prod/web", "#web-team")}
    assert calls["ecs.ListServiceDeployments"] == 1
    assert calls["ecs.DescribeServiceRevisions"] == 1
    assert "ecs.DescribeTaskDefinition" not in calls
    # What a scan makes of it: the untagged digest the service would launch is in use.
    async with AwsClients(SETTINGS) as aws:
        registry = EcrRegistry(aws, targets(SETTINGS)[0])
        images = await registry.images((await registry.repositories())[0])
    in_use = uses_by_digest(images, launch)
    assert {image.digest: image.tags for image in images}[pinned] == ()
    assert set(in_use) == {pinned, moved}
    assert all(resolved.note is None for resolved in in_use[pinned])


@pytest.mark.parametrize(
    "error", ["UnknownOperationException", "AccessDeniedException", "ValidationException"]
)
async def test_without_the_revision_api_task_definitions_stand_in(
    boto: Any, revisions: EcsRevisionsFake, error: str
) -> None:
    ecr, ecs = boto("ecr"), boto("ecs")
    ecr.create_repository(repositoryName="app")
    pinned = push(ecr, "app", image_manifest("sidecar"))
    ecs.create_cluster(clusterName="prod")
    web = register(ecs, "web", {"web": f"{HOST}/app:v2", "log": f"{HOST}/app@{pinned}"})
    api = register(ecs, "api", {"api": f"{HOST}/app:v3", "proxy": "nginx:1.27"})
    service(ecs, "prod", "web", web, channel="#web-team")
    service(ecs, "prod", "api", api)
    revisions.fail("ListServiceDeployments", error)

    uses, calls = await collect(EcsSource, revisions=0)

    assert of_kind(uses, UseKind.LAUNCH) == {
        ImageUse(
            ref("app", "v2"),
            UseKind.LAUNCH,
            consumer("ecs-service", "prod/web", "#web-team"),
            f"container web, web:1: {DIGEST_NOT_REPORTED}",
        ),
        ImageUse(
            ref("app", digest=pinned),
            UseKind.LAUNCH,
            consumer("ecs-service", "prod/web", "#web-team"),
            "container log, web:1",
        ),
        ImageUse(
            ref("app", "v3"),
            UseKind.LAUNCH,
            consumer("ecs-service", "prod/api"),
            f"container api, api:1: {DIGEST_NOT_REPORTED}",
        ),
    }
    assert "ecs.DescribeServiceRevisions" not in calls
    assert calls["ecs.DescribeServices"] == 1
    assert calls["ecs.DescribeTaskDefinition"] == 2


async def test_other_revision_api_errors_are_not_swallowed(
    boto: Any, revisions: EcsRevisionsFake
) -> None:
    ecs = boto("ecs")
    ecs.create_cluster(clusterName="prod")
    web = service(ecs, "prod", "web", register(ecs, "web", {"web": f"{HOST}/app:v1"}))
    revisions.add_deployment(web, revisions.add_revision(web, "web:1", []), "SUCCESSFUL")
    revisions.fail("DescribeServiceRevisions", "ServerException", "try again")

    with pytest.raises(UpstreamError) as caught:
        await collect(EcsSource, revisions=0)
    assert caught.value.code == "ServerException"
    assert caught.value.operation == "DescribeServiceRevisions"


async def test_rollback_targets_are_the_newest_active_revisions(
    boto: Any, revisions: EcsRevisionsFake
) -> None:
    ecr, ecs = boto("ecr"), boto("ecs")
    ecr.create_repository(repositoryName="app")
    pinned = push(ecr, "app", image_manifest("r5"))
    for number in range(1, 5):
        register(ecs, "web", {"web": f"{HOST}/app:r{number}"}, channel="#web-team")
    register(ecs, "web", {"web": f"{HOST}/app@{pinned}", "proxy": "nginx:1.27"}, "#web-team")
    register(ecs, "third-party", {"proxy": "nginx:1.27"})
    ecs.deregister_task_definition(taskDefinition="web:4")

    uses, calls = await collect(EcsSource, revisions=3)

    owner = consumer("ecs-task-definition", "web", "#web-team")
    assert set(uses) == {
        ImageUse(ref("app", digest=pinned), UseKind.ROLLBACK, owner, "revision 5, container web"),
        ImageUse(ref("app", "r3"), UseKind.ROLLBACK, owner, "revision 3, container web"),
        ImageUse(ref("app", "r2"), UseKind.ROLLBACK, owner, "revision 2, container web"),
    }
    assert calls["ecs.ListTaskDefinitionFamilies"] == 1
    assert calls["ecs.ListTaskDefinitions"] == 2  # one per family
    assert calls["ecs.DescribeTaskDefinition"] == 4  # web 5, 3, 2 and third-party 1

    _, calls = await collect(EcsSource, revisions=0)
    assert "ecs.ListTaskDefinitionFamilies" not in calls


async def test_reads_are_batched(boto: Any, revisions: EcsRevisionsFake) -> None:
    ecr, ecs = boto("ecr"), boto("ecs")
    ecr.create_repository(repositoryName="app")
    digest = push(ecr, "app", image_manifest("shared"), ["v1"])
    ecs.create_cluster(clusterName="prod")
    definition = register(ecs, "web", {"web": f"{HOST}/app:v1"})
    for number in range(12):
        name = f"svc-{number:02}"
        arn = service(ecs, "prod", name, definition)
        run(ecs, "prod", definition, [digest], group=f"service:{name}", count=10)
        statuses = ["SUCCESSFUL", "IN_PROGRESS"] if number < 10 else ["SUCCESSFUL"]
        for status in statuses:
            revision = revisions.add_revision(arn, definition, [("web", f"{HOST}/app:v1", digest)])
            revisions.add_deployment(arn, revision, status)

    uses, calls = await collect(EcsSource, revisions=0)

    assert len(of_kind(uses, UseKind.RUNNING)) == 12  # 120 tasks, one use per service
    assert len(of_kind(uses, UseKind.LAUNCH)) == 22  # one per service revision
    assert calls == {
        "ecs.ListClusters": 1,
        "ecs.ListServices": 1,
        "ecs.DescribeServices": 2,  # 12 services, 10 per call
        "ecs.ListTasks": 1,
        "ecs.DescribeTasks": 2,  # 120 tasks, 100 per call
        "ecs.ListServiceDeployments": 12,  # one per service: ECS has no batch form
        "ecs.DescribeServiceRevisions": 2,  # 22 revisions, 20 per call
    }


def zipped_handler() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("handler.py", "def handler(event, context):\n    return event\n")
    return buffer.getvalue()


async def test_lambda_reports_latest_aliases_and_recent_versions(boto: Any) -> None:
    ecr, functions = boto("ecr"), boto("lambda")
    ecr.create_repository(repositoryName="fn")
    digests = [push(ecr, "fn", image_manifest(f"fn{n}"), [f"v{n}"]) for n in range(1, 7)]
    role = boto("iam").create_role(RoleName="fn", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    functions.create_function(
        FunctionName="payments",
        Role=role,
        PackageType="Image",
        Code={"ImageUri": f"{HOST}/fn:v1"},
        Tags={CHANNEL_TAG: "#payments"},
    )
    for number in range(1, 6):  # versions 1..5 run v1..v5; $LATEST then moves on to v6
        if number > 1:
            functions.update_function_code(FunctionName="payments", ImageUri=f"{HOST}/fn:v{number}")
        functions.publish_version(FunctionName="payments")
    functions.update_function_code(FunctionName="payments", ImageUri=f"{HOST}/fn:v6")
    functions.create_alias(
        FunctionName="payments",
        Name="live",
        FunctionVersion="3",
        RoutingConfig={"AdditionalVersionWeights": {"4": 0.1}},
    )
    functions.create_function(
        FunctionName="zipped",
        Role=role,
        Runtime="python3.11",
        Handler="handler.handler",
        Code={"ZipFile": zipped_handler()},
    )

    uses, calls = await collect(LambdaSource, versions=2)

    owner = consumer("lambda-function", "payments", "#payments")
    assert set(uses) == {
        ImageUse(ref("fn", digest=digests[5]), UseKind.RUNNING, owner, "$LATEST"),
        ImageUse(ref("fn", digest=digests[2]), UseKind.RUNNING, owner, "alias live → 3"),
        ImageUse(ref("fn", digest=digests[3]), UseKind.RUNNING, owner, "alias live → 4"),
        ImageUse(ref("fn", digest=digests[4]), UseKind.ROLLBACK, owner, "version 5"),
        ImageUse(ref("fn", digest=digests[1]), UseKind.ROLLBACK, owner, "version 2"),
    }
    assert calls == {
        "lambda.ListFunctions": 1,
        "lambda.ListVersionsByFunction": 1,  # only for the image function
        "lambda.ListAliases": 1,
        "lambda.GetFunction": 5,  # $LATEST, versions 3, 4 (aliased), 5, 2 (newest others)
    }


async def test_both_sources_feed_one_inventory(boto: Any, revisions: EcsRevisionsFake) -> None:
    boto("ecs").create_cluster(clusterName="empty")
    async with AwsClients(SETTINGS) as aws:
        target = targets(SETTINGS)[0]
        inventory = await collect_inventory([EcsSource(aws, target), LambdaSource(aws, target)])
    assert not inventory.failures
    assert inventory.per_source == (("ecs default/us-east-1", 0), ("lambda default/us-east-1", 0))
