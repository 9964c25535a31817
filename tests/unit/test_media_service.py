"""The media domain: type by content, metadata stripping, variants, and every rejection rule."""

from __future__ import annotations

import io
import zipfile

import pytest
from PIL import ExifTags, Image, ImageCms

from libs.common.contracts.media import ContentType, GeoPoint, Rejection, Variant
from services.media.service import Limits, MediaRejected, clean_upload, sniff
from services.media.settings import s3_bucket_name
from tests import test_media_corpus as corpus

LIMITS = Limits(max_bytes=10 * 1024 * 1024, max_pixels=40_000_000)


def rejected(raw: bytes, limits: Limits = LIMITS) -> MediaRejected:
    with pytest.raises(MediaRejected) as caught:
        clean_upload(raw, limits)
    return caught.value


def opened(data: bytes | None) -> Image.Image:
    assert data is not None
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (corpus.encoded("JPEG"), ContentType.JPEG),
        (corpus.encoded("PNG"), ContentType.PNG),
        (corpus.encoded("WEBP"), ContentType.WEBP),
        (b"%PDF-1.7\n...", ContentType.PDF),
        (corpus.video(), ContentType.MP4),
        (corpus.video(brand=b"qt  "), ContentType.QUICKTIME),
        (corpus.video(brand=b"XAVC"), ContentType.MP4),  # compatible brand mp41
        (corpus.heic(), None),
        (corpus.GIF, None),
        (corpus.SVG, None),
        (corpus.SCRIPT_AS_JPG, None),
        (corpus.EXECUTABLE, None),
        (b"", None),
    ],
)
def test_sniff_decides_by_magic_bytes(raw: bytes, expected: ContentType | None) -> None:
    assert sniff(raw[:64]) == expected


def test_phone_photo_loses_exif_gps_and_xmp_but_its_place_becomes_a_hint() -> None:
    clean = clean_upload(corpus.phone_photo(), LIMITS)

    assert clean.content_type is ContentType.JPEG
    assert clean.location_hint == GeoPoint(lat=corpus.GPS_LAT, lon=corpus.GPS_LON)
    for rendition in clean.renditions:
        assert rendition.data is not None
        assert b"PhoneMaker" not in rendition.data
        assert b"secret place" not in rendition.data
        with opened(rendition.data) as stored:
            assert len(stored.getexif()) == 0
            assert not {"exif", "xmp", "icc_profile"} & set(stored.info)


def test_orientation_is_applied_and_variants_are_made() -> None:
    clean = clean_upload(corpus.phone_photo((2400, 1200), orientation=6), LIMITS)  # 6: rotate 90° CW

    sizes = {r.variant: (r.width, r.height) for r in clean.renditions}
    assert sizes == {Variant.ORIGINAL: (1200, 2400), Variant.WEB: (800, 1600), Variant.THUMB: (128, 256)}
    assert (clean.width, clean.height) == (1200, 2400)
    for rendition in clean.renditions:
        assert rendition.content_type is ContentType.JPEG
        with opened(rendition.data) as stored:
            assert stored.size == (rendition.width, rendition.height)
            assert stored.format == "JPEG"


def test_small_pictures_are_not_enlarged() -> None:
    clean = clean_upload(corpus.encoded("JPEG", (100, 50)), LIMITS)

    assert {(r.width, r.height) for r in clean.renditions} == {(100, 50)}


def test_a_polyglot_loses_everything_after_the_picture() -> None:
    raw = corpus.polyglot_jpeg()

    clean = clean_upload(raw, LIMITS)

    assert clean.data is not None
    assert b"PK\x03\x04" not in clean.data
    assert b"<script" not in clean.data
    assert not zipfile.is_zipfile(io.BytesIO(clean.data))
    with opened(clean.data) as stored:
        assert stored.size == (64, 48)


def test_colour_profiles_are_converted_not_kept() -> None:
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB")).tobytes()
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    for icc in (srgb, b"not a profile, maybe a payload" * 10, profile):
        clean = clean_upload(corpus.encoded("JPEG", (32, 32), icc_profile=icc), LIMITS)
        with opened(clean.data) as stored:
            assert "icc_profile" not in stored.info
            assert stored.mode == "RGB"


def test_png_text_and_exif_chunks_are_dropped_but_transparency_kept() -> None:
    from PIL.PngImagePlugin import PngInfo

    text = PngInfo()
    text.add_text("Comment", "taken at my home address")
    out = io.BytesIO()
    Image.new("RGBA", (8, 8), (0, 0, 0, 0)).save(out, "PNG", pnginfo=text, exif=corpus.gps_exif())

    clean = clean_upload(out.getvalue(), LIMITS)

    assert clean.location_hint is not None  # PNG eXIf chunks carry GPS too
    for rendition in clean.renditions:
        assert rendition.data is not None
        assert b"home address" not in rendition.data
        assert b"PhoneMaker" not in rendition.data
        assert rendition.content_type is ContentType.PNG  # transparency: PNG variants too
        with opened(rendition.data) as stored:
            assert stored.mode == "RGBA"
            assert stored.getpixel((0, 0)) == (0, 0, 0, 0)
            assert "exif" not in stored.info


