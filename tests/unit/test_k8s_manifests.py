"""The Kubernetes manifests (deploy/k8s) and the Grafana dashboard (deploy/grafana) stay deployable.

There is no kustomize binary and no cluster here. `kustomize()` below renders a kustomization the way
`kubectl kustomize` does for the few features these kustomizations use (`resources`, `patches` as
strategic merges targeted by the patch's own kind and name, `images`, `namespace`) and refuses every
other feature, so it cannot silently render something kustomize would not. Built-in kinds are then
validated against the Kubernetes OpenAPI schemas (kubernetes-validate, offline), the operators' kinds
(KEDA, RabbitMQ Cluster Operator, MongoDB) against small JSON Schemas written here from their documented
fields, and the whole against what the services actually read and expose: settings fields, queue names,
ports, probes, metric names.
"""

from __future__ import annotations

import copy
import functools
import importlib
import json
import os
import re
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jsonschema
import kubernetes_validate
import pytest
import yaml

from libs.common.settings import UNPREFIXED, ServiceSettings, weak_token_problem
from libs.common.topology import Topology

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
BASE = K8S / "base"
PRODUCTION = K8S / "overlays" / "production"
SECRETS_EXAMPLE = K8S / "secrets.example.yaml"
DASHBOARD = ROOT / "deploy" / "grafana" / "appeals-dashboard.json"
RUNTIME = ROOT / "libs" / "common" / "runtime.py"

K8S_VERSION = "1.31"
RENDERS = {"base": BASE, "production": PRODUCTION}
APP_PORTS = {"intake": 8000, "routing": 8001, "deadlines": 8002, "notify": 8003, "media": 8004, "polls": 8005}
# The website: a client of the gateway's public API only (no broker, store or internal token).
FRONTEND_PORTS = {"web": 8080}
DEPLOYED = {**APP_PORTS, **FRONTEND_PORTS}
WEB_PAGES = (
    "/",
    "/appeals",
    "/work",
    "/map",
    "/feed",
    "/media",
    "/signin",
    "/signout",
    "/auth",
    "/widget",
    "/static",
    "/vendor",
)
CONSUMERS = (
    "routing",
    "deadlines",
    "notify",
    "media",
    "polls",
)  # scaled by KEDA on their queue; intake on CPU
CONFIG_MAP = "appeals-config"
SECRET = "appeals-secrets"
REQUIRED_SECRET_ENV = ("RABBIT_URL", "MONGO_URL", "APPEALS_INTERNAL_TOKEN")
SECRET_NAME = re.compile(r"PASS|SECRET|TOKEN|KEY|CREDENTIAL")
DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
BUILTIN_GROUPS = {"apps", "batch", "policy", "autoscaling"}

# --- a kustomize subset ---------------------------------------------------------------------------------

KUSTOMIZATION_KEYS = {"apiVersion", "kind", "namespace", "resources", "patches", "images"}
CLUSTER_SCOPED = {
    "Namespace",
    "ClusterRole",
    "ClusterRoleBinding",
    "CustomResourceDefinition",
    "StorageClass",
}
# Lists a strategic merge patch merges item by item on `name` (their patchMergeKey in the Kubernetes
# API); other lists are replaced. Fields merged on another key are refused rather than approximated.
MERGE_ON_NAME = {"containers", "initContainers", "env", "volumes"}
REFUSED_IN_PATCHES = {
    "ports",
    "volumeMounts",
    "tolerations",
    "$patch",
    "$setElementOrder",
    "$retainKeys",
    "$deleteFromPrimitiveList",
}


def is_builtin(obj: dict[str, Any]) -> bool:
    group, _, _ = obj["apiVersion"].rpartition("/")
    return group == "" or group in BUILTIN_GROUPS or group.endswith(".k8s.io")


def load_documents(path: Path) -> list[dict[str, Any]]:
    documents = [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc is not None]
    for doc in documents:
        assert isinstance(doc, dict), f"{path}: every document must be a mapping"
        assert {"apiVersion", "kind", "metadata"} <= set(doc), f"{path}: apiVersion, kind, metadata"
    return documents


