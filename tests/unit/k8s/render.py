"""How the tests render the Kubernetes manifests (deploy/k8s) and the Grafana dashboard (deploy/grafana) stay deployable.

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
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from libs.common.settings import ServiceSettings

ROOT = Path(__file__).resolve().parents[3]
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


def settings_class(name: str) -> type[ServiceSettings]:
    module = importlib.import_module(f"services.{name}.settings")
    for value in vars(module).values():
        if isinstance(value, type) and issubclass(value, ServiceSettings) and value.service_name == name:
            return value
    raise AssertionError(f"services/{name}/settings.py has no ServiceSettings subclass for {name}")
