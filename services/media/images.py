"""Images: a full decode by Pillow (bombs refused before it), then a re-encode from the pixels.

Nothing of the upload but its pixels reaches the bucket: EXIF (GPS, camera serials), XMP, text
chunks, comments and anything appended after the image end (a polyglot's ZIP or HTML) are gone.
The EXIF orientation is applied to the pixels first; a colour profile is converted to sRGB
(an ICC profile can carry arbitrary bytes). The GPS position is read before the EXIF goes and
returned as a private location hint.
"""

from __future__ import annotations

import hashlib
import io
import math
import struct
from typing import Any, BinaryIO

from PIL import ExifTags, Image, ImageCms, ImageOps, UnidentifiedImageError

from libs.common.contracts.media import ContentType, GeoPoint, Rejection, Variant
from services.media.rules import CleanMedia, Limits, MediaRejected, Rendition, corrupt

PIL_FORMATS = {ContentType.JPEG: "JPEG", ContentType.PNG: "PNG", ContentType.WEBP: "WEBP"}
_SAVE_OPTIONS: dict[str, dict[str, Any]] = {
    "JPEG": {"quality": 90, "optimize": True},
    "PNG": {"compress_level": 6},
    "WEBP": {"quality": 90, "method": 4},
}
_VARIANT_OPTIONS: dict[str, dict[str, Any]] = {"JPEG": {"quality": 82, "optimize": True}, "PNG": {}}
_SAVE_MODES = {"JPEG": ("L", "RGB"), "WEBP": ("RGB", "RGBA")}
_DECODE_ERRORS = (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError, struct.error)


def clean_image(source: BinaryIO, content_type: ContentType, limits: Limits) -> CleanMedia:
    """A JPEG/PNG/WebP re-encoded without metadata, turned upright, with its web-size and thumbnail
    renditions; the GPS position, if any, is kept only as a coarse location hint. Raises
    MediaRejected `too_many_pixels` above `limits.max_pixels` (checked from the header, before
    decoding) and `corrupt` when the image cannot be decoded."""
    label = PIL_FORMATS[content_type]
    try:
        with Image.open(source, formats=[label]) as image:
            # Only the header is read so far: a bomb costs nothing yet.
            width, height = image.size
            if width * height > limits.max_pixels:
                raise _too_many_pixels(width, height, limits.max_pixels)
            hint = gps_hint(image)
            image.load()  # the full decode: a truncated or damaged file fails here
            clean = _without_metadata(_upright(image))
    except Image.DecompressionBombError as exc:
        raise _too_many_pixels(None, None, limits.max_pixels) from exc
    except _DECODE_ERRORS as exc:
        raise corrupt(f"the {label} image is corrupt or truncated and cannot be decoded") from exc
    original = _encode(clean, label, _SAVE_OPTIONS[label])
    renditions = [Rendition(Variant.ORIGINAL, content_type, len(original), original, *clean.size)]
    renditions += _variants(clean, limits)
    return CleanMedia(
        content_type,
        tuple(renditions),
        hashlib.sha256(original).hexdigest(),
        clean.width,
        clean.height,
        location_hint=hint,
    )


def _too_many_pixels(width: int | None, height: int | None, max_pixels: int) -> MediaRejected:
    size = f" ({width}x{height})" if width and height else ""
    return MediaRejected(
        Rejection.TOO_MANY_PIXELS, f"the image{size} has more than the allowed {max_pixels} pixels"
    )


def gps_hint(image: Image.Image) -> GeoPoint | None:
    """Where the photo was taken, from its GPS EXIF; None when absent, partial or nonsense."""
    try:
        gps = image.getexif().get_ifd(ExifTags.IFD.GPSInfo)
        lat = _degrees(gps.get(ExifTags.GPS.GPSLatitude), gps.get(ExifTags.GPS.GPSLatitudeRef), "S")
        lon = _degrees(gps.get(ExifTags.GPS.GPSLongitude), gps.get(ExifTags.GPS.GPSLongitudeRef), "W")
    except Exception:  # malformed EXIF never sinks a photo: there is just no hint
        return None
    if lat is None or lon is None or not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return None
    if lat == 0 and lon == 0:  # "null island": a receiver without a fix
        return None
    return GeoPoint(lat=round(lat, 6), lon=round(lon, 6))