def load_kustomization(directory: Path) -> dict[str, Any]:
    spec = yaml.safe_load((directory / "kustomization.yaml").read_text(encoding="utf-8"))
    assert spec["apiVersion"] == "kustomize.config.k8s.io/v1beta1", directory
    assert spec["kind"] == "Kustomization", directory
    unsupported = set(spec) - KUSTOMIZATION_KEYS
    assert not unsupported, f"{directory}: the test's renderer does not implement {sorted(unsupported)}"
    return spec


def strategic_merge(target: dict[str, Any], patch: dict[str, Any], *, builtin: bool) -> None:
    """Kustomize's merge of a patch file: strategic for built-in kinds, JSON merge (RFC 7386) for CRs."""
    for key, value in patch.items():
        assert key not in REFUSED_IN_PATCHES, f"patches touching {key!r} are not supported by this renderer"
        current = target.get(key)
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict) and isinstance(current, dict):
            strategic_merge(current, value, builtin=builtin)
        elif builtin and key in MERGE_ON_NAME and isinstance(value, list) and isinstance(current, list):
            existing = {item["name"]: item for item in current}
            for item in value:
                if item["name"] in existing:
                    strategic_merge(existing[item["name"]], item, builtin=builtin)
                else:
                    current.append(copy.deepcopy(item))
        else:
            target[key] = copy.deepcopy(value)


def identity(obj: dict[str, Any]) -> tuple[str, str, str]:
    return obj["apiVersion"], obj["kind"], obj["metadata"]["name"]


def pod_specs(obj: dict[str, Any]) -> Iterator[dict[str, Any]]:
    spec = obj.get("spec") or {}
    if obj["kind"] == "Pod":
        yield spec
    elif isinstance(spec.get("template"), dict) and "spec" in spec["template"]:
        yield spec["template"]["spec"]


