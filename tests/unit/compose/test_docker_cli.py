"""`docker compose` itself, when the docker CLI with the compose plugin is here."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.unit.compose.files import (
    COMPOSE_FILE,
    ENV_EXAMPLE,
    ROOT,
    dockerfile_env,
    environment,
    load_compose,
    references,
    strings,
)


def docker_compose(*arguments: str, env_file: Path) -> subprocess.CompletedProcess[str]:
    docker = shutil.which("docker")
    if docker is None:
        pytest.skip("the docker CLI is not on PATH: `docker compose config` not run")
    probe = subprocess.run([docker, "compose", "version"], capture_output=True, text=True, timeout=60)
    if probe.returncode != 0:
        reason = (probe.stderr or probe.stdout).strip().splitlines()
        pytest.skip(f"the docker CLI has no compose plugin ({reason[0] if reason else probe.returncode})")
    # Only the env file decides: variables from the caller's shell would hide a missing one.
    names = {name for text in strings(load_compose()) for name, _ in references(text)}
    env = {key: value for key, value in os.environ.items() if key not in names}
    command = [docker, "compose", "--env-file", str(env_file), "-f", str(COMPOSE_FILE), *arguments]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    if "daemon" in result.stderr.lower() and "connect" in result.stderr.lower():
        pytest.skip(f"docker compose needs an engine here: {result.stderr.strip()}")
    return result


def test_docker_compose_config_is_valid() -> None:
    result = docker_compose("config", "-q", env_file=ENV_EXAMPLE)
    assert result.returncode == 0, result.stderr


def test_docker_compose_refuses_to_run_without_the_secrets(tmp_path: Path) -> None:
    empty = tmp_path / "empty.env"
    empty.write_text("", encoding="utf-8")
    result = docker_compose("config", "-q", env_file=empty)
    assert result.returncode != 0
    assert "required variable" in result.stderr


def test_the_website_is_published_and_holds_no_backend_secret(
    services: dict[str, Any], resolved: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    web = services["web"]
    assert web["command"] == ["python", "-m", "services.web"]
    assert web["ports"] == ["8080:8080"]
    assert web["depends_on"] == {"intake": {"condition": "service_healthy"}}
    env = environment(resolved["services"]["web"])
    assert not {"RABBIT_URL", "MONGO_URL", "APPEALS_INTERNAL_TOKEN"} & set(env), "least privilege"
    assert env["WEB_GATEWAY_URL"] == "http://intake:8000"
    for key in list(os.environ):
        if key.startswith(("WEB_", "APPEALS_")):
            monkeypatch.delenv(key)
    for key, value in {**dockerfile_env(), **env}.items():
        monkeypatch.setenv(key, value)
    from services.web.settings import WebSettings

    settings = WebSettings()
    assert not settings.is_dev and settings.http_port == 8080 and settings.oidc_enabled
    assert settings.node_modules.as_posix() == "/app/web/node_modules"
