"""The Dockerfile builds a non-root image from what the build context holds, and the services'
settings accept the compose environment."""

from __future__ import annotations

import importlib
import json
import os
import re
import secrets
import shlex
import tomllib
from typing import Any

import pytest

from libs.common.settings import UNPREFIXED, ServiceSettings, weak_token_problem
from tests.unit.compose.files import (
    APP_PORTS,
    DOCKERIGNORE,
    ROOT,
    dockerfile_env,
    dockerfile_instructions,
    environment,
    read_env_example,
)


def test_dockerfile_base_image_is_python_3_11_or_newer() -> None:
    bases = [arguments.split()[0] for keyword, arguments in dockerfile_instructions() if keyword == "FROM"]
    assert bases
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    minimum = re.search(r">=\s*(\d+)\.(\d+)", pyproject["project"]["requires-python"])
    assert minimum
    for base in bases:
        version = re.fullmatch(r"python:(\d+)\.(\d+)[\w.-]*", base)
        assert version, f"unexpected base image {base}"
        found = tuple(map(int, version.groups()))
        assert found >= (3, 11)
        assert found >= tuple(map(int, minimum.groups())), "older than pyproject's requires-python"
    assert bases[-1].endswith("-slim")


def test_dockerfile_runs_as_non_root_with_container_settings() -> None:
    instructions = dockerfile_instructions()
    users = [arguments for keyword, arguments in instructions if keyword == "USER"]
    assert users
    assert users[-1].split(":")[0] not in ("root", "0")
    commands = [json.loads(arguments) for keyword, arguments in instructions if keyword == "CMD"]
    assert commands[-1] == ["python", "-m", "services.intake"], "CMD must be in exec form"
    env = dockerfile_env()
    assert env["APPEALS_LOG_JSON"] == "true"
    assert env["APPEALS_HTTP_HOST"] == "0.0.0.0"
    runs = " ".join(arguments for keyword, arguments in instructions if keyword == "RUN")
    assert "pip install -c constraints.txt ." in runs


def test_docker_build_context_holds_what_the_dockerfile_copies() -> None:
    ignore = [line.strip() for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()]
    ignore = [line for line in ignore if line and not line.startswith("#")]
    assert ignore[0] == "*", ".dockerignore is an allow-list"
    allowed = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    copied: set[str] = set()
    for keyword, arguments in dockerfile_instructions():
        if keyword == "COPY" and "--from=" not in arguments:
            copied.update(shlex.split(arguments)[:-1])
    for source in copied:
        assert (ROOT / source).exists(), f"COPY {source}: no such file"
        assert source in allowed, f"COPY {source}: excluded from the build context by .dockerignore"
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    for pattern in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]:
        assert pattern.rstrip("*") in copied, f"package {pattern} is not copied into the image"


def settings_class(name: str) -> tuple[type[ServiceSettings], bool]:
    """The service's own settings class when it exists yet, else the shared base with its prefix."""
    module_name = f"services.{name}.settings"
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
    else:
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, ServiceSettings) and value.service_name == name:
                return value, True
    return type(f"{name.title()}Settings", (ServiceSettings,), {"service_name": name}), False


@pytest.mark.parametrize("name", sorted(APP_PORTS))
def test_service_settings_accept_the_compose_environment(
    resolved: dict[str, Any], monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    cls, own = settings_class(name)
    prefixes = (f"{name.upper()}_", "APPEALS_")
    for key in list(os.environ):
        if key.startswith(prefixes) or key.lower() in UNPREFIXED:
            monkeypatch.delenv(key)
    env = {**dockerfile_env(), **environment(resolved["services"][name])}
    # `.env.example`'s placeholder is refused outside dev on purpose (a deployer must replace it);
    # a real deployment's `.env` holds a random one.
    assert env["APPEALS_INTERNAL_TOKEN"] == read_env_example()["INTERNAL_TOKEN"]
    assert weak_token_problem(env["APPEALS_INTERNAL_TOKEN"])
    env["APPEALS_INTERNAL_TOKEN"] = secrets.token_urlsafe(32)
    for key, value in env.items():
        if key.startswith(prefixes) or key.lower() in UNPREFIXED:
            monkeypatch.setenv(key, value)

    # Settings ignore unknown variables: a misspelt one would silently keep its default.
    fields = {field.lower() for field in cls.model_fields}
    checked = prefixes if own else ("APPEALS_",)
    unknown = [
        key
        for key in env
        for prefix in checked
        if key.startswith(prefix) and key.removeprefix(prefix).lower() not in fields
    ]
    assert not unknown, f"{cls.__name__} has no field for {unknown}: rename the field or the variable"

    settings = cls()
    assert settings.http_port == APP_PORTS[name]
    assert settings.http_host == "0.0.0.0"
    assert not settings.is_dev
    assert settings.queue_kind == "quorum"
    assert settings.log_json is True
    assert settings.mongo_url == "mongodb://mongo:27017/?replicaSet=rs0"