def containers(obj: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for spec in pod_specs(obj):
        yield from spec.get("initContainers", [])
        yield from spec.get("containers", [])


def split_image(image: str) -> tuple[str, str]:
    """("registry:5000/name", ":tag" / "@sha256:..." / "")."""
    if "@" in image:
        name, _, digest = image.partition("@")
        return name, f"@{digest}"
    slash = image.rfind("/")
    colon = image.rfind(":")
    if colon > slash:
        return image[:colon], image[colon:]
    return image, ""


def set_images(objects: list[dict[str, Any]], rule: dict[str, str]) -> None:
    assert set(rule) <= {"name", "newName", "newTag", "digest"}, rule
    for obj in objects:
        for container in containers(obj):
            name, suffix = split_image(container["image"])
            if name != rule["name"]:
                continue
            if "digest" in rule:
                suffix = f"@{rule['digest']}"
            elif "newTag" in rule:
                suffix = f":{rule['newTag']}"
            container["image"] = rule.get("newName", name) + suffix


def kustomize(directory: Path) -> list[dict[str, Any]]:
    spec = load_kustomization(directory)
    objects: list[dict[str, Any]] = []
    for entry in spec.get("resources", []):
        target = (directory / entry).resolve()
        if target.is_dir():
            objects.extend(kustomize(target))
        else:
            # kustomize's load restrictor: files from inside the kustomization's own directory only.
            assert target.is_relative_to(directory.resolve()), f"{directory}: {entry} is outside it"
            objects.extend(load_documents(target))
    for patch_entry in spec.get("patches", []):
        assert set(patch_entry) == {"path"}, "one file per patch, targeted by its own kind and name"
        (patch,) = load_documents(directory / patch_entry["path"])
        matches = [obj for obj in objects if identity(obj) == identity(patch)]
        assert len(matches) == 1, f"{patch_entry['path']}: patches no object ({identity(patch)})"
        strategic_merge(matches[0], patch, builtin=is_builtin(patch))
    for rule in spec.get("images", []):
        set_images(objects, rule)
    if "namespace" in spec:
        for obj in objects:
            if obj["kind"] not in CLUSTER_SCOPED:
                obj["metadata"]["namespace"] = spec["namespace"]
    keys = [identity(obj) for obj in objects]
    duplicates = sorted({key for key in keys if keys.count(key) > 1})
    assert not duplicates, f"{directory}: defined more than once: {duplicates}"
    return objects


@functools.cache
def _render(name: str) -> tuple[dict[str, Any], ...]:
    return tuple(kustomize(RENDERS[name]))


def render(name: str) -> list[dict[str, Any]]:
    return copy.deepcopy(list(_render(name)))


def of_kind(objects: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {obj["metadata"]["name"]: obj for obj in objects if obj["kind"] == kind}


def config(objects: list[dict[str, Any]]) -> dict[str, str]:
    data: dict[str, str] = of_kind(objects, "ConfigMap")[CONFIG_MAP]["data"]
    return data


def example_secrets() -> dict[str, dict[str, str]]:
    return {doc["metadata"]["name"]: doc.get("stringData", {}) for doc in load_documents(SECRETS_EXAMPLE)}


def the_container(deployment: dict[str, Any]) -> dict[str, Any]:
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    result: dict[str, Any] = container
    return result


def port_number(container: dict[str, Any], port: int | str) -> int:
    if isinstance(port, int):
        return port
    named = {item.get("name"): item["containerPort"] for item in container.get("ports", [])}
    assert port in named, f"{container['name']}: no container port named {port!r}"
    return int(named[port])


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    assert set(selector) <= {"matchLabels"}, "only matchLabels selectors are used here"
    return bool(selector.get("matchLabels")) and selector["matchLabels"].items() <= labels.items()


@pytest.fixture(params=sorted(RENDERS))
def rendered(request: pytest.FixtureRequest) -> list[dict[str, Any]]:
    return render(request.param)


@pytest.fixture
def production() -> list[dict[str, Any]]:
    return render("production")


# --- the renderer itself ---------------------------------------------------------------------------------


def test_renderer_merges_like_a_strategic_merge_patch() -> None:
    target = {
        "spec": {
            "replicas": 1,
            "template": {"spec": {"containers": [{"name": "a", "image": "x", "args": ["1", "2"]}]}},
        }
    }
    patch = {
        "spec": {
            "replicas": None,
            "template": {"spec": {"containers": [{"name": "a", "args": ["3"]}, {"name": "b", "image": "y"}]}},
        }
    }
    strategic_merge(target, patch, builtin=True)
    assert target == {
        "spec": {
            "template": {
                "spec": {
                    "containers": [{"name": "a", "image": "x", "args": ["3"]}, {"name": "b", "image": "y"}]
                }
            }
        }
    }
    custom = {"spec": {"containers": [{"name": "a", "image": "x"}]}}
    strategic_merge(custom, {"spec": {"containers": [{"name": "a"}]}}, builtin=False)
    assert custom == {"spec": {"containers": [{"name": "a"}]}}, "custom resources: JSON merge, lists replaced"
    with pytest.raises(AssertionError):
        strategic_merge({"ports": []}, {"ports": [{"containerPort": 1}]}, builtin=True)


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        ("citizen-appeals", ("citizen-appeals", "")),
        ("citizen-appeals:1.0", ("citizen-appeals", ":1.0")),
        ("registry:5000/team/citizen-appeals", ("registry:5000/team/citizen-appeals", "")),
        ("registry:5000/citizen-appeals:1.0", ("registry:5000/citizen-appeals", ":1.0")),
        ("citizen-appeals@sha256:abc", ("citizen-appeals", "@sha256:abc")),
    ],
)
def test_renderer_splits_image_references(image: str, expected: tuple[str, str]) -> None:
    assert split_image(image) == expected


