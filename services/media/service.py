"""What an upload may be and how it is cleaned: pure functions over bytes, no store or network.

The type is decided by the content alone (magic bytes, then a full decode by Pillow); the name
and MIME type the client sent are never trusted. Images are re-encoded from their pixels, so
EXIF (GPS, camera serials), XMP and text chunks never reach the bucket.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from typing import Any

from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from services.media.schemas import ContentType, Rejection

PIL_FORMATS = {ContentType.JPEG: "JPEG", ContentType.PNG: "PNG", ContentType.WEBP: "WEBP"}
# Pixel data Pillow keeps in `info` that is not metadata: dropping it would change the picture.
_KEPT_INFO = ("transparency", "icc_profile")
_SAVE_OPTIONS: dict[ContentType, dict[str, Any]] = {
    ContentType.JPEG: {"quality": 90, "optimize": True},
    ContentType.PNG: {"compress_level": 6},
    ContentType.WEBP: {"quality": 90, "method": 4},
}
_SAVE_MODES = {
    ContentType.JPEG: ("L", "RGB", "CMYK"),
    ContentType.WEBP: ("RGB", "RGBA"),
}


class MediaRejected(Exception):
    def __init__(self, reason: Rejection, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class CleanMedia:
    content_type: ContentType
    data: bytes
    sha256: str
    width: int | None = None
    height: int | None = None

    @property
    def size(self) -> int:
        return len(self.data)


def sniff(head: bytes) -> ContentType | None:
    """The type the leading bytes claim; a decode still has to confirm it."""
    if head.startswith(b"\xff\xd8\xff"):
        return ContentType.JPEG
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return ContentType.PNG
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return ContentType.WEBP
    if head.startswith(b"%PDF-"):
        return ContentType.PDF
    return None


def clean_upload(raw: bytes, *, max_bytes: int, max_pixels: int) -> CleanMedia:
    """Validate an upload and return what may be stored, or raise `MediaRejected`."""
    if not raw:
        raise MediaRejected(Rejection.EMPTY, "the file is empty")
    if len(raw) > max_bytes:
        raise MediaRejected(Rejection.TOO_LARGE, f"the file is larger than the limit of {max_bytes} bytes")
    content_type = sniff(raw[:16])
    if content_type is None:
        raise MediaRejected(
            Rejection.UNSUPPORTED_TYPE,
            "unsupported file type: only JPEG, PNG and WebP images and PDF documents are accepted "
            "(the type is recognised from the content, not from the file name)",
        )
    if content_type is ContentType.PDF:
        return _check_pdf(raw)
    return _clean_image(raw, content_type, max_pixels)


def _check_pdf(raw: bytes) -> CleanMedia:
    # A complete PDF ends with an %%EOF marker (trailing whitespace or junk is tolerated).
    if b"%%EOF" not in raw[-1024:]:
        raise MediaRejected(Rejection.CORRUPT, "the PDF document is truncated or damaged (no %%EOF marker)")
    return CleanMedia(ContentType.PDF, raw, hashlib.sha256(raw).hexdigest())


def _clean_image(raw: bytes, content_type: ContentType, max_pixels: int) -> CleanMedia:
    label = PIL_FORMATS[content_type]
    try:
        with Image.open(io.BytesIO(raw), formats=[label]) as image:
            # The header is read; the pixels are not decoded yet, so a bomb costs nothing here.
            width, height = image.size
            if width * height > max_pixels:
                raise _too_many_pixels(width, height, max_pixels)
            image.load()
            cleaned = _strip_metadata(_upright(image))
    except Image.DecompressionBombError as exc:
        raise _too_many_pixels(None, None, max_pixels) from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        raise MediaRejected(
            Rejection.CORRUPT, f"the {label} image is corrupt or truncated and cannot be decoded"
        ) from exc
    data = _encode(cleaned, content_type)
    return CleanMedia(content_type, data, hashlib.sha256(data).hexdigest(), cleaned.width, cleaned.height)


def _too_many_pixels(width: int | None, height: int | None, max_pixels: int) -> MediaRejected:
    size = f" ({width}x{height})" if width and height else ""
    return MediaRejected(
        Rejection.TOO_MANY_PIXELS, f"the image{size} has more than the allowed {max_pixels} pixels"
    )


def _upright(image: ImageFile.ImageFile) -> Image.Image:
    """Apply the EXIF orientation to the pixels, since the EXIF tag itself is about to go."""
    try:
        return ImageOps.exif_transpose(image) or image
    except Exception:  # malformed EXIF must not sink a valid photo: keep it as stored
        return image


def _strip_metadata(image: Image.Image) -> Image.Image:
    if getattr(image, "n_frames", 1) > 1:
        image.seek(0)  # animations are kept as their first frame: these are evidence photos
    clean = image.copy()
    clean.info = {key: image.info[key] for key in _KEPT_INFO if key in image.info}
    return clean


def _encode(image: Image.Image, content_type: ContentType) -> bytes:
    modes = _SAVE_MODES.get(content_type)
    if modes and image.mode not in modes:
        image = image.convert("RGBA" if "A" in image.mode and "RGBA" in modes else "RGB")
    out = io.BytesIO()
    image.save(out, format=PIL_FORMATS[content_type], **_SAVE_OPTIONS[content_type])
    return out.getvalue()
