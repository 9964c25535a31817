"""The kustomize subset renders like kustomize, and every built-in kind validates offline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest

from tests.unit.k8s.render import (
    K8S,
    K8S_VERSION,
    SECRETS_EXAMPLE,
    is_builtin,
    load_kustomization,
    split_image,
    strategic_merge,
)


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
