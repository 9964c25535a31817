"""docker-compose.yml, the Dockerfile and .env.example stay correct without a Docker engine.

The compose file is parsed and checked against the Compose Specification's JSON schema (vendored in
deploy/compose/), against the settings the services read, and for secrets; `docker compose config`
runs as well when the docker CLI has the compose plugin.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.unit.compose.files import (
    APP_PORTS,
    DOCKERFILE,
    INFRA,
    ROOT,
    SECRET_NAME,
    VARIABLE,
    environment,
    read_env_example,
    references,
    strings,
)


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
