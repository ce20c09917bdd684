"""The Helm chart, rendered by a real helm: every scenario lints, renders valid Kubernetes
objects, runs the bot hardened with the right ports and wiring, and bad values fail readably."""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from bot.edge.kube.objects import rbac_rules
from bot.settings import CONFIG_ENV, load_settings
from tests.deploy.helm import (
    CI,
    NAMESPACE,
    Chart,
    HelmUnavailable,
    Json,
    bot_container,
    bot_deployment,
    environment,
    helm_binary,
    of_kind,
    one,
)

KUBERNETES_VERSION = "1.30.0"
# Custom resources: no schema ships with kubernetes-validate (checked in their own tests).
CUSTOM_KINDS = {"ServiceMonitor"}
SCENARIOS = {"defaults": None, **{path.stem: path for path in sorted(CI.glob("*.yaml"))}}


@pytest.fixture(scope="session")
def chart() -> Chart:
    try:
        return Chart(helm_binary())
    except HelmUnavailable as exc:
        pytest.skip(f"no helm binary: {exc}")


def files(scenario: str) -> list[Path]:
    path = SCENARIOS[scenario]
    return [path] if path else []


@pytest.fixture(scope="module")
def rendered(chart: Chart) -> dict[str, list[Json]]:
    return {name: chart.render(files(name)) for name in SCENARIOS}


def pod_templates(objects: list[Json]) -> list[Json]:
    return [o["spec"]["template"] for o in objects if o["kind"] in {"Deployment", "StatefulSet"}]


def test_the_ci_scenarios_exist() -> None:
    assert {"socket-external-redis-values", "http-ingress-values", "bundled-redis-values"} <= set(
        SCENARIOS
    )


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_helm_lint_strict(chart: Chart, scenario: str) -> None:
    args = ["lint", "--strict", str(chart.path)]
    for path in files(scenario):
        args += ["--values", str(path)]
    result = chart.run(*args)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 chart(s) failed" in result.stdout


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_object_is_valid_against_the_kubernetes_schemas(
    rendered: dict[str, list[Json]], scenario: str
) -> None:
    objects = rendered[scenario]
    assert objects
    for item in objects:
        if item["kind"] in CUSTOM_KINDS:
            continue
        kubernetes_validate.validate(item, KUBERNETES_VERSION, strict=True)
        assert item["metadata"].get("namespace", NAMESPACE) == NAMESPACE


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_pods_run_hardened(rendered: dict[str, list[Json]], scenario: str) -> None:
    for template in pod_templates(rendered[scenario]):
        spec = template["spec"]
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        for key in ("hostNetwork", "hostPID", "hostIPC"):
            assert not spec.get(key), key
        assert not [v for v in spec.get("volumes", []) if "hostPath" in v]
        for container in spec["containers"]:
            context = container["securityContext"]
            assert context.get("privileged", False) is False
            assert context["allowPrivilegeEscalation"] is False
            assert context["readOnlyRootFilesystem"] is True
            assert context["runAsNonRoot"] is True
            assert context["capabilities"] == {"drop": ["ALL"]}
            assert "add" not in context["capabilities"]
            assert "resources" in container


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_only_tmp_is_writable_for_the_bot(rendered: dict[str, list[Json]], scenario: str) -> None:
    deployment = bot_deployment(rendered[scenario])
    mounts = {m["mountPath"]: m for m in bot_container(rendered[scenario])["volumeMounts"]}
    assert set(mounts) == {"/tmp", "/etc/ecr-lifeguard"}
    assert mounts["/etc/ecr-lifeguard"]["readOnly"] is True
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    assert "emptyDir" in volumes[mounts["/tmp"]["name"]]


@pytest.mark.parametrize(
    ("scenario", "port", "args"),
    [
        ("defaults", 8080, ["run"]),
        ("socket-external-redis-values", 8080, ["run"]),
        ("http-ingress-values", 3100, ["run", "--http"]),
        ("bundled-redis-values", 9090, ["run"]),
    ],
)
def test_probes_use_the_port_the_bot_listens_on(
    rendered: dict[str, list[Json]], scenario: str, port: int, args: list[str]
) -> None:
    container = bot_container(rendered[scenario])
    assert container["args"] == args
    assert container["ports"] == [{"name": "http", "containerPort": port, "protocol": "TCP"}]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    service = [
        s for s in of_kind(rendered[scenario], "Service") if "redis" not in s["metadata"]["name"]
    ]
    assert service[0]["spec"]["ports"][0]["targetPort"] == "http"