def test_every_manifest_file_is_used_and_the_example_secret_is_not() -> None:
    referenced: set[Path] = set()
    for kustomization in K8S.rglob("kustomization.yaml"):
        spec = load_kustomization(kustomization.parent)
        for entry in spec.get("resources", []):
            referenced.add((kustomization.parent / entry).resolve())
        for patch in spec.get("patches", []):
            referenced.add((kustomization.parent / patch["path"]).resolve())
    manifests = {path.resolve() for path in K8S.rglob("*.yaml") if path.name != "kustomization.yaml"}
    assert SECRETS_EXAMPLE.resolve() in manifests
    assert SECRETS_EXAMPLE.resolve() not in referenced, "secrets.example.yaml must never be applied by -k"
    unused = sorted(
        str(path.relative_to(K8S)) for path in manifests - referenced - {SECRETS_EXAMPLE.resolve()}
    )
    assert not unused, f"not listed in any kustomization.yaml: {unused}"


# --- schemas ----------------------------------------------------------------------------------------------


def test_builtin_kinds_validate_against_the_kubernetes_schemas(rendered: list[dict[str, Any]]) -> None:
    errors = []
    for obj in rendered:
        if not is_builtin(obj):
            continue
        try:
            kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            where = ".".join(str(part) for part in exc.path)
            errors.append(f"{obj['kind']}/{obj['metadata']['name']}: {where}: {exc.message}")
    assert not errors, "\n".join(errors)


STRING = {"type": "string", "minLength": 1}
STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
QUANTITY = {
    "anyOf": [
        {"type": "integer", "minimum": 0},
        {"type": "string", "pattern": r"^[0-9]+(\.[0-9]+)?(m|k|Ki|M|Mi|G|Gi|T|Ti|P|Pi|E|Ei)?$"},
    ]
}
RESOURCES = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "requests": {"type": "object", "additionalProperties": QUANTITY},
        "limits": {"type": "object", "additionalProperties": QUANTITY},
    },
}
METADATA = {
    "type": "object",
    "required": ["name"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "pattern": DNS_LABEL, "maxLength": 63},
        "namespace": {"type": "string", "pattern": DNS_LABEL},
        "labels": STRING_MAP,
        "annotations": STRING_MAP,
    },
}
OBJECT = {"type": "object"}


def custom_resource(api_version: str, kind: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "additionalProperties": False,
        "properties": {
            "apiVersion": {"const": api_version},
            "kind": {"const": kind},
            "metadata": METADATA,
            "spec": spec,
        },
    }


# KEDA 2.x: https://keda.sh/docs/latest/reference/scaledobject-spec/ and the rabbitmq scaler's parameters.
SCALED_OBJECT = custom_resource(
    "keda.sh/v1alpha1",
    "ScaledObject",
    {
        "type": "object",
        "required": ["scaleTargetRef", "triggers"],
        "additionalProperties": False,
        "properties": {
            "scaleTargetRef": {
                "type": "object",
                "required": ["name"],
                "additionalProperties": False,
                "properties": {
                    "name": STRING,
                    "kind": STRING,
                    "apiVersion": STRING,
                    "envSourceContainerName": STRING,
                },
            },
            "pollingInterval": {"type": "integer", "minimum": 1},
            "cooldownPeriod": {"type": "integer", "minimum": 0},
            "initialCooldownPeriod": {"type": "integer", "minimum": 0},
            "idleReplicaCount": {"type": "integer", "minimum": 0},
            "minReplicaCount": {"type": "integer", "minimum": 0},
            "maxReplicaCount": {"type": "integer", "minimum": 1},
            "fallback": {
                "type": "object",
                "required": ["failureThreshold", "replicas"],
                "additionalProperties": False,
                "properties": {
                    "failureThreshold": {"type": "integer", "minimum": 1},
                    "replicas": {"type": "integer", "minimum": 1},
                    "behavior": {"enum": ["static", "currentReplicas", "currentReplicasIfHigher"]},
                },
            },
            "advanced": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "restoreToOriginalReplicaCount": {"type": "boolean"},
                    "horizontalPodAutoscalerConfig": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {"name": STRING, "behavior": OBJECT},
                    },
                    "scalingModifiers": OBJECT,
                },
            },
            "triggers": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "required": ["type", "metadata"],
                    "additionalProperties": False,
                    "properties": {
                        "type": STRING,
                        "name": STRING,
                        "metricType": {"enum": ["AverageValue", "Value", "Utilization"]},
                        "useCachedMetrics": {"type": "boolean"},
                        "metadata": STRING_MAP,
                        "authenticationRef": {
                            "type": "object",
                            "required": ["name"],
                            "additionalProperties": False,
                            "properties": {
                                "name": STRING,
                                "kind": {"enum": ["TriggerAuthentication", "ClusterTriggerAuthentication"]},
                            },
                        },
                    },
                    "if": {"properties": {"type": {"const": "rabbitmq"}}},
                    "then": {
                        "properties": {
                            "metadata": {
                                "required": ["queueName", "mode", "value"],
                                "properties": {
                                    "queueName": STRING,
                                    "mode": {"enum": ["QueueLength", "MessageRate"]},
                                    "value": {"type": "string", "pattern": r"^[0-9]+(\.[0-9]+)?$"},
                                    "activationValue": {"type": "string", "pattern": r"^[0-9]+(\.[0-9]+)?$"},
                                    "protocol": {"enum": ["auto", "amqp", "http"]},
                                    "vhostName": {"type": "string"},
                                },
                            }
                        }
                    },
                },
            },
        },
    },
)

