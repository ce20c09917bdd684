"""The Kubernetes inventory source against a fake API server, through a generated kubeconfig."""

from __future__ import annotations

import hashlib
import json
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes_asyncio.client import ApiClient, Configuration

from bot.edge.kube.inventory import KubernetesSource, kubernetes_sources, rbac_rules
from bot.errors import AccessDenied, ConfigError, CredentialsError, Unreachable
from bot.inventory.models import ImageUse, UseKind
from bot.settings import KubernetesSettings
from tests.support.kube_api import (
    TOKEN,
    FakeKubeApi,
    KubeContext,
    container,
    controller_revision,
    cron_job,
    daemon_set,
    deployment,
    pod,
    replica_set,
    stateful_set,
    write_kubeconfig,
)

ECR = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
CHANNEL = "ecr-lifeguard/channel"


def digest(seed: str) -> str:
    return "sha256:" + hashlib.sha256(seed.encode()).hexdigest()


INDEX = digest("index of app:v1")  # a multi-arch image index: the same on amd64 and arm64 nodes


@pytest.fixture
async def kube() -> AsyncIterator[FakeKubeApi]:
    api = await FakeKubeApi().start()
    yield api
    await api.stop()


async def collect(kube: FakeKubeApi, tmp_path: Path, **settings: Any) -> list[ImageUse]:
    path = kube.kubeconfig(tmp_path / "kubeconfig")
    config = KubernetesSettings(enabled=True, kubeconfig=str(path), **settings)
    [source] = await kubernetes_sources(config)
    return await source.collect()


def summary(uses: list[ImageUse]) -> set[tuple[Any, ...]]:
    """(consumer kind, consumer name, use kind, repository, tag, digest, detail) per use."""
    return {
        (
            u.consumer.kind,
            u.consumer.name,
            u.kind.name,
            u.ref.repository,
            u.ref.tag,
            u.ref.digest,
            u.detail,
        )
        for u in uses
    }


async def test_pods_report_the_digest_each_container_runs(
    kube: FakeKubeApi, tmp_path: Path
) -> None:
    kube.add(
        "pods",
        pod(
            "shop",
            "web-7d9f-amd64",
            [
                container("web", f"{ECR}/app:v1", image_id=f"{ECR}/app@{INDEX}"),
                container("proxy", "nginx:1.27", image_id=f"docker.io/library/nginx@{digest('n')}"),
            ],
            init=[
                container(
                    "migrate",
                    f"{ECR}/migrate:v3",
                    image_id=f"docker-pullable://{ECR}/migrate@{digest('m')}",
                )
            ],
            ephemeral=[
                container("debug", f"{ECR}/tools:latest", image_id=f"{ECR}/tools@{digest('t')}")
            ],
        ),
        pod(
            "shop",
            "web-7d9f-arm64",
            [container("web", f"{ECR}/app:v1", image_id=f"{ECR}/app@{INDEX}")],
        ),
    )

    uses = await collect(kube, tmp_path)

    assert summary(uses) == {
        ("k8s-pod", "shop/web-7d9f-amd64", "RUNNING", "app", "v1", INDEX, "web"),
        ("k8s-pod", "shop/web-7d9f-amd64", "RUNNING", "migrate", "v3", digest("m"), "migrate"),
        ("k8s-pod", "shop/web-7d9f-amd64", "RUNNING", "tools", "latest", digest("t"), "debug"),
        ("k8s-pod", "shop/web-7d9f-arm64", "RUNNING", "app", "v1", INDEX, "web"),
    }
    use = uses[0]
    assert (use.ref.registry, use.ref.region) == ("123456789012", "eu-west-1")
    assert (use.consumer.cluster, use.consumer.namespace) == ("fake", "shop")
    [request] = kube.requests_for("pods")
    assert request.authorised and request.query["limit"] == "500"


