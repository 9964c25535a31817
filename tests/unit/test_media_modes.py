"""Every pixel mode an accepted format can carry becomes a faithful web copy and thumbnail.

The brightness of each variant is compared with the original's samples scaled to 0..255
(issue #13 item 8: a 16-bit greyscale PNG came out 99.6 % white)."""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
import pytest
from PIL import Image, ImageStat

from libs.common.contracts.media import Variant
from services.media.images import eight_bit
from services.media.service import Limits, clean_upload

LIMITS = Limits(max_bytes=10 * 1024 * 1024, max_pixels=40_000_000)
SIZE = (1000, 600)


def gradient(maximum: int) -> np.ndarray:
    """A horizontal ramp 0..maximum with a dark band: mean near maximum * 0.4, not uniform."""
    ramp = np.linspace(0, maximum, SIZE[0])[None, :].repeat(SIZE[1], axis=0)
    ramp[: SIZE[1] // 4] *= 0.2
    return ramp


def encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **options)
    return out.getvalue()


def png16_grey() -> tuple[bytes, float]:
    samples = gradient(65535).astype(np.uint16)
    image = Image.frombytes("I;16", SIZE, samples.astype("<u2").tobytes())
    return encode(image, "PNG"), float(samples.mean()) / 257


def png16_grey_big_endian() -> tuple[bytes, float]:
    samples = gradient(65535).astype(">u2")
    image = Image.frombytes("I;16B", SIZE, samples.tobytes())
    return encode(image, "PNG"), float(samples.astype(np.float64).mean()) / 257


def png16_rgb(alpha: bool) -> Callable[[], tuple[bytes, float]]:
    """A real 16-bit-per-channel RGB(A) PNG, written by hand (Pillow writes only 8-bit RGB)."""

    def make() -> tuple[bytes, float]:
        import struct
        import zlib

        grey = gradient(65535).astype(">u2")
        channels = [grey, grey // 2, grey] + ([np.full_like(grey, 65535)] if alpha else [])
        pixels = np.stack(channels, axis=-1).astype(">u2")  # PNG samples are big-endian
        rows = b"".join(b"\x00" + row.tobytes() for row in pixels)
        colour_type = 6 if alpha else 2

        def chunk(kind: bytes, data: bytes) -> bytes:
            return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

        header = struct.pack(">IIBBBBB", SIZE[0], SIZE[1], 16, colour_type, 0, 0, 0)
        raw = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows))
        raw += chunk(b"IEND", b"")
        luminance = (0.299 * grey + 0.587 * (grey // 2) + 0.114 * grey).mean() / 257
        return raw, float(luminance)

    return make


def cmyk_jpeg() -> tuple[bytes, float]:
    grey = gradient(255).astype(np.uint8)
    ink = 255 - grey  # black ink only: the picture is the same ramp, light where there is no ink
    zero = np.zeros_like(grey)
    image = Image.frombytes("CMYK", SIZE, np.stack([zero, zero, zero, ink], axis=-1).tobytes())
    return encode(image, "JPEG", quality=95), float(grey.mean())


def palette_with_transparency() -> tuple[bytes, float]:
    grey = gradient(255).astype(np.uint8)
    image = Image.fromarray(grey).convert("P")
    image.info["transparency"] = 0
    return encode(image, "PNG", transparency=0), float(grey.mean())


def grey_alpha() -> tuple[bytes, float]:
    grey = gradient(255).astype(np.uint8)
    image = Image.frombytes("LA", SIZE, np.stack([grey, np.full_like(grey, 255)], axis=-1).tobytes())
    return encode(image, "PNG"), float(grey.mean())


def one_bit() -> tuple[bytes, float]:
    grey = gradient(255)
    bits = grey > 128
    image = Image.fromarray(bits).convert("1")
    return encode(image, "PNG"), float(bits.mean() * 255)


CASES = {
    "16-bit grey PNG (I;16)": png16_grey,
    "16-bit grey PNG big-endian (I;16B)": png16_grey_big_endian,
    "16-bit RGB PNG": png16_rgb(alpha=False),
    "16-bit RGBA PNG": png16_rgb(alpha=True),
    "CMYK JPEG": cmyk_jpeg,
    "palette PNG with transparency": palette_with_transparency,
    "grey + alpha PNG (LA)": grey_alpha,
    "1-bit PNG": one_bit,
}


def brightness(data: bytes | None) -> float:
    """Mean grey level 0..255 of a stored rendition (transparency over white; 16-bit scaled)."""
    assert data is not None
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        if image.mode.startswith("I"):  # a kept 16-bit original: its samples, scaled
            return float(np.asarray(image, dtype=np.float64).mean()) / 257
        flat = image.convert("RGBA")
        background = Image.new("RGBA", flat.size, (255, 255, 255, 255))
        return float(ImageStat.Stat(Image.alpha_composite(background, flat).convert("L")).mean[0])


@pytest.mark.parametrize("make", CASES.values(), ids=CASES.keys())
def test_every_mode_gives_web_copies_as_bright_as_the_original(
    make: Callable[[], tuple[bytes, float]],
) -> None:
    raw, expected = make()
    clean = clean_upload(raw, LIMITS)
    variants = {r.variant: r for r in clean.renditions}
    assert set(variants) == {Variant.ORIGINAL, Variant.WEB, Variant.THUMB}
    for variant in (Variant.WEB, Variant.THUMB):
        got = brightness(variants[variant].data)
        assert abs(got - expected) < 6, f"{variant}: mean {got:.1f}, the original's {expected:.1f}"
    assert abs(brightness(variants[Variant.ORIGINAL].data) - expected) < 6


def test_float_and_32_bit_images_are_scaled_not_clipped() -> None:
    """Modes no accepted format decodes to today (float/32-bit TIFF are not accepted), but a
    decoder change must not bring the white pictures back."""
    ramp = (gradient(255) / 255).astype(np.float32)  # 0..1
    image = eight_bit(Image.frombytes("F", SIZE, ramp.tobytes()))
    assert image.mode == "L"
    assert abs(ImageStat.Stat(image).mean[0] - ramp.mean() * 255) < 1
    wide = gradient(65535).astype(np.int32)
    image = eight_bit(Image.frombytes("I", SIZE, wide.tobytes()))
    assert abs(ImageStat.Stat(image).mean[0] - wide.mean() / 257) < 1