TRIGGER_AUTHENTICATION = custom_resource(
    "keda.sh/v1alpha1",
    "TriggerAuthentication",
    {
        "type": "object",
        "minProperties": 1,
        "additionalProperties": False,
        "properties": {
            "secretTargetRef": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "required": ["parameter", "name", "key"],
                    "additionalProperties": False,
                    "properties": {"parameter": STRING, "name": STRING, "key": STRING},
                },
            },
            "env": {"type": "array"},
            "configMapTargetRef": {"type": "array"},
            "podIdentity": OBJECT,
            "hashiCorpVault": OBJECT,
            "azureKeyVault": OBJECT,
            "awsSecretManager": OBJECT,
            "gcpSecretManager": OBJECT,
            "boundServiceAccountToken": {"type": "array"},
        },
    },
)

# RabbitMQ Cluster Operator: https://github.com/rabbitmq/cluster-operator (api/v1beta1, RabbitmqClusterSpec).
RABBITMQ_CLUSTER = custom_resource(
    "rabbitmq.com/v1beta1",
    "RabbitmqCluster",
    {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "replicas": {"type": "integer", "minimum": 0},
            "image": STRING,
            "imagePullSecrets": {"type": "array"},
            "service": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "type": {"enum": ["ClusterIP", "LoadBalancer", "NodePort"]},
                    "annotations": STRING_MAP,
                    "ipFamilyPolicy": STRING,
                },
            },
            "persistence": {
                "type": "object",
                "additionalProperties": False,
                "properties": {"storageClassName": STRING, "storage": QUANTITY},
            },
            "resources": RESOURCES,
            "affinity": OBJECT,
            "tolerations": {"type": "array"},
            "rabbitmq": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "additionalPlugins": {"type": "array", "items": STRING},
                    "additionalConfig": {"type": "string"},
                    "advancedConfig": {"type": "string"},
                    "envConfig": {"type": "string"},
                    "erlangInetConfig": {"type": "string"},
                },
            },
            "tls": OBJECT,
            "override": OBJECT,
            "secretBackend": OBJECT,
            "skipPostDeployScript": {"type": "boolean"},
            "terminationGracePeriodSeconds": {"type": "integer", "minimum": 0},
            "delayStartSeconds": {"type": "integer", "minimum": 0},
            "autoEnableAllFeatureFlags": {"type": "boolean"},
        },
    },
)

