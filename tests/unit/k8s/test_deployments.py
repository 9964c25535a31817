"""The Deployments run their modules safely with the environment the services read; Services,
autoscalers and disruption budgets fit them."""

from __future__ import annotations

import os
import re
import secrets
from typing import Any
from urllib.parse import urlsplit

import pytest

from libs.common.settings import UNPREFIXED, ServiceSettings, weak_token_problem
from libs.common.topology import Topology
from tests.unit.k8s.render import (
    APP_PORTS,
    CONFIG_MAP,
    CONSUMERS,
    DEPLOYED,
    FRONTEND_PORTS,
    RENDERS,
    REQUIRED_SECRET_ENV,
    ROOT,
    RUNTIME,
    SECRET,
    SECRET_NAME,
    config,
    example_secrets,
    of_kind,
    port_number,
    render,
    selects,
    settings_class,
    split_image,
    the_container,
)


def uvicorn_drain_seconds() -> int:
    match = re.search(r"timeout_graceful_shutdown=(\d+)", RUNTIME.read_text(encoding="utf-8"))
    assert match, "libs/common/runtime.py: uvicorn's timeout_graceful_shutdown not found"
    return int(match.group(1))


def test_exactly_the_five_services_and_the_website_are_deployed(rendered: list[dict[str, Any]]) -> None:
    assert set(of_kind(rendered, "Deployment")) == set(DEPLOYED)


@pytest.mark.parametrize("render_name", sorted(RENDERS))
@pytest.mark.parametrize("name", sorted(DEPLOYED))
def test_deployment_runs_its_module_safely(render_name: str, name: str) -> None:
    objects = render(render_name)
    deployment = of_kind(objects, "Deployment")[name]
    pod = deployment["spec"]["template"]["spec"]
    container = the_container(deployment)
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert selects(deployment["spec"]["selector"], labels)

    assert container["command"] == ["python", "-m", f"services.{name}"]
    assert (ROOT / "services" / name / "__main__.py").is_file()
    image, suffix = split_image(container["image"])
    assert image.rpartition("/")[2] == "citizen-appeals", "one image for all five services"
    if render_name == "production":
        assert suffix and suffix != ":latest", "production pins the image (tag or digest)"

    port = int(config(objects)[f"{name.upper()}_HTTP_PORT"])
    assert port == DEPLOYED[name]
    assert [item["containerPort"] for item in container["ports"]] == [port]
    for probe, path in (("readinessProbe", "/ready"), ("livenessProbe", "/health")):
        get = container[probe]["httpGet"]
        assert get["path"] == path, f"{name}.{probe}"
        assert port_number(container, get["port"]) == port, f"{name}.{probe} probes another port"
    if "startupProbe" in container:
        assert port_number(container, container["startupProbe"]["httpGet"]["port"]) == port

    requests = container["resources"]["requests"]
    assert {"cpu", "memory"} <= set(requests), f"{name}: requests for scheduling and the CPU autoscaler"
    assert "memory" in container["resources"]["limits"]

    security = pod["securityContext"]
    assert security["runAsNonRoot"] is True
    assert security.get("runAsUser", 1) != 0
    assert security["seccompProfile"]["type"] == "RuntimeDefault"
    own = container["securityContext"]
    assert own["allowPrivilegeEscalation"] is False
    assert own["readOnlyRootFilesystem"] is True
    assert own["capabilities"]["drop"] == ["ALL"]
    mounts = {mount["mountPath"]: mount["name"] for mount in container["volumeMounts"]}
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    tmp = volumes[mounts["/tmp"]]  # noqa: S108 - the pod's mount path, not a file this test writes
    assert "emptyDir" in tmp, "a writable /tmp on a read-only root filesystem"
    assert pod["automountServiceAccountToken"] is False
    assert pod["enableServiceLinks"] is False, "no injected <SERVICE>_PORT variables beside the settings"

    drain = uvicorn_drain_seconds()
    grace = pod["terminationGracePeriodSeconds"]
    pre_stop = container["lifecycle"]["preStop"]
    sleep = pre_stop["sleep"]["seconds"] if "sleep" in pre_stop else int(pre_stop["exec"]["command"][-1])
    assert grace > drain, "the pod must outlive uvicorn's graceful drain"
    assert sleep > 0 and sleep + drain < grace, "preStop sleep, then the drain, both inside the grace period"
    assert "replicas" not in deployment["spec"], "the autoscaler owns the replica count"


