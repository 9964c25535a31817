"""Shared test fixtures. Infrastructure comes from, in order: URLs in the environment
(RABBIT_URL, MONGO_URL), testcontainers when a Docker engine answers, else the local servers."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from devstack.rabbit import ensure_rabbitmq
from tests.infra import docker_available


@pytest.fixture(scope="session")
def rabbit_url() -> Iterator[str]:
    if url := os.environ.get("RABBIT_URL"):
        yield url
        return
    if docker_available():
        from testcontainers.rabbitmq import RabbitMqContainer

        with RabbitMqContainer("rabbitmq:4-management") as container:
            params = container.get_connection_params()
            yield f"amqp://guest:guest@{params.host}:{params.port}/"
        return
    ensure_rabbitmq()
    yield "amqp://guest:guest@127.0.0.1:5672/"


@pytest.fixture(scope="session")
def mongo_url() -> Iterator[str | None]:
    """A real MongoDB when one is given or Docker can start one; else None (the in-memory store)."""
    if url := os.environ.get("MONGO_URL"):
        yield url
        return
    if docker_available():
        from testcontainers.mongodb import MongoDbContainer

        with MongoDbContainer("mongo:8") as container:
            yield container.get_connection_url()
        return
    yield None


@pytest.fixture
def namespace() -> str:
    """Every name on the broker is under this, so parallel runs never see each other."""
    return f"test-{uuid.uuid4().hex[:10]}"