async def test_a_pending_pod_reports_its_spec_image_as_launch(
    kube: FakeKubeApi, tmp_path: Path
) -> None:
    kube.add(
        "pods",
        pod("shop", "pulling", [container("web", f"{ECR}/app:v2")]),
        pod("shop", "unscheduled", [container("web", f"{ECR}/app:v3")], statuses=False),
        pod("shop", "pinned", [container("web", f"{ECR}/app@{digest('p')}")]),
    )

    uses = await collect(kube, tmp_path)

    assert summary(uses) == {
        ("k8s-pod", "shop/pulling", "LAUNCH", "app", "v2", None, "web"),
        ("k8s-pod", "shop/unscheduled", "LAUNCH", "app", "v3", None, "web"),
        ("k8s-pod", "shop/pinned", "LAUNCH", "app", None, digest("p"), "web"),
    }


async def test_finished_pods_and_other_registries_are_left_out(
    kube: FakeKubeApi, tmp_path: Path
) -> None:
    done = container("job", f"{ECR}/batch:v1", image_id=f"{ECR}/batch@{digest('b')}")
    kube.add(
        "pods",
        pod("jobs", "nightly-1", [done], phase="Succeeded"),
        pod("jobs", "nightly-2", [done], phase="Failed"),
        pod(
            "web", "ghcr", [container("x", "ghcr.io/acme/x:v1", image_id=f"ghcr.io/acme/x@{INDEX}")]
        ),
    )
    kube.add("deployments", deployment("web", "hub", [container("nginx", "nginx:1.27")]))

    assert await collect(kube, tmp_path) == []


async def test_a_config_digest_image_id_keeps_the_running_tag(
    kube: FakeKubeApi, tmp_path: Path
) -> None:
    """dockershim reported ``docker://sha256:<config>`` for local images: not a manifest digest."""
    kube.add(
        "pods",
        pod("shop", "old", [container("web", f"{ECR}/app:v1", image_id=f"docker://{digest('c')}")]),
    )

    uses = await collect(kube, tmp_path)

    assert summary(uses) == {("k8s-pod", "shop/old", "RUNNING", "app", "v1", None, "web")}


async def test_deployments_launch_their_template_and_keep_n_older_replica_sets(
    kube: FakeKubeApi, tmp_path: Path
) -> None:
    kube.add(
        "deployments", deployment("shop", "web", [container("web", f"{ECR}/app:v5")], revision=5)
    )
    kube.add(
        "replicasets",
        *(
            replica_set(
                "shop",
                f"web-{revision}",
                [container("web", f"{ECR}/app:v{revision}")],
                deployment="web",
                revision=revision,
                replicas=2 if revision == 5 else 0,
            )
            for revision in (1, 2, 3, 4, 5)
        ),
        replica_set(
            "shop", "api-1", [container("api", f"{ECR}/api:v1")], deployment="api", revision=1
        ),
    )

    uses = await collect(kube, tmp_path, rollback_revisions=2)

    assert summary(uses) == {
        ("k8s-deployment", "shop/web", "LAUNCH", "app", "v5", None, "web"),
        ("k8s-deployment", "shop/web", "ROLLBACK", "app", "v4", None, "revision 4"),
        ("k8s-deployment", "shop/web", "ROLLBACK", "app", "v3", None, "revision 3"),
    }


async def test_no_rollback_targets_when_revisions_is_zero(
    kube: FakeKubeApi, tmp_path: Path
) -> None:
    kube.add(
        "deployments", deployment("shop", "web", [container("web", f"{ECR}/app:v2")], revision=2)
    )
    kube.add(
        "replicasets",
        replica_set(
            "shop", "web-1", [container("web", f"{ECR}/app:v1")], deployment="web", revision=1
        ),
    )

    uses = await collect(kube, tmp_path, rollback_revisions=0)

    assert [u.kind for u in uses] == [UseKind.LAUNCH]


