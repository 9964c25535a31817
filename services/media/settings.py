from __future__ import annotations

import hashlib
import re
from typing import ClassVar

from pydantic import Field, SecretStr

from libs.common.settings import DEV_SECRET, ServiceSettings

MiB = 1024 * 1024
_NOT_ALLOWED = re.compile(r"[^a-z0-9-]+")
_RESERVED_PREFIXES = ("sthree-", "amzn-s3-demo-")  # "xn--" cannot survive the dash collapsing


class MediaSettings(ServiceSettings):
    service_name: ClassVar[str] = "media"

    http_port: int = 8004
    s3_endpoint: str = "http://127.0.0.1:9000"
    # Presigned links carry the host in their signature: set this when callers reach the object
    # store under another address than the service does (e.g. a public MinIO hostname).
    s3_public_endpoint: str | None = None
    s3_access_key: SecretStr = SecretStr(DEV_SECRET)
    s3_secret_key: SecretStr = SecretStr(DEV_SECRET)
    s3_bucket: str = "appeals-media"
    s3_region: str = "us-east-1"
    # Images and PDF documents; videos have their own bound.
    max_upload_bytes: int = Field(default=10 * MiB, ge=1)
    max_video_bytes: int = Field(default=50 * MiB, ge=1)
    max_video_seconds: float = Field(default=120.0, gt=0)
    link_ttl_seconds: int = Field(default=300, ge=1, le=7 * 24 * 3600)  # S3's presign maximum
    max_image_pixels: int = Field(default=40_000_000, ge=1)
    thumb_px: int = Field(default=256, ge=16, le=4096)
    web_px: int = Field(default=1600, ge=64, le=8192)
    # Images decoded at once (each may take max_image_pixels x 4 bytes of memory, a few times).
    max_concurrent_cleaning: int = Field(default=2, ge=1)
    # Per owner: uploads not yet attached to an appeal, and uploads in the last hour.
    max_pending_per_owner: int = Field(default=50, ge=1)
    max_uploads_per_hour: int = Field(default=120, ge=1)
    # Uploads no appeal or answer claimed are deleted after this (0: kept forever). Media is
    # attached by appeal.submitted (the author's files) and appeal.answered (the operator's).
    orphan_retention_hours: float = Field(default=48.0, ge=0)
    orphan_sweep_seconds: float = Field(default=600.0, gt=0)

    @property
    def max_request_bytes(self) -> int:
        """The most any upload may be: the body is cut off past this (plus multipart framing)."""
        return max(self.max_upload_bytes, self.max_video_bytes)

    @property
    def bucket_name(self) -> str:
        return s3_bucket_name(self.namespace, self.s3_bucket)


def s3_bucket_name(namespace: str, bucket: str) -> str:
    """`<namespace>-<bucket>` made valid for S3: 3-63 of [a-z0-9-], alphanumeric at both ends.

    Dots are replaced too (they break TLS with virtual-hosted buckets). A name cut to fit keeps a
    hash of the full one, so two long namespaces do not end up sharing a bucket.
    """
    wanted = f"{namespace}-{bucket}".lower()
    name = _NOT_ALLOWED.sub("-", wanted)
    name = re.sub(r"-{2,}", "-", name).strip("-")
    if name.startswith(_RESERVED_PREFIXES):
        name = f"ns-{name}"
    if len(name) > 63:
        digest = hashlib.sha256(wanted.encode()).hexdigest()[:8]
        name = f"{name[:54].rstrip('-')}-{digest}"
    if len(name) < 3:
        name = f"{name}-media".strip("-")
    return name
