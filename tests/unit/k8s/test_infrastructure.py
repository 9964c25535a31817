"""Production: only the gateway and the website are public; the broker, store and object store are
clustered, with disruption budgets."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.unit.k8s.render import (
    APP_PORTS,
    SECRET,
    WEB_PAGES,
    config,
    example_secrets,
    of_kind,
    settings_class,
    split_image,
)


def test_only_the_gateway_api_is_public(production: list[dict[str, Any]]) -> None:
    ingresses = of_kind(production, "Ingress")
    intake = ingresses["intake"]
    paths = [path for rule in intake["spec"]["rules"] for path in rule["http"]["paths"]]
    assert {path["backend"]["service"]["name"] for path in paths} == {"intake"}
    public = {path["path"] for path in paths}
    assert "/api" in public and "/open311" in public
    for internal in ("/", "/metrics", "/ready", "/health"):
        assert internal not in public, f"{internal} must not be reachable from outside"
    assert intake["spec"]["tls"], "HTTPS only"
    exposed = {
        path["backend"]["service"]["name"]
        for ingress in ingresses.values()
        for rule in ingress["spec"]["rules"]
        for path in rule["http"]["paths"]
    }
    assert not exposed & (set(APP_PORTS) - {"intake"}), "routing, deadlines, notify and media stay internal"


def test_the_website_is_public_but_not_its_ops_endpoints(production: list[dict[str, Any]]) -> None:
    web = of_kind(production, "Ingress")["web"]
    paths = [path for rule in web["spec"]["rules"] for path in rule["http"]["paths"]]
    assert {path["backend"]["service"]["name"] for path in paths} == {"web"}
    public = {path["path"]: path["pathType"] for path in paths}
    assert set(public) == set(WEB_PAGES)
    assert public["/"] == "Exact", "a Prefix / would publish /metrics, /ready and /health"
    assert web["spec"]["tls"], "HTTPS only (the session cookie is Secure)"
    assert config(production)["WEB_PUBLIC_URL"].startswith("https://")
    assert urlsplit(config(production)["WEB_GATEWAY_URL"]).hostname == "intake"


def in_cluster(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    """The overlay's own infrastructure of that kind; none when the site uses a managed service."""
    found = list(of_kind(objects, kind).values())
    if not found:
        pytest.skip(f"no in-cluster {kind}: the overlay uses a managed service (docs/operations.md)")
    return found


def test_rabbitmq_is_a_three_node_cluster_the_services_use(production: list[dict[str, Any]]) -> None:
    (cluster,) = in_cluster(production, "RabbitmqCluster")
    assert cluster["spec"]["replicas"] == 3
    assert config(production)["APPEALS_QUEUE_KIND"] == "quorum", "replicated queues on the 3 nodes"
    assert "prometheus.return_per_object_metrics = true" in cluster["spec"]["rabbitmq"]["additionalConfig"]
    url = urlsplit(example_secrets()[SECRET]["RABBIT_URL"])
    assert url.hostname == cluster["metadata"]["name"], "the operator's client Service is named after it"
    assert url.port == 5672


def test_mongodb_is_a_three_member_replica_set_the_services_use(production: list[dict[str, Any]]) -> None:
    (mongo,) = in_cluster(production, "MongoDBCommunity")
    name, k8s_namespace = mongo["metadata"]["name"], mongo["metadata"]["namespace"]
    assert mongo["spec"]["members"] == 3
    assert mongo["spec"]["type"] == "ReplicaSet"
    (user,) = mongo["spec"]["users"]
    granted = {role["db"] for role in user["roles"] if role["name"] == "readWrite"}
    namespace = config(production)["APPEALS_NAMESPACE"]
    wanted = {
        settings_class(service).model_construct(namespace=namespace).database_name for service in APP_PORTS
    }
    assert granted == wanted, "readWrite on exactly the five services' databases"

    url = urlsplit(example_secrets()[SECRET]["MONGO_URL"])
    assert url.scheme == "mongodb"
    assert url.username == user["name"]
    query = parse_qs(url.query)
    assert query["replicaSet"] == [name]
    assert query["authSource"] == [user["db"]]
    hosts = url.netloc.rpartition("@")[2].split(",")
    assert hosts == [
        f"{name}-{index}.{name}-svc.{k8s_namespace}.svc.cluster.local:27017" for index in range(3)
    ], "the members' names as the operator makes them"


def test_minio_runs_distributed_on_four_nodes(production: list[dict[str, Any]]) -> None:
    in_cluster(production, "StatefulSet")
    minio = of_kind(production, "StatefulSet")["minio"]
    replicas = minio["spec"]["replicas"]
    assert replicas == 4
    assert minio["spec"]["podManagementPolicy"] == "Parallel"
    headless = of_kind(production, "Service")[minio["spec"]["serviceName"]]
    assert headless["spec"]["clusterIP"] == "None"
    assert headless["spec"]["publishNotReadyAddresses"] is True
    (container,) = minio["spec"]["template"]["spec"]["containers"]
    service = headless["metadata"]["name"]
    pool = f"http://minio-{{0...{replicas - 1}}}.{service}.$(POD_NAMESPACE).svc.cluster.local/data"
    assert container["args"][:2] == ["server", pool]
    env = {item["name"]: item for item in container["env"]}
    assert env["POD_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"
    for key in ("MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD"):
        ref = env[key]["valueFrom"]["secretKeyRef"]
        assert ref["key"] in example_secrets()[ref["name"]]
    assert split_image(container["image"])[1] not in ("", ":latest"), "pin MinIO's release"

    endpoint = urlsplit(config(production)["MEDIA_S3_ENDPOINT"])
    client = of_kind(production, "Service")[endpoint.hostname or ""]
    assert client["spec"]["selector"].items() <= minio["spec"]["template"]["metadata"]["labels"].items()
    assert [port["port"] for port in client["spec"]["ports"]] == [endpoint.port]
    public = urlsplit(config(production)["MEDIA_S3_PUBLIC_ENDPOINT"])
    hosts = {rule["host"] for rule in of_kind(production, "Ingress")["minio"]["spec"]["rules"]}
    assert public.hostname in hosts, "download links are signed for the host the Ingress serves"


def test_infrastructure_has_disruption_budgets(production: list[dict[str, Any]]) -> None:
    selectors = [
        pdb["spec"]["selector"]["matchLabels"] for pdb in of_kind(production, "PodDisruptionBudget").values()
    ]
    for rabbit in of_kind(production, "RabbitmqCluster"):
        assert {"app.kubernetes.io/name": rabbit} in selectors, "the operator labels the nodes with the name"
    for mongo in of_kind(production, "MongoDBCommunity"):
        assert {"app": f"{mongo}-svc"} in selectors, "the operator labels the members `app: <name>-svc`"
    for name, stateful in of_kind(production, "StatefulSet").items():
        labels = stateful["spec"]["template"]["metadata"]["labels"]
        assert any(selector.items() <= labels.items() for selector in selectors), name