async def test_stateful_and_daemon_sets_roll_back_to_controller_revisions(
    kube: FakeKubeApi, tmp_path: Path
) -> None:
    kube.add("statefulsets", stateful_set("data", "db", [container("db", f"{ECR}/db:v3")]))
    kube.add("daemonsets", daemon_set("ops", "agent", [container("agent", f"{ECR}/agent:v2")]))
    kube.add(
        "controllerrevisions",
        *(
            controller_revision(
                "data", ("StatefulSet", "db"), n, [container("db", f"{ECR}/db:v{n}")]
            )
            for n in (1, 2, 3)
        ),
        *(
            controller_revision(
                "ops", ("DaemonSet", "agent"), n, [container("agent", f"{ECR}/agent:v{n}")]
            )
            for n in (1, 2)
        ),
    )

    uses = await collect(kube, tmp_path)

    assert summary(uses) == {
        ("k8s-statefulset", "data/db", "LAUNCH", "db", "v3", None, "db"),
        ("k8s-statefulset", "data/db", "ROLLBACK", "db", "v2", None, "revision 2"),
        ("k8s-statefulset", "data/db", "ROLLBACK", "db", "v1", None, "revision 1"),
        ("k8s-daemonset", "ops/agent", "LAUNCH", "agent", "v2", None, "agent"),
        ("k8s-daemonset", "ops/agent", "ROLLBACK", "agent", "v1", None, "revision 1"),
    }


async def test_cron_jobs_and_bare_replica_sets_launch_their_templates(
    kube: FakeKubeApi, tmp_path: Path
) -> None:
    kube.add("cronjobs", cron_job("jobs", "nightly", [container("report", f"{ECR}/report:v7")]))
    kube.add(
        "replicasets",
        replica_set(
            "shop", "legacy", [container("x", f"{ECR}/legacy:v1")], deployment=None, replicas=1
        ),
        replica_set(
            "shop", "idle", [container("x", f"{ECR}/idle:v1")], deployment=None, replicas=0
        ),
    )

    uses = await collect(kube, tmp_path)

    assert summary(uses) == {
        ("k8s-cronjob", "jobs/nightly", "LAUNCH", "report", "v7", None, "report"),
        ("k8s-replicaset", "shop/legacy", "LAUNCH", "legacy", "v1", None, "x"),
    }


async def test_the_channel_annotation_reaches_workloads_and_their_pods(
    kube: FakeKubeApi, tmp_path: Path
) -> None:
    running = container("web", f"{ECR}/app:v1", image_id=f"{ECR}/app@{INDEX}")
    kube.add(
        "deployments",
        deployment("shop", "web", [running], annotations={CHANNEL: "#team-shop"}),
    )
    kube.add("replicasets", replica_set("shop", "web-1", [running], deployment="web", revision=1))
    kube.add("statefulsets", stateful_set("data", "db", [running], annotations={CHANNEL: "#data"}))
    kube.add("cronjobs", cron_job("jobs", "nightly", [running], annotations={CHANNEL: "#batch"}))
    kube.add(
        "pods",
        pod("shop", "web-1-abcde", [running], owner=("ReplicaSet", "web-1")),
        pod("shop", "own", [running], owner=("ReplicaSet", "web-1"), annotations={CHANNEL: "#me"}),
        pod("data", "db-0", [running], owner=("StatefulSet", "db")),
        pod("misc", "bare", [running]),
    )

    uses = await collect(kube, tmp_path)

    channels = {(u.consumer.kind, u.consumer.name): u.consumer.channel for u in uses}
    assert channels == {
        ("k8s-deployment", "shop/web"): "#team-shop",
        ("k8s-statefulset", "data/db"): "#data",
        ("k8s-cronjob", "jobs/nightly"): "#batch",
        ("k8s-pod", "shop/web-1-abcde"): "#team-shop",
        ("k8s-pod", "shop/own"): "#me",
        ("k8s-pod", "data/db-0"): "#data",
        ("k8s-pod", "misc/bare"): None,
    }


async def test_lists_are_paged_500_at_a_time(kube: FakeKubeApi, tmp_path: Path) -> None:
    image = container("web", f"{ECR}/app:v1", image_id=f"{ECR}/app@{INDEX}")
    kube.add("pods", *(pod("shop", f"web-{n:04d}", [image]) for n in range(1201)))

    uses = await collect(kube, tmp_path)

    assert len(uses) == 1201
    assert len({u.consumer.name for u in uses}) == 1201
    requests = kube.requests_for("pods")
    assert [r.query["limit"] for r in requests] == ["500", "500", "500"]
    assert "continue" not in requests[0].query
    assert requests[1].query["continue"] != requests[2].query["continue"]


