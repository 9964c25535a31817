"""docker-compose.yml, the Dockerfile and .env.example stay correct without a Docker engine.

The compose file is parsed and checked against the Compose Specification's JSON schema (vendored in
deploy/compose/), against the settings the services read, and for secrets; `docker compose config`
runs as well when the docker CLI has the compose plugin.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import secrets
import shlex
import shutil
import subprocess
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from libs.common.settings import UNPREFIXED, ServiceSettings, weak_token_problem

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
ENV_EXAMPLE = ROOT / ".env.example"

APP_PORTS = {"intake": 8000, "routing": 8001, "deadlines": 8002, "notify": 8003, "media": 8004, "polls": 8005}
INFRA = ("rabbitmq", "mongo", "minio", "mailpit")
SECRET_NAME = re.compile(r"PASS|SECRET|TOKEN|KEY|USER")
# Compose interpolation: `$$` is a literal `$`; `${VAR}`, `${VAR:-default}`, `${VAR-default}`,
# `${VAR:?message}`, `${VAR?message}` and `$VAR` read the environment (or `.env`).
VARIABLE = re.compile(
    r"\$(?:(?P<dollar>\$)|\{(?P<name>[A-Za-z_]\w*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}|(?P<bare>[A-Za-z_]\w*))"
)


# --- helpers ------------------------------------------------------------------------------------------


def load_compose() -> dict[str, Any]:
    document = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    assert isinstance(document, dict), "docker-compose.yml must be a mapping"
    return document


def read_env_example() -> dict[str, str]:
    values: dict[str, str] = {}
    for number, raw in enumerate(ENV_EXAMPLE.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition("=")
        assert sep and re.fullmatch(r"[A-Za-z_]\w*", name), f".env.example:{number}: not NAME=value"
        values[name] = value
    return values


def strings(node: Any) -> Iterator[str]:
    """Every string value of the document (compose interpolates values, not keys)."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from strings(item)


def references(text: str) -> list[tuple[str, str]]:
    """(variable, operator) pairs used in one string; operator is "" for `${VAR}` / `$VAR`."""
    return [
        (match["name"] or match["bare"], match["op"] or "")
        for match in VARIABLE.finditer(text)
        if not match["dollar"]
    ]


def interpolate(node: Any, env: dict[str, str]) -> Any:
    def substitute(match: re.Match[str]) -> str:
        if match["dollar"]:
            return "$"
        name, op, arg = match["name"] or match["bare"], match["op"] or "", match["arg"] or ""
        value = env.get(name)
        if value is None or (op.startswith(":") and not value):
            if op.endswith("?"):
                raise AssertionError(f"required variable {name} is missing a value")
            return arg if op.endswith("-") else ""
        return value

    if isinstance(node, str):
        return VARIABLE.sub(substitute, node)
    if isinstance(node, dict):
        return {key: interpolate(value, env) for key, value in node.items()}
    if isinstance(node, list):
        return [interpolate(item, env) for item in node]
    return node


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.partition("=")[::2] for item in env)
    return {str(key): "" if value is None else str(value) for key, value in env.items()}


def dockerfile_instructions() -> list[tuple[str, str]]:
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if line.startswith("#") or (not line and not pending):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, arguments = (pending + line).strip().partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
        pending = ""
    return instructions


def dockerfile_env() -> dict[str, str]:
    """ENV of the final stage."""
    stages: list[dict[str, str]] = []
    for keyword, arguments in dockerfile_instructions():
        if keyword == "FROM":
            stages.append({})
        elif keyword == "ENV":
            stages[-1].update(item.partition("=")[::2] for item in shlex.split(arguments))
    return stages[-1]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return load_compose()


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    defined: dict[str, dict[str, Any]] = compose["services"]
    return defined


@pytest.fixture(scope="module")
def resolved(compose: dict[str, Any]) -> dict[str, Any]:
    """The compose document as `docker compose` sees it with the values of .env.example."""
    document: dict[str, Any] = interpolate(compose, read_env_example())
    return document


# --- compose: structure ------------------------------------------------------------------------------


def test_compose_spec_has_no_obsolete_version_key(compose: dict[str, Any]) -> None:
    assert "version" not in compose


def test_all_services_are_defined(services: dict[str, Any]) -> None:
    assert set(services) >= {*APP_PORTS, *INFRA}


