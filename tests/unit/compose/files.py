"""Reading docker-compose.yml, the Dockerfile and .env.example as Docker would (no engine here)."""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[3]
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