async def test_a_forbidden_list_names_the_missing_permission(
    kube: FakeKubeApi, tmp_path: Path
) -> None:
    kube.deny("pods")

    with pytest.raises(AccessDenied) as caught:
        await collect(kube, tmp_path)

    error = caught.value
    assert error.operation == "list pods in all namespaces"
    assert 'cannot list resource "pods"' in str(error)
    assert 'apiGroups [""], resources ["pods"], verbs ["list"]' in str(error)
    assert "cluster fake" in str(error)


async def test_every_forbidden_list_is_named_at_once(kube: FakeKubeApi, tmp_path: Path) -> None:
    kube.deny("replicasets", "cronjobs")

    with pytest.raises(AccessDenied) as caught:
        await collect(kube, tmp_path)

    assert caught.value.operation == "list replicasets, cronjobs in all namespaces"
    hint = caught.value.hint or ""
    assert 'apiGroups ["apps"], resources ["replicasets"]' in hint
    assert 'apiGroups ["batch"], resources ["cronjobs"]' in hint


async def test_a_rejected_token_is_a_credentials_error(kube: FakeKubeApi, tmp_path: Path) -> None:
    path = kube.kubeconfig(tmp_path / "kubeconfig", token="expired")
    [source] = await kubernetes_sources(KubernetesSettings(enabled=True, kubeconfig=str(path)))

    with pytest.raises(CredentialsError, match="Unauthorized"):
        await source.collect()
    assert not any(r.authorised for r in kube.requests)


async def test_an_unreachable_server_is_reported_as_such(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = f"http://127.0.0.1:{port}"
    path = write_kubeconfig(tmp_path / "kubeconfig", [KubeContext("gone", server, TOKEN)])
    [source] = await kubernetes_sources(KubernetesSettings(enabled=True, kubeconfig=str(path)))

    with pytest.raises(Unreachable) as caught:
        await source.collect()

    assert f"cluster gone at {server}" in str(caught.value)
    assert source.name == "kubernetes gone"


async def test_a_missing_context_names_the_available_ones(
    kube: FakeKubeApi, tmp_path: Path
) -> None:
    path = kube.kubeconfig(tmp_path / "kubeconfig")
    settings = KubernetesSettings(enabled=True, kubeconfig=str(path), contexts=["prod-eks"])

    with pytest.raises(ConfigError, match=r'no context "prod-eks" \(available: fake\)'):
        await kubernetes_sources(settings)


async def test_a_kubeconfig_without_current_context_needs_a_context(tmp_path: Path) -> None:
    path = write_kubeconfig(
        tmp_path / "kubeconfig", [KubeContext("a", "http://127.0.0.1:1", TOKEN)], current=None
    )

    with pytest.raises(ConfigError, match="no current context"):
        await kubernetes_sources(KubernetesSettings(enabled=True, kubeconfig=str(path)))


async def test_a_missing_or_broken_kubeconfig_is_a_config_error(tmp_path: Path) -> None:
    missing = KubernetesSettings(enabled=True, kubeconfig=str(tmp_path / "nope"))
    with pytest.raises(ConfigError, match="does not exist"):
        await kubernetes_sources(missing)

    broken = tmp_path / "broken"
    broken.write_text("clusters: [\n")
    with pytest.raises(ConfigError, match="cannot be read"):
        await kubernetes_sources(KubernetesSettings(enabled=True, kubeconfig=str(broken)))


async def test_a_context_without_a_cluster_entry_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "kubeconfig"
    path.write_text(
        '{"contexts": [{"name": "x", "context": {"cluster": "missing", "user": "u"}}],'
        ' "clusters": [], "users": [], "current-context": "x"}'
    )

    with pytest.raises(ConfigError, match=r'context "x".*Expected object with name missing'):
        await kubernetes_sources(KubernetesSettings(enabled=True, kubeconfig=str(path)))


def exec_kubeconfig(path: Path, server: str, script: str) -> Path:
    """A kubeconfig whose user gets its token from an exec plugin (like ``aws eks get-token``)."""
    user = {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1beta1",
            "command": sys.executable,
            "args": ["-c", script],
        }
    }
    document = {
        "clusters": [{"name": "eks", "cluster": {"server": server}}],
        "users": [{"name": "eks", "user": user}],
        "contexts": [{"name": "eks", "context": {"cluster": "eks", "user": "eks"}}],
        "current-context": "eks",
    }
    path.write_text(json.dumps(document))
    return path


