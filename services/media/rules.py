"""What every cleaner shares: the rejection, the limits, and what a cleaned upload is."""

from __future__ import annotations

from dataclasses import dataclass

from libs.common.contracts.media import ContentType, GeoPoint, Rejection, Variant

CHUNK = 256 * 1024


class MediaRejected(Exception):
    """An upload refused by a named rule (`reason`), with a sentence for the person (`detail`)."""

    def __init__(self, reason: Rejection, detail: str, *, retry_after: int | None = None) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
        self.retry_after = retry_after


@dataclass(frozen=True)
class Limits:
    max_bytes: int
    max_pixels: int
    max_video_bytes: int = 50 * 1024 * 1024
    max_video_seconds: float = 120.0
    thumb_px: int = 256
    web_px: int = 1600


@dataclass(frozen=True)
class Rendition:
    """One stored object: re-encoded bytes, or (data=None) the cleaned upload file itself."""

    variant: Variant
    content_type: ContentType
    size: int
    data: bytes | None = None
    width: int | None = None
    height: int | None = None


@dataclass(frozen=True)
class CleanMedia:
    content_type: ContentType
    renditions: tuple[Rendition, ...]
    sha256: str  # of the original rendition, as stored
    width: int | None = None
    height: int | None = None
    duration_seconds: float | None = None
    location_hint: GeoPoint | None = None

    @property
    def original(self) -> Rendition:
        return next(r for r in self.renditions if r.variant is Variant.ORIGINAL)

    @property
    def size(self) -> int:
        return self.original.size

    @property
    def data(self) -> bytes | None:
        return self.original.data


def too_large(limit: int, what: str = "file") -> MediaRejected:
    return MediaRejected(Rejection.TOO_LARGE, f"the {what} is larger than the limit of {limit} bytes")


def corrupt(detail: str) -> MediaRejected:
    return MediaRejected(Rejection.CORRUPT, detail)
