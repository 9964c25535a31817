"""`make run`'s local S3 (devstack/s3.py): s3rver on disk keeps the media service's objects across
a restart of the server, through the same devstack code, settings and storage class `make run`
uses; ephemeral stacks keep moto (in memory)."""

from __future__ import annotations

import io
import socket
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from devstack.s3 import S3RVER_KEYS
from devstack.stack import LocalStack
from services.media.settings import MediaSettings
from services.media.storage import S3ObjectStore

pytestmark = pytest.mark.integration

PHOTO = bytes(range(256)) * 64  # 16 KiB, every byte value
KEY = "2026/11/photo.jpg"


@pytest.fixture
def stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalStack]:
    """A stack whose S3 keeps objects in tmp_path/s3 (nothing else of it is started)."""
    for name in ("MEDIA_S3_ENDPOINT", "MEDIA_S3_ACCESS_KEY", "MEDIA_S3_SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)
    stack = LocalStack.ephemeral("local-s3-test", tmp_path, s3_dir=tmp_path / "s3")
    try:
        yield stack
    finally:
        stack.stop()


def media_store(stack: LocalStack, monkeypatch: pytest.MonkeyPatch) -> S3ObjectStore:
    """The storage class with the settings the media process reads from the stack's environment."""
    for name, value in stack.service_env().items():
        monkeypatch.setenv(name, value)
    return S3ObjectStore(MediaSettings())


async def signed_get(store: S3ObjectStore) -> httpx.Response:
    url = await store.presigned_get(
        KEY, timedelta(minutes=5), content_type="image/jpeg", disposition='inline; filename="a.jpg"'
    )
    async with httpx.AsyncClient() as client:
        return await client.get(url)


async def test_objects_survive_a_restart(stack: LocalStack, monkeypatch: pytest.MonkeyPatch) -> None:
    stack.start_s3()
    store = media_store(stack, monkeypatch)
    assert stack.service_env()["MEDIA_S3_ACCESS_KEY"] == S3RVER_KEYS[0]  # s3rver's only account
    await store.ensure_bucket()
    await store.put(KEY, io.BytesIO(PHOTO), len(PHOTO), "image/jpeg")

    stack.stop_process("s3")
    stack.start_s3()

    again = media_store(stack, monkeypatch)
    await again.ensure_bucket()  # the bucket is already there: no error
    assert await again.ping()
    response = await signed_get(again)
    assert response.status_code == 200, response.text
    assert response.content == PHOTO
    assert response.headers["content-type"] == "image/jpeg"
    assert response.headers["content-disposition"] == 'inline; filename="a.jpg"'
    assert list((stack.workdir / "s3" / again.bucket).glob("2026/11/photo.jpg*"))

    await again.delete(KEY)
    await again.delete(KEY)  # deleting what is not there is not an error
    assert (await signed_get(again)).status_code == 404


def test_ephemeral_stacks_keep_moto(tmp_path: Path) -> None:
    stack = LocalStack.ephemeral("local-s3-test", tmp_path)
    assert stack.local_s3.name == "moto"
    assert "moto.server" in stack.local_s3.argv()


def test_a_taken_port_is_named_not_taken_for_ours(stack: LocalStack) -> None:
    with socket.socket() as other:
        other.bind(("127.0.0.1", stack.s3_port))
        other.listen()
        with pytest.raises(RuntimeError, match=f"127.0.0.1:{stack.s3_port} is taken"):
            stack.start_s3()
    assert "s3" not in stack.processes
