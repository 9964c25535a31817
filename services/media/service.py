"""What an upload may be and how it is cleaned: pure functions over a file, no store or network.

The type is decided by the content alone (magic bytes, then a full decode or a structural
check); the name and MIME type the client sent are never looked at. Images are re-encoded from
their pixels (`images`), videos are checked box by box and their metadata boxes blanked
(`videos`), PDF documents are checked for completeness and active content (`documents`).
"""

from __future__ import annotations

import hashlib
import io
from typing import BinaryIO

from libs.common.contracts.media import ContentType, Rejection, Variant
from services.media.documents import check_pdf
from services.media.images import clean_image
from services.media.rules import CHUNK, CleanMedia, Limits, MediaRejected, Rendition, too_large
from services.media.videos import brand_type, clean_video

__all__ = ["CleanMedia", "Limits", "MediaRejected", "Rendition", "clean_upload", "digest", "sniff"]

HEAD = 64


def digest(source: BinaryIO) -> tuple[str, int]:
    """SHA-256 and length of a whole file, read in chunks (never all of it in memory)."""
    source.seek(0)
    sha, size = hashlib.sha256(), 0
    while chunk := source.read(CHUNK):
        sha.update(chunk)
        size += len(chunk)
    source.seek(0)
    return sha.hexdigest(), size


def sniff(head: bytes) -> ContentType | None:
    """The type the leading bytes claim; a decode or structural check still has to confirm it."""
    if head.startswith(b"\xff\xd8\xff"):
        return ContentType.JPEG
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return ContentType.PNG
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return ContentType.WEBP
    if head.startswith(b"%PDF-"):
        return ContentType.PDF
    if head[4:8] == b"ftyp":
        return brand_type(head)
    return None


def unsupported(head: bytes) -> MediaRejected:
    """The refusal `unsupported_type` for content of no accepted type; names HEIC/HEIF/AVIF when the
    head (first bytes) shows an ISO media file."""
    heif = " (HEIC/HEIF/AVIF photos are not accepted: send them as JPEG)" if head[4:8] == b"ftyp" else ""
    return MediaRejected(
        Rejection.UNSUPPORTED_TYPE,
        "unsupported file type: only JPEG, PNG and WebP images, MP4/QuickTime videos and PDF "
        f"documents are accepted{heif}; the type is recognised from the content, not from the "
        "file name or the declared MIME type",
    )


def clean_upload(source: BinaryIO | bytes, limits: Limits) -> CleanMedia:
    """Validate an upload and return what may be stored, or raise `MediaRejected`.

    `source` must be seekable; a video is cleaned in place (its metadata boxes are blanked).
    """
    stream: BinaryIO = io.BytesIO(source) if isinstance(source, bytes) else source
    size = stream.seek(0, io.SEEK_END)
    stream.seek(0)
    if size == 0:
        raise MediaRejected(Rejection.EMPTY, "the file is empty (0 bytes)")
    if size > (most := max(limits.max_bytes, limits.max_video_bytes)):
        raise too_large(most)
    head = stream.read(HEAD)
    stream.seek(0)
    content_type = sniff(head)
    if content_type is None:
        raise unsupported(head)
    limit = limits.max_video_bytes if content_type.is_video else limits.max_bytes
    if size > limit:
        raise too_large(limit, "video" if content_type.is_video else "file")
    if content_type.is_video:
        return clean_video(stream, size, content_type, limits)
    if content_type is ContentType.PDF:
        sha256 = check_pdf(stream, size)
        return CleanMedia(content_type, (Rendition(Variant.ORIGINAL, content_type, size),), sha256)
    return clean_image(stream, content_type, limits)
