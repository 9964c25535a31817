"""The object store behind an async port: MinIO's SDK (sync) runs in worker threads.

This is the only module that speaks S3; flows see `ObjectStore` and tests use a fake.
"""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any, BinaryIO, Protocol
from urllib.parse import urlsplit

import urllib3
from minio import Minio
from minio.error import S3Error

from libs.common.logging import get_logger
from services.media.settings import MediaSettings

log = get_logger(__name__)

_OURS_ALREADY = {"BucketAlreadyOwnedByYou", "BucketAlreadyExists"}
# GetBucketPolicy's answers when the bucket has no policy, or the server has no policies at all.
_NO_POLICY = {"NoSuchBucketPolicy", "NotImplemented", "MethodNotAllowed"}


class ObjectStore(Protocol):
    async def ensure_bucket(self) -> None: ...

    async def put(self, key: str, body: BinaryIO, length: int, content_type: str) -> None: ...

    async def delete(self, key: str) -> None:
        """Deleting what is not there is not an error (S3 semantics)."""

    async def presigned_get(
        self, key: str, ttl: timedelta, *, content_type: str, disposition: str
    ) -> str: ...

    async def ping(self) -> bool: ...


def _client(endpoint: str, settings: MediaSettings) -> Minio:
    url = urlsplit(endpoint if "://" in endpoint else f"https://{endpoint}")
    if url.scheme not in ("http", "https") or not url.netloc:
        raise ValueError(f"s3 endpoint must look like http(s)://host:port, got {endpoint!r}")
    http = urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=5.0, read=60.0),
        retries=urllib3.Retry(total=3, backoff_factor=0.2, status_forcelist=(500, 502, 503, 504)),
    )
    # Constructing the client does no I/O; the region is given so presigning never asks the server.
    return Minio(
        url.netloc,
        access_key=settings.s3_access_key.get_secret_value(),
        secret_key=settings.s3_secret_key.get_secret_value(),
        secure=url.scheme == "https",
        region=settings.s3_region,
        http_client=http,
    )


def _is_public(policy: str) -> bool:
    try:
        statements = json.loads(policy).get("Statement", [])
    except (ValueError, AttributeError):
        return False
    for statement in statements if isinstance(statements, list) else [statements]:
        principal = statement.get("Principal") if isinstance(statement, dict) else None
        aws = principal.get("AWS") if isinstance(principal, dict) else principal
        if statement.get("Effect") == "Allow" and (aws == "*" or (isinstance(aws, list) and "*" in aws)):
            return True
    return False


class S3ObjectStore:
    def __init__(self, settings: MediaSettings) -> None:
        self.bucket = settings.bucket_name
        self._region = settings.s3_region
        self._client = _client(settings.s3_endpoint, settings)
        public = settings.s3_public_endpoint
        self._signer = _client(public, settings) if public else self._client

    async def ensure_bucket(self) -> None:
        await asyncio.to_thread(self._ensure_bucket)

    def _ensure_bucket(self) -> None:
        if not self._client.bucket_exists(self.bucket):
            try:
                self._client.make_bucket(self.bucket, location=self._region)
                log.info("bucket created", bucket=self.bucket)
            except S3Error as exc:
                if exc.code not in _OURS_ALREADY:
                    raise
        self._refuse_public_policy()

    def _refuse_public_policy(self) -> None:
        """Objects are handed out only through signed links: a public bucket would leak them all.

        A server without bucket policies has none to make it public: moto answers NotImplemented,
        s3rver (`make run`'s local S3) MethodNotAllowed (docs/media.md, "Local S3").
        """
        try:
            policy = self._client.get_bucket_policy(self.bucket)
        except S3Error as exc:
            if exc.code in _NO_POLICY:
                return
            raise
        if _is_public(policy):
            raise RuntimeError(f"bucket {self.bucket} has a public policy; media must stay private")

    async def ping(self) -> bool:
        return bool(await asyncio.to_thread(self._client.bucket_exists, self.bucket))

    async def put(self, key: str, body: BinaryIO, length: int, content_type: str) -> None:
        """Streams `length` bytes of `body` (in parts when large); nothing is read into memory whole."""
        body.seek(0)
        await asyncio.to_thread(
            self._client.put_object, self.bucket, key, body, length, content_type=content_type
        )

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self._client.remove_object, self.bucket, key)

    async def presigned_get(self, key: str, ttl: timedelta, *, content_type: str, disposition: str) -> str:
        """A GET link valid for `ttl`; the response headers are part of the signature."""
        headers: dict[str, str | list[str] | tuple[str]] = {
            "response-content-type": content_type,
            "response-content-disposition": disposition,
        }
        url: Any = await asyncio.to_thread(
            self._signer.presigned_get_object, self.bucket, key, expires=ttl, response_headers=headers
        )
        return str(url)