@pytest.mark.parametrize("render_name", sorted(RENDERS))
@pytest.mark.parametrize("name", sorted(DEPLOYED))
def test_deployment_environment_comes_from_the_config_map_and_the_secret(render_name: str, name: str) -> None:
    objects = render(render_name)
    container = the_container(of_kind(objects, "Deployment")[name])
    assert {"configMapRef": {"name": CONFIG_MAP}} in container["envFrom"]
    assert CONFIG_MAP in of_kind(objects, "ConfigMap")
    from_secret = {}
    for item in container.get("env", []):
        assert "value" not in item, f"{name}.{item['name']}: literal env values belong in the ConfigMap"
        ref = item["valueFrom"]["secretKeyRef"]
        assert ref["name"] == SECRET
        from_secret[item["name"]] = ref["key"]
    if name in FRONTEND_PORTS:  # least privilege: the website holds no broker, store or service secret
        assert not set(REQUIRED_SECRET_ENV) & set(from_secret), f"{name} must not get {REQUIRED_SECRET_ENV}"
        assert "WEB_SESSION_SECRET" in from_secret
    else:
        assert set(REQUIRED_SECRET_ENV) <= set(from_secret), f"{name}: broker, store and internal token"
    assert all(env == key for env, key in from_secret.items()), "the Secret's keys are the variable names"


def test_config_map_holds_no_secrets(rendered: list[dict[str, Any]]) -> None:
    for key, value in config(rendered).items():
        assert not SECRET_NAME.search(key), f"{key} belongs in the Secret"
        assert key.lower() not in UNPREFIXED, f"{key} carries credentials: it belongs in the Secret"
        if "://" in value:
            assert "@" not in urlsplit(value).netloc, f"{key}: credentials in a URL"


def field_names(cls: type[ServiceSettings]) -> set[str]:
    return {field.lower() for field in cls.model_fields}


def pod_environment(objects: list[dict[str, Any]], name: str) -> dict[str, str]:
    """What the container sees: the ConfigMap, then its env entries (Secret values from the example file)."""
    container = the_container(of_kind(objects, "Deployment")[name])
    config_maps = of_kind(objects, "ConfigMap")
    secrets = example_secrets()
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        env.update(config_maps[source["configMapRef"]["name"]]["data"])
    for item in container.get("env", []):
        ref = item["valueFrom"]["secretKeyRef"]
        if ref["key"] in secrets.get(ref["name"], {}):
            env[item["name"]] = secrets[ref["name"]][ref["key"]]
    return env


def test_every_config_map_key_is_a_setting_some_service_reads(production: list[dict[str, Any]]) -> None:
    prefixes = {f"{name.upper()}_": field_names(settings_class(name)) for name in DEPLOYED}
    prefixes["APPEALS_"] = field_names(ServiceSettings)
    unknown = []
    for key in config(production):
        prefix = next((prefix for prefix in prefixes if key.startswith(prefix)), None)
        if prefix is None or key.removeprefix(prefix).lower() not in prefixes[prefix]:
            unknown.append(key)
    assert not unknown, f"no settings field reads {unknown}: rename the key or the field"