def _degrees(value: Any, ref: Any, negative: str) -> float | None:
    if value is None:
        return None
    parts = [float(part) for part in (value if isinstance(value, tuple | list) else (value,))]
    if not parts or len(parts) > 3:
        return None
    degrees = sum(part / 60.0**i for i, part in enumerate(parts))
    if not math.isfinite(degrees):
        return None
    ref_text = (ref.decode("ascii", "ignore") if isinstance(ref, bytes) else str(ref or "")).strip().upper()
    return -degrees if ref_text == negative else degrees


def _upright(image: Image.Image) -> Image.Image:
    """Apply the EXIF orientation to the pixels, since the EXIF tag itself is about to go."""
    if getattr(image, "n_frames", 1) > 1:
        image.seek(0)  # animations are kept as their first frame: these are evidence photos
    try:
        return ImageOps.exif_transpose(image) or image.copy()
    except Exception:  # malformed EXIF must not sink a valid photo: keep it as stored
        return image.copy()


def _without_metadata(image: Image.Image) -> Image.Image:
    """Pixels only: `info` emptied but for transparency; a colour profile converted to sRGB."""
    icc = image.info.get("icc_profile")
    transparency = image.info.get("transparency")
    image.info = {} if transparency is None else {"transparency": transparency}
    if icc and image.mode in ("RGB", "RGBA", "CMYK"):
        try:
            srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
            converted = ImageCms.profileToProfile(
                image,
                ImageCms.ImageCmsProfile(io.BytesIO(icc)),
                srgb,
                outputMode="RGBA" if image.mode == "RGBA" else "RGB",
            )
            if converted is not None:
                image = converted
        except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
            pass  # an unreadable profile is dropped; the pixels are kept as they are
        image.info = {}
    if image.mode == "CMYK":
        image = image.convert("RGB")
    return image


_SIXTEEN_BIT = frozenset({"I", "I;16", "I;16L", "I;16B", "I;16N"})


def eight_bit(image: Image.Image) -> Image.Image:
    """The picture in an 8-bit mode with its brightness kept, for JPEG/PNG web copies.

    Pillow's `convert` clips high-bit-depth samples instead of scaling them: a 16-bit greyscale
    PNG (0..65535) became all white. 16-bit integer modes are scaled by 255/65535 (PNG's 16-bit
    samples, PNG spec §12.5); float images (`F`) are read as 0..1 when they fit, else clipped to
    0..255. Every other mode is returned unchanged (its own `convert` is right)."""
    if image.mode in _SIXTEEN_BIT:
        wide = image if image.mode == "I" else image.convert("I")
        return wide.point(lambda v: v * (255 / 65535)).convert("L")
    if image.mode == "F":
        low, high = image.getextrema()
        scale = 255.0 if low >= 0.0 and high <= 1.0 else 1.0  # type: ignore[operator]
        return image.point(lambda v: v * scale).convert("L")
    return image


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in image.info


def _encode(image: Image.Image, label: str, options: dict[str, Any]) -> bytes:
    modes = _SAVE_MODES.get(label)
    if image.mode in ("I", "F") or (modes and image.mode in _SIXTEEN_BIT):
        image = eight_bit(image)  # PNG cannot store these; JPEG/WebP take 8-bit only
    if modes and image.mode not in modes:
        image = image.convert("RGBA" if _has_alpha(image) and "RGBA" in modes else "RGB")
    out = io.BytesIO()
    image.save(out, format=label, **options)
    return out.getvalue()


def _variants(image: Image.Image, limits: Limits) -> list[Rendition]:
    """A web-size copy and a thumbnail: JPEG, or PNG when the picture has transparency."""
    alpha = _has_alpha(image)
    label, content_type = ("PNG", ContentType.PNG) if alpha else ("JPEG", ContentType.JPEG)
    current = eight_bit(image).convert("RGBA" if alpha else "RGB")  # a copy: `thumbnail` works in place
    out = []
    for variant, px in ((Variant.WEB, limits.web_px), (Variant.THUMB, limits.thumb_px)):
        current.thumbnail((px, px), Image.Resampling.LANCZOS)  # never enlarges
        data = _encode(current, label, _VARIANT_OPTIONS[label])
        out.append(Rendition(variant, content_type, len(data), data, *current.size))
    return out