async def test_exec_plugin_tokens_are_renewed_before_each_collection(
    kube: FakeKubeApi, tmp_path: Path
) -> None:
    kube.add(
        "pods",
        pod("shop", "web-1", [container("web", f"{ECR}/app:v1", image_id=f"{ECR}/app@{INDEX}")]),
    )
    token_file = tmp_path / "token"
    token_file.write_text("token-1")
    credential = {
        "apiVersion": "client.authentication.k8s.io/v1beta1",
        "kind": "ExecCredential",
        "status": {"token": "TOKEN", "expirationTimestamp": "2000-01-01T00:00:00Z"},
    }
    script = (
        f"import pathlib; print({json.dumps(json.dumps(credential))}"
        f".replace('TOKEN', pathlib.Path({str(token_file)!r}).read_text()))"
    )
    path = exec_kubeconfig(tmp_path / "kubeconfig", kube.url, script)
    [source] = await kubernetes_sources(KubernetesSettings(enabled=True, kubeconfig=str(path)))

    kube.token = "token-1"
    assert len(await source.collect()) == 1
    kube.token = "token-2"
    token_file.write_text("token-2")
    assert len(await source.collect()) == 1


async def test_a_failing_exec_plugin_is_a_credentials_error(tmp_path: Path) -> None:
    script = "import sys; sys.stderr.write('Unable to locate credentials'); sys.exit(255)"
    path = exec_kubeconfig(tmp_path / "kubeconfig", "http://127.0.0.1:1", script)

    with pytest.raises(CredentialsError, match="Unable to locate credentials") as caught:
        await kubernetes_sources(KubernetesSettings(enabled=True, kubeconfig=str(path)))
    assert "aws eks update-kubeconfig" in (caught.value.hint or "")


async def test_in_cluster_outside_a_pod_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)

    with pytest.raises(ConfigError, match="in_cluster"):
        await kubernetes_sources(KubernetesSettings(enabled=True, in_cluster=True))


async def test_one_source_per_context_and_none_when_disabled(
    kube: FakeKubeApi, tmp_path: Path
) -> None:
    kube.add(
        "pods",
        pod("shop", "web-1", [container("web", f"{ECR}/app:v1", image_id=f"{ECR}/app@{INDEX}")]),
    )
    path = write_kubeconfig(
        tmp_path / "kubeconfig",
        [KubeContext("blue", kube.url, TOKEN), KubeContext("green", kube.url, TOKEN)],
    )
    settings = KubernetesSettings(enabled=True, kubeconfig=str(path), contexts=["green", "blue"])

    sources = await kubernetes_sources(settings)

    assert [s.name for s in sources] == ["kubernetes green", "kubernetes blue"]
    clusters = [u.consumer.cluster for s in sources for u in await s.collect()]
    assert clusters == ["green", "blue"]
    assert await kubernetes_sources(settings.model_copy(update={"enabled": False})) == []


async def test_a_configuration_or_a_borrowed_api_client_works_too(kube: FakeKubeApi) -> None:
    kube.add(
        "pods",
        pod("shop", "web-1", [container("web", f"{ECR}/app:v1", image_id=f"{ECR}/app@{INDEX}")]),
    )
    configuration = Configuration(host=kube.url)
    configuration.api_key = {"BearerToken": TOKEN}
    configuration.api_key_prefix = {"BearerToken": "Bearer"}

    direct = await KubernetesSource(configuration, "direct").collect()
    async with ApiClient(configuration) as api:
        borrowed = KubernetesSource(api, "borrowed", page_size=1)
        first, second = await borrowed.collect(), await borrowed.collect()  # still open

    assert [u.ref.digest for u in direct + first + second] == [INDEX] * 3
    assert second[0].consumer.cluster == "borrowed"


def test_rbac_rules_cover_every_list_the_source_makes() -> None:
    assert rbac_rules() == [
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]},
        {
            "apiGroups": ["apps"],
            "resources": [
                "deployments",
                "replicasets",
                "statefulsets",
                "daemonsets",
                "controllerrevisions",
            ],
            "verbs": ["list"],
        },
        {"apiGroups": ["batch"], "resources": ["cronjobs"], "verbs": ["list"]},
    ]