def test_webp_is_accepted_and_reencoded() -> None:
    clean = clean_upload(corpus.encoded("WEBP", size=(20, 10), exif=corpus.gps_exif()), LIMITS)

    assert clean.content_type is ContentType.WEBP
    assert (clean.width, clean.height) == (20, 10)
    with opened(clean.data) as stored:
        assert "exif" not in stored.info


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(corpus.png_bomb(), id="png-bomb-144mp"),
        pytest.param(corpus.png_header_only(100_000, 100_000), id="png-header-10gp"),
        pytest.param(corpus.jpeg_declaring(60_000, 60_000), id="jpeg-header-3.6gp"),
    ],
)
def test_decompression_bombs_are_rejected_before_decoding(raw: bytes) -> None:
    assert rejected(raw).reason is Rejection.TOO_MANY_PIXELS


def test_image_over_the_configured_pixel_limit_is_rejected() -> None:
    raw = corpus.encoded("PNG", size=(3000, 3000), mode="1")

    problem = rejected(raw, Limits(max_bytes=LIMITS.max_bytes, max_pixels=1_000_000))

    assert problem.reason is Rejection.TOO_MANY_PIXELS
    assert "3000x3000" in problem.detail
    assert "1000000" in problem.detail


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_truncated_image_is_rejected(fmt: str) -> None:
    assert rejected(corpus.truncated(fmt)).reason is Rejection.CORRUPT


def test_magic_bytes_without_a_real_image_are_rejected() -> None:
    assert rejected(b"\xff\xd8\xff\xe0" + b"not really a jpeg" * 10).reason is Rejection.CORRUPT


@pytest.mark.parametrize(
    "raw", [corpus.SCRIPT_AS_JPG, corpus.HTML_AS_JPG, corpus.SVG, corpus.GIF, corpus.EXECUTABLE]
)
def test_other_content_is_unsupported_whatever_its_name(raw: bytes) -> None:
    problem = rejected(raw)

    assert problem.reason is Rejection.UNSUPPORTED_TYPE
    assert "content" in problem.detail


def test_heic_is_refused_with_advice() -> None:
    problem = rejected(corpus.heic())

    assert problem.reason is Rejection.UNSUPPORTED_TYPE
    assert "HEIC" in problem.detail


def test_zero_bytes_are_rejected() -> None:
    assert rejected(b"").reason is Rejection.EMPTY


def test_too_many_bytes_are_rejected() -> None:
    assert rejected(corpus.encoded("PNG"), Limits(max_bytes=10, max_pixels=100)).reason is Rejection.TOO_LARGE


def test_gps_hint_signs_and_nonsense() -> None:
    from services.media.images import gps_hint

    def hint(gps: dict[int, object]) -> GeoPoint | None:
        exif = Image.Exif()
        exif[ExifTags.Base.GPSInfo] = gps
        out = io.BytesIO()
        Image.new("RGB", (4, 4)).save(out, "JPEG", exif=exif)
        with Image.open(io.BytesIO(out.getvalue())) as image:
            return gps_hint(image)

    south_west = {1: "S", 2: (33.0, 52.0, 4.0), 3: "W", 4: (151.0, 12.0, 36.0)}
    assert hint(south_west) == GeoPoint(lat=-33.867778, lon=-151.21)
    assert hint({1: "N", 2: (0.0, 0.0, 0.0), 3: "E", 4: (0.0, 0.0, 0.0)}) is None  # no fix
    assert hint({1: "N", 2: (95.0, 0.0, 0.0), 3: "E", 4: (10.0, 0.0, 0.0)}) is None  # not on Earth
    assert hint({1: "N", 2: (55.0, 45.0, 21.0)}) is None  # half a position


def test_pdf_is_kept_as_is_but_must_be_complete() -> None:
    document = corpus.pdf()

    clean = clean_upload(document, LIMITS)

    assert clean.content_type is ContentType.PDF
    assert [r.variant for r in clean.renditions] == [Variant.ORIGINAL]
    assert clean.data is None  # stored from the upload itself
    assert clean.size == len(document)
    assert rejected(document[:40]).reason is Rejection.CORRUPT


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(corpus.pdf() + corpus.zip_archive(), id="zip-appended"),
        pytest.param(corpus.pdf() + corpus.HTML, id="html-appended"),
        pytest.param(b"%PDF-9.9\n" + corpus.pdf()[9:], id="bad-version"),
    ],
)
def test_pdf_with_something_appended_or_a_bad_header_is_refused(raw: bytes) -> None:
    assert rejected(raw).reason is Rejection.CORRUPT


def test_pdf_with_javascript_is_refused_even_when_escaped() -> None:
    problem = rejected(corpus.pdf_with_javascript())

    assert problem.reason is Rejection.ACTIVE_CONTENT
    assert "/J" in problem.detail


def test_pdf_stream_data_is_not_mistaken_for_active_content() -> None:
    assert clean_upload(corpus.pdf_with_binary_stream(), LIMITS).content_type is ContentType.PDF


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