@pytest.mark.parametrize("name", sorted(DEPLOYED))
def test_service_settings_accept_the_production_environment(
    production: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    cls = settings_class(name)
    prefixes = (f"{name.upper()}_", "APPEALS_")
    for key in list(os.environ):
        if key.startswith(prefixes) or key.lower() in UNPREFIXED:
            monkeypatch.delenv(key)
    env = pod_environment(production, name)
    # The example Secret's placeholder is refused outside dev on purpose; a real one is random.
    # (The web holds no internal token: it calls only the public API.)
    if "APPEALS_INTERNAL_TOKEN" in env:
        assert weak_token_problem(env["APPEALS_INTERNAL_TOKEN"])
        env["APPEALS_INTERNAL_TOKEN"] = secrets.token_urlsafe(32)
    for key, value in env.items():
        if key.startswith(prefixes) or key.lower() in UNPREFIXED:
            monkeypatch.setenv(key, value)
    unknown = [
        key
        for key in env
        for prefix in prefixes
        if key.startswith(prefix) and key.removeprefix(prefix).lower() not in field_names(cls)
    ]
    assert not unknown, f"{cls.__name__} has no field for {unknown}"

    settings = cls()
    assert not settings.is_dev
    assert settings.http_port == DEPLOYED[name]
    assert settings.http_host == "0.0.0.0"
    if name in FRONTEND_PORTS:
        assert settings.log_json is True
        return
    assert settings.queue_kind == "quorum"
    assert settings.namespace == config(production)["APPEALS_NAMESPACE"]
    assert settings.log_json is True
    assert settings.rabbit_url.startswith(("amqp://", "amqps://"))
    assert settings.mongo_url and settings.mongo_url.startswith(("mongodb://", "mongodb+srv://"))


def test_each_deployment_has_a_cluster_ip_service_on_its_port(rendered: list[dict[str, Any]]) -> None:
    services = of_kind(rendered, "Service")
    for name, deployment in of_kind(rendered, "Deployment").items():
        service = services[name]
        assert service["spec"].get("type", "ClusterIP") == "ClusterIP"
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert service["spec"]["selector"].items() <= labels.items()
        container = the_container(deployment)
        (port,) = service["spec"]["ports"]
        assert port["port"] == DEPLOYED[name]
        assert port_number(container, port["targetPort"]) == DEPLOYED[name]


def test_gateway_reaches_the_internal_services_by_their_services(rendered: list[dict[str, Any]]) -> None:
    services = of_kind(rendered, "Service")
    for name, port in APP_PORTS.items():
        if name == "intake":
            continue
        url = urlsplit(config(rendered)[f"INTAKE_{name.upper()}_URL"])
        assert url.hostname in services, f"INTAKE_{name.upper()}_URL: no Service {url.hostname}"
        assert url.hostname == name
        assert url.port == port


@pytest.mark.parametrize("name", CONSUMERS)
def test_consumer_scales_on_the_length_of_its_own_queue(rendered: list[dict[str, Any]], name: str) -> None:
    scaled = of_kind(rendered, "ScaledObject")[name]
    spec = scaled["spec"]
    assert spec["scaleTargetRef"]["name"] == name
    assert spec["scaleTargetRef"].get("kind", "Deployment") == "Deployment"
    assert spec["minReplicaCount"] >= 2, "never to zero: it serves HTTP and runs its relay; 2 for the PDB"
    assert spec["maxReplicaCount"] > spec["minReplicaCount"]
    (trigger,) = spec["triggers"]
    assert trigger["type"] == "rabbitmq"
    metadata = trigger["metadata"]
    assert metadata["mode"] == "QueueLength"
    namespace = config(rendered)["APPEALS_NAMESPACE"]
    assert metadata["queueName"] == Topology(namespace).queue_name(name) == f"{namespace}.{name}"
    assert not {"host", "hostFromEnv"} & set(metadata), "the broker URL comes from the TriggerAuthentication"
    auth = of_kind(rendered, "TriggerAuthentication")[trigger["authenticationRef"]["name"]]
    refs = {ref["parameter"]: ref for ref in auth["spec"]["secretTargetRef"]}
    assert (refs["host"]["name"], refs["host"]["key"]) == (SECRET, "RABBIT_URL"), "the services' broker"


@pytest.mark.parametrize("name", ["intake", *FRONTEND_PORTS])
def test_http_only_deployments_scale_on_cpu(rendered: list[dict[str, Any]], name: str) -> None:
    hpa = of_kind(rendered, "HorizontalPodAutoscaler")[name]
    assert hpa["apiVersion"] == "autoscaling/v2"
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["apiVersion"], target["kind"], target["name"]) == ("apps/v1", "Deployment", name)
    assert hpa["spec"]["minReplicas"] >= 2
    assert hpa["spec"]["maxReplicas"] > hpa["spec"]["minReplicas"]
    resources = [m["resource"] for m in hpa["spec"]["metrics"] if m["type"] == "Resource"]
    assert any(r["name"] == "cpu" and r["target"]["type"] == "Utilization" for r in resources)


def test_every_deployment_has_exactly_one_autoscaler(rendered: list[dict[str, Any]]) -> None:
    targets = [
        hpa["spec"]["scaleTargetRef"]["name"] for hpa in of_kind(rendered, "HorizontalPodAutoscaler").values()
    ]
    targets += [so["spec"]["scaleTargetRef"]["name"] for so in of_kind(rendered, "ScaledObject").values()]
    assert sorted(targets) == sorted(of_kind(rendered, "Deployment")), "HPA and KEDA must not share a target"


def test_every_deployment_has_a_disruption_budget_selecting_it(rendered: list[dict[str, Any]]) -> None:
    budgets = of_kind(rendered, "PodDisruptionBudget")
    deployments = of_kind(rendered, "Deployment")
    for name, deployment in deployments.items():
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        matching = [pdb for pdb in budgets.values() if selects(pdb["spec"]["selector"], labels)]
        assert len(matching) == 1, f"{name}: {len(matching)} PodDisruptionBudgets select its pods"
        (pdb,) = matching
        for other_name, other in deployments.items():
            if other_name != name:
                assert not selects(pdb["spec"]["selector"], other["spec"]["template"]["metadata"]["labels"])
        # Drains must stay possible at the autoscaler's floor (2): at most one pod out at a time.
        assert pdb["spec"].get("maxUnavailable") == 1, f"{name}: maxUnavailable 1"
