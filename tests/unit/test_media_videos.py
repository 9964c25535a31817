"""Short videos: the ISO BMFF structure is checked box by box, metadata boxes are blanked in place."""

from __future__ import annotations

import io
import struct

import pytest

from libs.common.contracts.media import ContentType, GeoPoint, Rejection, Variant
from services.media.service import Limits, MediaRejected, clean_upload
from services.media.videos import boxes
from tests import test_media_corpus as corpus

LIMITS = Limits(max_bytes=1024, max_pixels=1000, max_video_bytes=1024 * 1024, max_video_seconds=60)
WITHOUT_MDAT = corpus.video()[: corpus.video().rindex(b"mdat") - 4]


def rejected(raw: bytes, limits: Limits = LIMITS) -> MediaRejected:
    with pytest.raises(MediaRejected) as caught:
        clean_upload(raw, limits)
    return caught.value


def test_a_phone_video_is_accepted_described_and_its_metadata_blanked() -> None:
    raw = corpus.video(seconds=12.5)
    source = io.BytesIO(raw)

    clean = clean_upload(source, LIMITS)

    assert clean.content_type is ContentType.MP4
    assert clean.duration_seconds == 12.5
    assert (clean.width, clean.height) == (1920, 1080)
    assert clean.location_hint == GeoPoint(lat=55.7558, lon=37.6173)
    assert [r.variant for r in clean.renditions] == [Variant.ORIGINAL]
    assert clean.data is None  # stored from the (cleaned in place) upload file
    cleaned = source.getvalue()
    assert len(cleaned) == len(raw)  # no offset moved: the media data is where it was
    for secret in (b"+55.7558", b"camera serial", b"com.apple.make", b"\xa9xyz"):
        assert secret in raw
        assert secret not in cleaned
    kinds = [box.kind for box in boxes(source, 0, len(cleaned))]
    assert kinds == [b"ftyp", b"moov", b"mdat"]
    moov = boxes(source, 0, len(cleaned))[1]
    assert [b.kind for b in boxes(source, moov.body, moov.end)] == [b"mvhd", b"trak", b"free", b"free"]
    assert cleaned.endswith(b"fake-frame-data!")


def test_quicktime_is_recognised() -> None:
    clean = clean_upload(corpus.video(brand=b"qt  ", place=None), LIMITS)

    assert clean.content_type is ContentType.QUICKTIME
    assert clean.location_hint is None


def test_a_long_video_is_refused() -> None:
    problem = rejected(corpus.video(seconds=600))

    assert problem.reason is Rejection.TOO_LONG
    assert "600" in problem.detail


def test_videos_have_their_own_size_limit() -> None:
    big = corpus.video(mdat=b"\x00" * 4096)

    assert clean_upload(big, LIMITS).size == len(big)  # above max_bytes, under max_video_bytes
    small_videos = Limits(max_bytes=1024, max_pixels=1000, max_video_bytes=2048)
    assert rejected(big, small_videos).reason is Rejection.TOO_LARGE


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(corpus.video() + corpus.zip_archive(), id="zip-appended"),
        pytest.param(corpus.video() + corpus.HTML, id="html-appended"),
        pytest.param(corpus.video() + b"\x00\x00", id="stray-bytes"),
        pytest.param(corpus.video()[:-5], id="truncated"),
        pytest.param(WITHOUT_MDAT + struct.pack(">I", 2**31) + b"mdat" + b"x" * 16, id="mdat-claims-2gb"),
        pytest.param(corpus.box(b"ftyp", b"isom\x00\x00\x00\x00") + corpus.box(b"mdat", b"x"), id="no-moov"),
        pytest.param(corpus.box(b"ftyp", b"isom\x00\x00\x00\x00") + corpus.box(b"moov"), id="no-mdat"),
        pytest.param(
            corpus.box(b"ftyp", b"isom\x00\x00\x00\x00")
            + corpus.box(b"moov", corpus.box(b"trak"))
            + corpus.box(b"mdat", b"x"),
            id="no-mvhd",
        ),
        pytest.param(corpus.video()[:24] + b"\x00\x00\x00\x03oops", id="box-smaller-than-its-header"),
    ],
)
def test_damaged_or_padded_videos_are_corrupt(raw: bytes) -> None:
    assert rejected(raw).reason is Rejection.CORRUPT


def test_heif_images_in_the_same_container_are_not_videos() -> None:
    assert rejected(corpus.heic()).reason is Rejection.UNSUPPORTED_TYPE


def test_64_bit_box_sizes_are_understood() -> None:
    large = struct.pack(">I", 1) + b"mdat" + struct.pack(">Q", 16 + 6) + b"frames"

    assert clean_upload(WITHOUT_MDAT + large, LIMITS).content_type is ContentType.MP4
