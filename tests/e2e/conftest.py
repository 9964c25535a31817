"""One stack of the six services as real OS processes, shared by the end-to-end tests."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from PIL import Image

from devstack.mailsink import MailSink
from devstack.stack import LocalStack, free_port
from tests.infra import session_namespace


@pytest.fixture(scope="session")
def mail() -> Iterator[MailSink]:
    with MailSink("127.0.0.1", free_port()) as sink:
        yield sink


def start_stack(
    mail: MailSink, tmp_path_factory: pytest.TempPathFactory, rabbit_url: str, **extra_env: str
) -> LocalStack:
    """Start a stack; a test module needing other settings (short windows...) starts its own."""
    workdir = tmp_path_factory.mktemp("stack")
    stack = LocalStack.ephemeral(session_namespace("e2e-"), workdir, smtp=(mail.host, mail.port))
    stack.extra_env.update({"RABBIT_URL": rabbit_url, **extra_env})
    stack.start()  # stops what it started when it fails
    return stack


@pytest.fixture(scope="session")
def stack(mail: MailSink, tmp_path_factory: pytest.TempPathFactory, rabbit_url: str) -> Iterator[LocalStack]:
    stack = start_stack(mail, tmp_path_factory, rabbit_url)
    yield stack
    stack.stop()


@pytest.fixture
async def gateway(stack: LocalStack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.url("intake"), timeout=15) as client:
        yield client


async def bearer(
    client: httpx.AsyncClient, sub: str, role: str = "citizen", org_id: str | None = None
) -> dict:
    response = await client.post("/api/v1/dev/tokens", json={"sub": sub, "role": role, "org_id": org_id})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def photo(size: tuple[int, int] = (320, 240)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buffer, "JPEG")
    return buffer.getvalue()