# MongoDB Controllers for Kubernetes / Community Operator: the MongoDBCommunity resource
# (mongodbcommunity.mongodb.com/v1; docs/deploy-configure.md and the CRD's required fields).
MONGODB_COMMUNITY = custom_resource(
    "mongodbcommunity.mongodb.com/v1",
    "MongoDBCommunity",
    {
        "type": "object",
        "required": ["members", "type", "version", "security"],
        "additionalProperties": False,
        "properties": {
            "members": {"type": "integer", "minimum": 1},
            "arbiters": {"type": "integer", "minimum": 0},
            "type": {"enum": ["ReplicaSet"]},
            "version": {"type": "string", "pattern": r"^\d+\.\d+\.\d+$"},
            "featureCompatibilityVersion": STRING,
            "replicaSetHorizons": {"type": "array"},
            "security": {
                "type": "object",
                "required": ["authentication"],
                "additionalProperties": False,
                "properties": {
                    "authentication": {
                        "type": "object",
                        "required": ["modes"],
                        "additionalProperties": False,
                        "properties": {
                            "modes": {
                                "type": "array",
                                "minItems": 1,
                                "items": {"enum": ["SCRAM", "SCRAM-SHA-1", "SCRAM-SHA-256", "X509"]},
                            },
                            "ignoreUnknownUsers": {"type": "boolean"},
                            "agentMode": STRING,
                        },
                    },
                    "tls": OBJECT,
                    "roles": {"type": "array"},
                },
            },
            "users": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["name", "db", "passwordSecretRef", "roles", "scramCredentialsSecretName"],
                    "additionalProperties": False,
                    "properties": {
                        "name": STRING,
                        "db": STRING,
                        "passwordSecretRef": {
                            "type": "object",
                            "required": ["name"],
                            "additionalProperties": False,
                            "properties": {"name": STRING, "key": STRING},
                        },
                        "roles": {
                            "type": "array",
                            "minItems": 1,
                            "items": {
                                "type": "object",
                                "required": ["name", "db"],
                                "additionalProperties": False,
                                "properties": {"name": STRING, "db": STRING},
                            },
                        },
                        "scramCredentialsSecretName": {"type": "string", "pattern": DNS_LABEL},
                        "connectionStringSecretName": STRING,
                        "connectionStringSecretNamespace": STRING,
                        "additionalConnectionStringConfig": OBJECT,
                    },
                },
            },
            "statefulSet": {
                "type": "object",
                "additionalProperties": False,
                "properties": {"spec": OBJECT, "metadata": OBJECT},
            },
            "additionalMongodConfig": OBJECT,
            "additionalConnectionStringConfig": OBJECT,
            "agent": OBJECT,
            "automationConfig": OBJECT,
            "memberConfig": {"type": "array"},
            "prometheus": OBJECT,
        },
    },
)

CUSTOM_SCHEMAS = {
    ("keda.sh/v1alpha1", "ScaledObject"): SCALED_OBJECT,
    ("keda.sh/v1alpha1", "TriggerAuthentication"): TRIGGER_AUTHENTICATION,
    ("rabbitmq.com/v1beta1", "RabbitmqCluster"): RABBITMQ_CLUSTER,
    ("mongodbcommunity.mongodb.com/v1", "MongoDBCommunity"): MONGODB_COMMUNITY,
}


def validate_embedded(api_version: str, kind: str, spec: dict[str, Any], where: str) -> None:
    """A Kubernetes type embedded in a custom resource, checked by wrapping it in a built-in object."""
    try:
        kubernetes_validate.validate(
            {"apiVersion": api_version, "kind": kind, "metadata": {"name": "embedded"}, "spec": spec},
            K8S_VERSION,
            strict=True,
        )
    except kubernetes_validate.ValidationError as exc:
        raise AssertionError(f"{where}: {'.'.join(map(str, exc.path))}: {exc.message}") from exc


