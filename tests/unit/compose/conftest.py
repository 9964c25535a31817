"""The compose file, parsed once per module."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.compose.files import interpolate, load_compose, read_env_example


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
