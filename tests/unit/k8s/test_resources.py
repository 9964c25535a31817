"""The operators' custom resources match their schemas; the example secrets fit the manifests."""

from __future__ import annotations

import copy
from typing import Any

import jsonschema
import kubernetes_validate

from tests.unit.k8s.render import (
    K8S_VERSION,
    SECRETS_EXAMPLE,
    containers,
    example_secrets,
    is_builtin,
    load_documents,
    of_kind,
)
from tests.unit.k8s.schemas import CUSTOM_SCHEMAS, validate_embedded


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