def test_custom_resources_match_the_operators_schemas(rendered: list[dict[str, Any]]) -> None:
    for obj in rendered:
        if is_builtin(obj):
            continue
        key = (obj["apiVersion"], obj["kind"])
        assert key in CUSTOM_SCHEMAS, f"no schema for {key}: add one to this test"
        jsonschema.Draft202012Validator.check_schema(CUSTOM_SCHEMAS[key])
        errors = sorted(
            jsonschema.Draft202012Validator(CUSTOM_SCHEMAS[key]).iter_errors(obj), key=lambda e: list(e.path)
        )
        where = f"{obj['kind']}/{obj['metadata']['name']}"
        assert not errors, "\n".join(f"{where}: {'.'.join(map(str, e.path))}: {e.message}" for e in errors)
        if obj["kind"] == "ScaledObject":
            behavior = (
                obj["spec"].get("advanced", {}).get("horizontalPodAutoscalerConfig", {}).get("behavior")
            )
            if behavior is not None:
                hpa = {
                    "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "x"},
                    "maxReplicas": 1,
                    "behavior": behavior,
                }
                validate_embedded("autoscaling/v2", "HorizontalPodAutoscaler", hpa, where)
        if obj["kind"] == "RabbitmqCluster" and "affinity" in obj["spec"]:
            pod = {"containers": [{"name": "x", "image": "x"}], "affinity": obj["spec"]["affinity"]}
            validate_embedded("v1", "Pod", pod, where)
        if obj["kind"] == "MongoDBCommunity":
            template = obj["spec"].get("statefulSet", {}).get("spec", {}).get("template", {}).get("spec", {})
            pod = copy.deepcopy(template)
            pod["containers"] = [{"image": "x", **container} for container in pod.get("containers", [])]
            validate_embedded("v1", "Pod", pod, where)


def test_example_secrets_are_valid_placeholders() -> None:
    documents = load_documents(SECRETS_EXAMPLE)
    assert documents
    for doc in documents:
        assert doc["kind"] == "Secret"
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
        assert "data" not in doc, "placeholders in stringData only (base64 would hide what they are)"
        for key, value in doc["stringData"].items():
            assert "REPLACE" in value, f"{doc['metadata']['name']}.{key} must be an obvious placeholder"


def test_example_secrets_hold_every_key_the_manifests_reference(production: list[dict[str, Any]]) -> None:
    secrets = example_secrets()
    for obj in production:
        for container in containers(obj):
            for item in container.get("env", []):
                ref = item.get("valueFrom", {}).get("secretKeyRef")
                if ref and not ref.get("optional"):
                    assert ref["key"] in secrets.get(ref["name"], {}), f"{ref['name']}.{ref['key']}"
            for source in container.get("envFrom", []):
                assert "secretRef" not in source, "secrets by key (secretKeyRef): each pod gets what it needs"
    for auth in of_kind(production, "TriggerAuthentication").values():
        for ref in auth["spec"]["secretTargetRef"]:
            assert ref["key"] in secrets.get(ref["name"], {}), f"{ref['name']}.{ref['key']}"
    for mongo in of_kind(production, "MongoDBCommunity").values():
        for user in mongo["spec"]["users"]:
            ref = user["passwordSecretRef"]
            assert ref.get("key", "password") in secrets.get(ref["name"], {})


# --- the five Deployments -----------------------------------------------------------------------------------


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


# --- the services accept the rendered environment -----------------------------------------------------------


def settings_class(name: str) -> type[ServiceSettings]:
    module = importlib.import_module(f"services.{name}.settings")
    for value in vars(module).values():
        if isinstance(value, type) and issubclass(value, ServiceSettings) and value.service_name == name:
            return value
    raise AssertionError(f"services/{name}/settings.py has no ServiceSettings subclass for {name}")


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


# --- Services, autoscaling, disruption budgets ----------------------------------------------------------


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


# --- production: the Ingress and the infrastructure --------------------------------------------------------


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


# --- the Grafana dashboard ---------------------------------------------------------------------------------

METRIC_DEFINITION = re.compile(
    r"\b(Counter|Gauge|Histogram|Summary)\(\s*[\"']([a-zA-Z_:][a-zA-Z0-9_:]*)[\"']"
)
# RabbitMQ's Prometheus plugin, per-object metrics (prometheus.return_per_object_metrics = true).
RABBITMQ_METRICS = {"rabbitmq_queue_messages_ready", "rabbitmq_queue_messages_unacked"}
REQUIRED_METRICS = {
    "appeals_messages_total",
    "appeals_events_published_total",
    "appeals_handler_seconds_bucket",
    "appeals_http_requests_total",
    "appeals_http_request_seconds_bucket",
    "rabbitmq_queue_messages_ready",
    "appeals_by_status",
    "appeals_overdue",
}
PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless"}