@pytest.mark.parametrize("name", sorted(APP_PORTS))
def test_app_service_runs_its_own_module(services: dict[str, Any], name: str) -> None:
    service = services[name]
    assert service["command"] == ["python", "-m", f"services.{name}"]
    assert service["build"]["context"] == "."
    assert service["build"].get("dockerfile", "Dockerfile") == DOCKERFILE.name
    assert (ROOT / "services" / name).is_dir()


@pytest.mark.parametrize("name", sorted(APP_PORTS))
def test_app_service_health_check_probes_its_own_health_endpoint(services: dict[str, Any], name: str) -> None:
    port = APP_PORTS[name]
    assert environment(services[name])[f"{name.upper()}_HTTP_PORT"] == str(port)
    test = services[name]["healthcheck"]["test"]
    assert test[:3] == ["CMD", "python", "-c"], "the slim image has no curl: probe with python"
    compile(test[3], f"<{name} healthcheck>", "exec")
    assert f"urlopen('http://127.0.0.1:{port}/health'" in test[3]


@pytest.mark.parametrize("name", sorted(APP_PORTS))
def test_app_service_waits_for_healthy_broker_and_store(services: dict[str, Any], name: str) -> None:
    depends_on = services[name]["depends_on"]
    assert {"rabbitmq", "mongo"} <= set(depends_on)
    for dependency, spec in depends_on.items():
        assert spec["condition"] == "service_healthy", f"{name} -> {dependency}"


def test_every_service_has_a_health_check(services: dict[str, Any]) -> None:
    # `condition: service_healthy` on a service without a health check never becomes true.
    missing = [name for name, service in services.items() if not service.get("healthcheck", {}).get("test")]
    assert not missing


def test_dependencies_exist_and_have_no_cycle(services: dict[str, Any]) -> None:
    def visit(name: str, path: tuple[str, ...]) -> None:
        assert name in services, f"unknown service {name} in depends_on of {path[-1]}"
        assert name not in path, f"depends_on cycle: {' -> '.join((*path, name))}"
        for dependency in services[name].get("depends_on") or {}:
            visit(dependency, (*path, name))

    for name in services:
        visit(name, ())


@pytest.mark.parametrize("name", sorted(APP_PORTS))
def test_app_service_shared_environment(resolved: dict[str, Any], name: str) -> None:
    env = environment(resolved["services"][name])
    assert env["APPEALS_ENV"] == "production"
    assert env["APPEALS_NAMESPACE"] == "appeals"
    assert env["APPEALS_QUEUE_KIND"] == "quorum"
    assert env["APPEALS_INTERNAL_TOKEN"] == read_env_example()["INTERNAL_TOKEN"]
    assert urlsplit(env["RABBIT_URL"]).hostname == "rabbitmq"
    assert env["MONGO_URL"] == "mongodb://mongo:27017/?replicaSet=rs0"


def test_intake_is_the_public_gateway(services: dict[str, Any]) -> None:
    intake = services["intake"]
    env = environment(intake)
    assert intake["ports"] == ["8000:8000"]
    assert env["INTAKE_JWKS_URL"] == "${OIDC_JWKS_URL:?}"
    assert env["INTAKE_JWT_ISSUER"] == "${OIDC_ISSUER:?}"
    assert env["INTAKE_JWT_AUDIENCE"] == "${OIDC_AUDIENCE:-appeals}"
    for other, port in APP_PORTS.items():
        if other != "intake":
            assert env[f"INTAKE_{other.upper()}_URL"] == f"http://{other}:{port}"
            assert "ports" not in services[other], f"{other} is internal: only intake is published"


def test_media_uses_minio_and_notify_uses_mailpit(services: dict[str, Any]) -> None:
    media, notify = environment(services["media"]), environment(services["notify"])
    minio = environment(services["minio"])
    assert media["MEDIA_S3_ENDPOINT"] == "http://minio:9000"
    assert media["MEDIA_S3_PUBLIC_ENDPOINT"], "presigned links must name an address browsers reach"
    assert media["MEDIA_S3_ACCESS_KEY"] == minio["MINIO_ROOT_USER"] == "${MINIO_ROOT_USER:?}"
    assert media["MEDIA_S3_SECRET_KEY"] == minio["MINIO_ROOT_PASSWORD"] == "${MINIO_ROOT_PASSWORD:?}"
    assert "minio" in services["media"]["depends_on"]
    assert (notify["NOTIFY_SMTP_HOST"], notify["NOTIFY_SMTP_PORT"]) == ("mailpit", "1025")
    assert "mailpit" in services["notify"]["depends_on"]


