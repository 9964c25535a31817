"""Fixtures for integration tests: local servers started for the session, on loopback only."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from devstack.s3 import LocalS3
from tests.infra import docker_available


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited early with code {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listened on 127.0.0.1:{port} within {timeout}s")


@dataclass(frozen=True)
class S3Server:
    endpoint: str
    access_key: str = "test"
    secret_key: str = "test"


@pytest.fixture(scope="session")
def s3() -> Iterator[S3Server]:
    """An S3 server: MEDIA_S3_* from the environment, else MinIO through testcontainers when a
    Docker engine answers, else moto's S3 server as a subprocess on loopback."""
    if endpoint := os.environ.get("MEDIA_S3_ENDPOINT"):
        yield S3Server(endpoint, os.environ["MEDIA_S3_ACCESS_KEY"], os.environ["MEDIA_S3_SECRET_KEY"])
        return
    if docker_available():
        from testcontainers.community.minio import MinioContainer

        with MinioContainer() as minio:
            config = minio.get_config()
            yield S3Server(f"http://{config['endpoint']}", config["access_key"], config["secret_key"])
        return
    port = _free_port()
    process = subprocess.Popen(
        LocalS3(port).argv(),  # moto, in memory: devstack's choice for everything but `make run`
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for_port(port, process, timeout=30.0)
        yield S3Server(f"http://127.0.0.1:{port}")
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