def exposed_metrics() -> set[str]:
    """The series names prometheus_client exposes for every metric defined in libs/ and services/."""
    names: set[str] = set()
    for path in [*(ROOT / "libs").rglob("*.py"), *(ROOT / "services").rglob("*.py")]:
        for kind, name in METRIC_DEFINITION.findall(path.read_text(encoding="utf-8")):
            if kind == "Counter":
                names.add(name if name.endswith("_total") else f"{name}_total")
            elif kind == "Gauge":
                names.add(name)
            else:
                names.update(f"{name}{suffix}" for suffix in ("_sum", "_count"))
                if kind == "Histogram":
                    names.add(f"{name}_bucket")
    return names


def promql_metrics(expr: str) -> set[str]:
    """Metric names in a PromQL expression: identifiers that are not functions, keywords or labels."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # string literals (label values, regexes)
    text = re.sub(r"\{[^}]*\}", "", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", "", text)  # range selectors
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    found = set()
    for match in re.finditer(r"[a-zA-Z_:][a-zA-Z0-9_:]*", text):
        following = text[match.end() :].lstrip()
        if following.startswith("(") or match.group() in PROMQL_WORDS:
            continue  # a function or an aggregation, or a keyword
        found.add(match.group())
    return found


def dashboard_panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from dashboard_panels(panel.get("panels", []))


@pytest.fixture
def dashboard() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return document


def test_promql_metric_extraction() -> None:
    expr = (
        'histogram_quantile(0.95, sum by (le, route) (rate(appeals_http_request_seconds_bucket{route=~"/a.*"}'
        "[$__rate_interval]))) / on (x) group_left sum without (y) (up) > bool 0"
    )
    assert promql_metrics(expr) == {"appeals_http_request_seconds_bucket", "up"}


def test_dashboard_is_a_grafana_dashboard(dashboard: dict[str, Any]) -> None:
    assert dashboard["uid"] and dashboard["title"]
    assert isinstance(dashboard["schemaVersion"], int)
    variables = {variable["name"]: variable for variable in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    panels = list(dashboard_panels(dashboard["panels"]))
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for panel in panels:
        assert {"h", "w", "x", "y"} <= set(panel["gridPos"])
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        assert panel["targets"], panel["title"]
        ref_ids = [target["refId"] for target in panel["targets"]]
        assert len(ref_ids) == len(set(ref_ids)), panel["title"]


def test_dashboard_queries_only_metrics_that_exist(dashboard: dict[str, Any]) -> None:
    known = exposed_metrics() | RABBITMQ_METRICS
    assert {
        "appeals_messages_total",
        "appeals_handler_seconds_bucket",
        "appeals_http_requests_total",
    } <= known
    used: set[str] = set()
    for panel in dashboard_panels(dashboard["panels"]):
        for target in panel.get("targets", []):
            names = promql_metrics(target["expr"])
            assert names, f"{panel['title']}: {target['expr']!r} queries no metric"
            unknown = names - known
            assert not unknown, f"{panel['title']}: {sorted(unknown)} are not exposed by the code or RabbitMQ"
            used |= names
    missing = REQUIRED_METRICS - used
    assert not missing, f"no panel shows {sorted(missing)}"


def test_dashboard_queue_panels_match_the_broker_namespace(dashboard: dict[str, Any]) -> None:
    variables = {variable["name"]: variable for variable in dashboard["templating"]["list"]}
    assert variables["broker_namespace"]["query"] == config(render("production"))["APPEALS_NAMESPACE"]
    queue_exprs = [
        target["expr"]
        for panel in dashboard_panels(dashboard["panels"])
        for target in panel.get("targets", [])
        if "rabbitmq_" in target["expr"]
    ]
    assert queue_exprs
    assert all("$broker_namespace" in expr for expr in queue_exprs)