def test_rabbitmq_account_is_the_one_the_services_use(services: dict[str, Any]) -> None:
    rabbit = environment(services["rabbitmq"])
    assert rabbit["RABBITMQ_DEFAULT_USER"] == "${RABBITMQ_USER:?}"
    assert rabbit["RABBITMQ_DEFAULT_PASS"] == "${RABBITMQ_PASSWORD:?}"
    url = environment(services["routing"])["RABBIT_URL"]
    assert url == "amqp://${RABBITMQ_USER:?}:${RABBITMQ_PASSWORD:?}@rabbitmq:5672/"
    assert services["rabbitmq"]["healthcheck"]["test"] == ["CMD", "rabbitmq-diagnostics", "-q", "ping"]


def test_mongo_replica_set_matches_the_services_url(services: dict[str, Any]) -> None:
    mongo = services["mongo"]
    command = mongo["command"]
    replica_set = command[command.index("--replSet") + 1]
    assert "--bind_ip_all" in command
    check = " ".join(mongo["healthcheck"]["test"])
    assert "rs.initiate(" in check
    assert f"_id: '{replica_set}'" in check
    assert "host: 'mongo:27017'" in check, "the member's host must be the compose service name"
    assert f"replicaSet={replica_set}" in environment(services["routing"])["MONGO_URL"]


def test_stateful_services_keep_data_in_named_volumes(compose: dict[str, Any]) -> None:
    declared = set(compose.get("volumes") or {})
    for name, target in (("rabbitmq", "/var/lib/rabbitmq"), ("mongo", "/data/db"), ("minio", "/data")):
        sources = {}
        for volume in compose["services"][name]["volumes"]:
            source, _, mount = volume.partition(":")
            sources[mount.partition(":")[0]] = source
        assert sources.get(target) in declared, f"{name}: {target} is not on a named volume"


# --- secrets and .env.example ------------------------------------------------------------------------


def test_no_literal_secret_values(services: dict[str, Any]) -> None:
    for service_name, service in services.items():
        for key, value in environment(service).items():
            credentials = urlsplit(value).netloc.rpartition("@")[0] if "://" in value else ""
            if not SECRET_NAME.search(key) and not credentials:
                continue
            where = f"{service_name}.{key}"
            assert "${" in value and ":?" in value, f"{where}: secret values come from ${{VAR:?}}"
            # Nothing but required variables, e.g. `user:password` of a URL made only of `${...:?}`.
            secret = credentials or value
            assert not VARIABLE.sub("", secret).strip(":"), f"{where}: literal text in a secret"
            assert all(op == ":?" for _, op in references(secret)), f"{where}: secrets have no default"


def test_every_referenced_variable_is_in_env_example(compose: dict[str, Any]) -> None:
    documented = set(read_env_example())
    used = {name for text in strings(compose) for name, _ in references(text)}
    required = {name for text in strings(compose) for name, op in references(text) if op.endswith("?")}
    assert required, "the compose file should require its secrets"
    assert not used - documented, f"add to .env.example: {sorted(used - documented)}"
    assert not documented - used, f".env.example lists unused variables: {sorted(documented - used)}"


def test_env_example_values_are_placeholders() -> None:
    values = read_env_example()
    for name, value in values.items():
        assert value, f".env.example: {name} needs a placeholder value"
        if SECRET_NAME.search(name) and not name.endswith("USER"):
            assert "replace" in value, f".env.example: {name} must be an obvious placeholder"
    assert len(values["MINIO_ROOT_PASSWORD"]) >= 8, "MinIO refuses passwords shorter than 8 characters"


def test_real_env_file_is_git_ignored() -> None:
    ignored = (ROOT / ".gitignore").read_text(encoding="utf-8").splitlines()
    assert ".env" in [line.strip() for line in ignored]


# --- Dockerfile --------------------------------------------------------------------------------------


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


# --- the services' settings accept the compose environment ---------------------------------------------


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


# --- the docker CLI, when it can validate --------------------------------------------------------------


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