def test_irsa_annotation_only_when_a_role_is_set(rendered: dict[str, list[Json]]) -> None:
    account = one(rendered["socket-external-redis-values"], "ServiceAccount")
    annotations = account["metadata"]["annotations"]
    assert (
        annotations["eks.amazonaws.com/role-arn"] == "arn:aws:iam::123456789012:role/ecr-lifeguard"
    )
    assert annotations["example.com/owner"] == f"{NAMESPACE}-platform"  # templated
    default = one(rendered["defaults"], "ServiceAccount")
    assert "annotations" not in default["metadata"]
    pod = bot_deployment(rendered["socket-external-redis-values"])["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == account["metadata"]["name"]


def test_an_existing_service_account_is_used_and_none_created(
    rendered: dict[str, list[Json]],
) -> None:
    objects = rendered["http-ingress-values"]
    assert not of_kind(objects, "ServiceAccount")
    assert not of_kind(objects, "ClusterRole")
    spec = bot_deployment(objects)["spec"]["template"]["spec"]
    assert spec["serviceAccountName"] == "lifeguard-existing"


def test_cluster_role_grants_exactly_what_the_kubernetes_inventory_lists(
    rendered: dict[str, list[Json]],
) -> None:
    role = one(rendered["defaults"], "ClusterRole")

    def grants(rules: list[Any]) -> set[tuple[str, str, str]]:
        return {
            (group, resource, verb)
            for rule in rules
            for group in rule["apiGroups"]
            for resource in rule["resources"]
            for verb in rule["verbs"]
        }

    assert grants(role["rules"]) == grants(rbac_rules())
    binding = one(rendered["defaults"], "ClusterRoleBinding")
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "t-ecr-lifeguard", "namespace": NAMESPACE}
    ]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_the_config_map_is_a_settings_file_the_bot_accepts(
    rendered: dict[str, list[Json]], scenario: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config_map = one(rendered[scenario], "ConfigMap")
    config = tmp_path / "config.yaml"
    config.write_text(config_map["data"]["config.yaml"])
    for key in [k for k in os.environ if k.startswith("LIFEGUARD_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv(CONFIG_ENV, str(config))
    settings = load_settings()
    env = environment(bot_container(rendered[scenario]))
    assert env["LIFEGUARD_CONFIG"] == "/etc/ecr-lifeguard/config.yaml"
    if scenario == "socket-external-redis-values":
        assert settings.aws.regions == ["eu-west-1", "us-east-1"]
        assert settings.protect.max_duration == 30 * 86_400
        assert settings.inventory.lambda_functions is False
    if scenario == "defaults":
        assert (settings.kubernetes.enabled, settings.kubernetes.in_cluster) == (True, True)


def test_a_config_change_rolls_the_pods(chart: Chart) -> None:
    def checksum(*values: str) -> str:
        pod = bot_deployment(chart.render(set_values=values))["spec"]["template"]
        return str(pod["metadata"]["annotations"]["checksum/config"])

    assert checksum() != checksum("config.bot.scan_interval=5m")


def test_slack_credentials_come_from_the_existing_secret(rendered: dict[str, list[Json]]) -> None:
    env = environment(bot_container(rendered["socket-external-redis-values"]))
    assert env["SLACK_BOT_TOKEN"] == {
        "secretKeyRef": {"name": "lifeguard-slack", "key": "bot-token"}
    }
    assert env["SLACK_APP_TOKEN"] == {
        "secretKeyRef": {"name": "lifeguard-slack", "key": "app-token"}
    }
    assert "SLACK_SIGNING_SECRET" not in env


def test_slack_credentials_created_from_values_go_into_the_charts_secret(
    rendered: dict[str, list[Json]],
) -> None:
    objects = rendered["http-ingress-values"]
    secret = one(objects, "Secret", "lifeguard")
    decoded = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    assert decoded == {
        "SLACK_BOT_TOKEN": "xoxb-0000-test-token",
        "SLACK_SIGNING_SECRET": "test-signing-secret",
    }
    env = environment(bot_container(objects))
    assert env["SLACK_SIGNING_SECRET"] == {
        "secretKeyRef": {"name": "lifeguard", "key": "SLACK_SIGNING_SECRET"}
    }
    assert "SLACK_APP_TOKEN" not in env
    # no secret ever lands in the ConfigMap
    assert "xoxb-" not in yaml.safe_dump(one(objects, "ConfigMap"))


def test_redis_external_url_is_kept_in_a_secret(rendered: dict[str, list[Json]]) -> None:
    objects = rendered["socket-external-redis-values"]
    env = environment(bot_container(objects))
    assert env["REDIS_URL"] == {"secretKeyRef": {"name": "t-ecr-lifeguard", "key": "REDIS_URL"}}
    secret = one(objects, "Secret", "t-ecr-lifeguard")
    assert base64.b64decode(secret["data"]["REDIS_URL"]).decode().startswith("rediss://")
    assert not [d for d in of_kind(objects, "Deployment") if "redis" in d["metadata"]["name"]]


def test_redis_url_from_an_existing_secret(rendered: dict[str, list[Json]]) -> None:
    env = environment(bot_container(rendered["http-ingress-values"]))
    assert env["REDIS_URL"] == {"secretKeyRef": {"name": "lifeguard-redis", "key": "url"}}


def test_bundled_redis_is_one_pod_only_the_bot_reaches(rendered: dict[str, list[Json]]) -> None:
    objects = rendered["bundled-redis-values"]
    redis = one(objects, "Deployment", "t-lifeguard-redis")
    assert redis["spec"]["replicas"] == 1
    assert redis["spec"]["strategy"] == {"type": "Recreate"}
    env = environment(bot_container(objects))
    assert env["REDIS_URL"] == "redis://t-lifeguard-redis:6379/0"
    service = one(objects, "Service", "t-lifeguard-redis")
    assert service["spec"]["selector"] == redis["spec"]["selector"]["matchLabels"]
    bot_selector = bot_deployment(objects)["spec"]["selector"]["matchLabels"]
    redis_labels = redis["spec"]["template"]["metadata"]["labels"]
    assert not set(bot_selector.items()) <= set(redis_labels.items())  # the bot selects no Redis
    policy = one(objects, "NetworkPolicy")
    assert policy["spec"]["ingress"][0]["from"] == [{"podSelector": {"matchLabels": bot_selector}}]
    claim = one(objects, "PersistentVolumeClaim")
    assert claim["spec"]["storageClassName"] == "gp3"
    assert claim["spec"]["resources"]["requests"]["storage"] == "2Gi"


def test_queue_url_region_and_sts_endpoints(rendered: dict[str, list[Json]]) -> None:
    env = environment(bot_container(rendered["socket-external-redis-values"]))
    assert env["LIFEGUARD_EVENTS__QUEUE_URL"] == (
        "https://sqs.eu-west-1.amazonaws.com/123456789012/ecr-lifeguard-events"
    )
    assert env["AWS_REGION"] == "eu-west-1"
    assert env["AWS_STS_REGIONAL_ENDPOINTS"] == "regional"
    assert env["POD_NAME"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    defaults = environment(bot_container(rendered["defaults"]))
    assert "LIFEGUARD_EVENTS__QUEUE_URL" not in defaults and "AWS_REGION" not in defaults


def test_image_by_digest_or_by_app_version(rendered: dict[str, list[Json]]) -> None:
    assert bot_container(rendered["defaults"])["image"] == "ecr-lifeguard:0.1.0"
    assert bot_container(rendered["socket-external-redis-values"])["image"].endswith(
        "/ecr-lifeguard@sha256:" + "0123456789abcdef" * 4
    )
    assert bot_container(rendered["http-ingress-values"])["image"] == "ecr-lifeguard:0.1.0-rc1"


def test_pod_disruption_budget_and_topology_spread(rendered: dict[str, list[Json]]) -> None:
    objects = rendered["defaults"]
    budget = one(objects, "PodDisruptionBudget")
    selector = bot_deployment(objects)["spec"]["selector"]
    assert budget["spec"] == {"maxUnavailable": 1, "selector": selector}
    spread = bot_deployment(objects)["spec"]["template"]["spec"]["topologySpreadConstraints"]
    assert [c["topologyKey"] for c in spread] == [
        "topology.kubernetes.io/zone",
        "kubernetes.io/hostname",
    ]
    assert all(c["labelSelector"] == selector for c in spread)
    assert not of_kind(rendered["http-ingress-values"], "PodDisruptionBudget")
    bundled = rendered["bundled-redis-values"]
    assert one(bundled, "PodDisruptionBudget")["spec"]["maxUnavailable"] == "50%"


def test_rolling_updates_keep_a_ready_pod(rendered: dict[str, list[Json]]) -> None:
    strategy = bot_deployment(rendered["defaults"])["spec"]["strategy"]
    assert strategy["rollingUpdate"] == {"maxUnavailable": 0, "maxSurge": 1}


def test_service_monitor_scrapes_metrics(rendered: dict[str, list[Json]]) -> None:
    objects = rendered["socket-external-redis-values"]
    monitor = one(objects, "ServiceMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["labels"]["release"] == "prometheus"
    service = one(objects, "Service")
    assert (
        monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    )
    assert monitor["spec"]["endpoints"] == [
        {"port": "http", "path": "/metrics", "interval": "30s", "scrapeTimeout": "10s"}
    ]
    assert not of_kind(rendered["defaults"], "ServiceMonitor")


def test_ingress_exposes_only_the_slack_endpoint(rendered: dict[str, list[Json]]) -> None:
    ingress = one(rendered["http-ingress-values"], "Ingress")
    rule = ingress["spec"]["rules"][0]
    assert rule["host"] == "lifeguard.example.com"
    assert [p["path"] for p in rule["http"]["paths"]] == ["/slack/events"]
    assert ingress["spec"]["tls"] == [
        {"hosts": ["lifeguard.example.com"], "secretName": "lifeguard-tls"}
    ]


BAD_VALUES = [
    (["replicaCount=two"], "replicaCount: Invalid type. Expected: integer, given: string"),
    (["replicaCount=-1"], "replicaCount: Must be greater than or equal to 0"),
    (["colour=blue"], "Additional property colour is not allowed"),
    (["image.tags=1.0"], "image: Additional property tags is not allowed"),
    (["mode=websocket"], "mode: mode must be one of the following"),
    (["config.aws.region=eu-west-1"], "config.aws: Additional property region is not allowed"),
    (["config.bot.http_port=0"], "config.bot.http_port: Must be greater than or equal to 1"),
    (["config.protect.default_duration=soon"], "config.protect.default_duration"),
    (["serviceAccount.roleArn=my-role"], "serviceAccount.roleArn: Does not match pattern"),
    (["slack.existingSecret="], "slack: no Slack credentials. Set slack.existingSecret"),
    (
        ["slack.existingSecret=", "slack.create=true", "slack.botToken=xoxb-1"],
        "slack.appToken is empty: Socket Mode needs the app-level token",
    ),
    (
        ["slack.existingSecret=", "slack.create=true", "slack.botToken=xoxb-1", "mode=http"],
        "slack.signingSecret is empty: mode=http needs the signing secret",
    ),
    (["slack.create=true", "slack.botToken=xoxb-1"], "slack: set either slack.existingSecret"),
    (["slack.botToken=xoxp-user-token"], "slack.botToken: Does not match pattern"),
    (["replicaCount=2"], "replicaCount=2 needs Redis: set redis.url, redis.existingSecret"),
    (
        ["ingress.enabled=true", "ingress.host=x.example.com"],
        "ingress.enabled=true needs mode=http",
    ),
    (["serviceAccount.create=false"], "serviceAccount.name: name the existing ServiceAccount"),
]


@pytest.mark.parametrize(
    ("values", "message"), BAD_VALUES, ids=[" ".join(v) for v, _ in BAD_VALUES]
)
def test_bad_values_fail_with_a_readable_message(
    chart: Chart, values: list[str], message: str
) -> None:
    failure = chart.failure(set_values=values)
    assert failure, f"{values} rendered"
    assert message in failure
    assert "goroutine" not in failure and "panic" not in failure


def test_notes_tell_the_next_step(chart: Chart) -> None:
    notes = chart.notes()
    assert "kubectl -n lifeguard rollout status deployment/t-ecr-lifeguard" in notes
    assert "/invite @ECR Lifeguard" in notes
    assert "serviceAccount.roleArn is empty" in notes
    assert "events.queueUrl is empty" in notes
    assert "no Redis is configured" in notes
    ready = chart.notes([CI / "socket-external-redis-values.yaml"])
    assert "roleArn is empty" not in ready and "queueUrl is empty" not in ready
    assert "3 replicas" in ready
    http = chart.notes([CI / "http-ingress-values.yaml"])
    assert "https://lifeguard.example.com/slack/events" in http
