"""Shared test fixtures. Infrastructure comes from, in order: URLs in the environment
(RABBIT_URL, MONGO_URL), testcontainers when a Docker engine answers, else the local servers
(RabbitMQ started if stopped; the local store process, `devstack.docstore`, on a free port)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator

import pytest

from devstack.docstore import DocStore
from devstack.rabbit import ensure_rabbitmq
from devstack.stack import free_port
from tests.infra import SESSION_PREFIX, delete_broker_names, docker_available, session_namespace


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
def mongo_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A store over the MongoDB wire protocol: MONGO_URL, else MongoDB in Docker when an engine
    answers, else the local store process (its data in this run's temporary folder)."""
    if url := os.environ.get("MONGO_URL"):
        yield url
        return
    if docker_available():
        from testcontainers.mongodb import MongoDbContainer

        with MongoDbContainer("mongo:8") as container:
            yield container.get_connection_url()
        return
    store = DocStore(tmp_path_factory.mktemp("store") / "store.sqlite", free_port())
    store.start()
    try:
        yield store.url
    finally:
        store.stop()


@pytest.fixture
def namespace() -> str:
    """Every name on the broker is under this, so parallel runs never see each other."""
    return session_namespace()


@pytest.fixture(scope="session", autouse=True)
async def broker_hygiene(rabbit_url: str) -> AsyncIterator[None]:
    """Queues are durable: remove what this run declared, so the broker does not fill up."""
    yield
    try:
        await asyncio.wait_for(delete_broker_names(rabbit_url, SESSION_PREFIX), timeout=120)
    except Exception as exc:  # a broker restarted by a chaos test, a remote broker: not fatal
        print(f"broker clean-up skipped: {type(exc).__name__}: {exc}")
