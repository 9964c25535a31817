"""Short videos (MP4, QuickTime): a structural check of the ISO base media file format, no decode.

What is checked: the `ftyp` box comes first and names an MP4 or QuickTime brand; every box's
declared size fits inside its parent and the top-level boxes end exactly at the end of the file
(so nothing can be appended: a ZIP or HTML tail makes the file corrupt); there is one `moov`
with a movie header (`mvhd`) and a track, and media data (`mdat`, or `moof` fragments); the
duration from `mvhd` is at most the limit. What is cleaned, without transcoding: the metadata
boxes where phones put the place and the device (`udta`, `meta`, `uuid` at the top, in `moov`
and in each `trak`) are turned into `free` boxes of the same size filled with zeros, so no
offset in the file moves. The pixels are not decoded: a video is served as a download
(`Content-Disposition: attachment`) from the object store, never from the gateway's origin.
"""

from __future__ import annotations

import hashlib
import re
import struct
from dataclasses import dataclass
from typing import BinaryIO

from libs.common.contracts.media import ContentType, GeoPoint, Rejection, Variant
from services.media.rules import CHUNK, CleanMedia, Limits, MediaRejected, Rendition, corrupt

QUICKTIME_BRANDS = frozenset({b"qt  "})
MP4_BRANDS = frozenset(
    {b"isom", b"iso2", b"iso3", b"iso4", b"iso5", b"iso6", b"mp41", b"mp42", b"avc1", b"M4V ", b"MSNV"}
)
METADATA_BOXES = frozenset({b"udta", b"meta", b"uuid"})
MAX_BOXES = 10_000  # per level; a real file has a handful
_ISO6709 = re.compile(rb"([+-]\d{2}(?:\.\d+)?)([+-]\d{3}(?:\.\d+)?)")
_HINT_WINDOW = 64 * 1024


@dataclass(frozen=True)
class Box:
    kind: bytes
    start: int
    header: int
    size: int

    @property
    def body(self) -> int:
        return self.start + self.header

    @property
    def end(self) -> int:
        return self.start + self.size


def brand_type(head: bytes) -> ContentType | None:
    """MP4 or QuickTime from the `ftyp` box's major or compatible brands; None for the rest
    (HEIC/AVIF images share the format and are not accepted)."""
    if head[4:8] != b"ftyp" or len(head) < 12:
        return None
    declared = struct.unpack(">I", head[:4])[0]
    major = head[8:12]
    compatible = [head[i : i + 4] for i in range(16, min(declared, len(head)) - 3, 4)]
    if major in QUICKTIME_BRANDS:
        return ContentType.QUICKTIME
    if major in MP4_BRANDS or any(brand in MP4_BRANDS for brand in compatible):
        return ContentType.MP4
    return None


def boxes(source: BinaryIO, start: int, end: int) -> list[Box]:
    """The boxes between `start` and `end`, which they must fill exactly.

    Raises MediaRejected `corrupt` for stray bytes, an impossible or overlong box size, an invalid
    box type or more than `MAX_BOXES` boxes."""
    found: list[Box] = []
    pos = start
    while pos < end:
        if end - pos < 8:
            raise corrupt(f"the video has {end - pos} stray bytes after its last box")
        source.seek(pos)
        head = source.read(16)
        size, kind = struct.unpack(">I4s", head[:8])
        header = 8
        if size == 1 and len(head) == 16:
            size, header = struct.unpack(">Q", head[8:16])[0], 16
        elif size == 0:  # "to the end of the enclosing box"
            size = end - pos
        if size < header:
            raise corrupt(f"the video's {_name(kind)} box has an impossible size of {size} bytes")
        if pos + size > end:
            raise corrupt(f"the video's {_name(kind)} box claims {size} bytes, more than the file holds")
        if not all(32 <= byte < 127 or byte == 0xA9 for byte in kind):
            raise corrupt("the video contains a box with an invalid type: not an MP4/QuickTime file")
        found.append(Box(kind, pos, header, size))
        if len(found) > MAX_BOXES:
            raise corrupt("the video has an implausible number of boxes")
        pos += size
    return found


def clean_video(source: BinaryIO, size: int, content_type: ContentType, limits: Limits) -> CleanMedia:
    """An MP4/QuickTime file (`size` bytes) checked box by box, its metadata boxes blanked in place
    (location kept only as a coarse hint), with width, height and duration in seconds. Raises
    MediaRejected `corrupt` for a malformed or incomplete file (no ftyp first, no single moov, no
    mdat/moof, no mvhd or track) and `too_long` above `limits.max_video_seconds`."""
    top = boxes(source, 0, size)
    kinds = [box.kind for box in top]
    if kinds[0] != b"ftyp":
        raise corrupt("the video does not start with an ftyp box")
    if kinds.count(b"moov") != 1 or not {b"mdat", b"moof"} & set(kinds):
        raise corrupt("the video is incomplete: it needs one movie header (moov) and media data (mdat)")
    moov = next(box for box in top if box.kind == b"moov")
    in_moov = boxes(source, moov.body, moov.end)
    mvhd = next((box for box in in_moov if box.kind == b"mvhd"), None)
    traks = [box for box in in_moov if box.kind == b"trak"]
    if mvhd is None or not traks:
        raise corrupt("the video has no movie header (mvhd) or no track")
    duration = _duration(source, mvhd)
    if duration is not None and duration > limits.max_video_seconds:
        raise MediaRejected(
            Rejection.TOO_LONG,
            f"the video lasts {duration:.0f} s, longer than the allowed {limits.max_video_seconds:.0f} s",
        )
    in_traks = [box for trak in traks for box in boxes(source, trak.body, trak.end)]
    width, height = _dimensions(source, in_traks)
    blanked = [box for box in (*top, *in_moov, *in_traks) if box.kind in METADATA_BOXES]
    hint = next((point for box in blanked if (point := _hint(source, box))), None)
    for box in blanked:
        _blank(source, box)
    sha256 = hashlib.sha256()
    source.seek(0)
    while chunk := source.read(CHUNK):
        sha256.update(chunk)
    source.seek(0)
    original = Rendition(Variant.ORIGINAL, content_type, size, None, width, height)
    return CleanMedia(content_type, (original,), sha256.hexdigest(), width, height, duration, hint)


def _name(kind: bytes) -> str:
    return repr(kind.decode("latin-1"))


def _duration(source: BinaryIO, mvhd: Box) -> float | None:
    source.seek(mvhd.body)
    data = source.read(min(mvhd.size - mvhd.header, 32))
    if len(data) < 20:
        raise corrupt("the video's movie header (mvhd) is truncated")
    if data[0] == 1:
        if len(data) < 32:
            raise corrupt("the video's movie header (mvhd) is truncated")
        timescale, duration = struct.unpack(">IQ", data[20:32])
        unknown = 2**64 - 1
    else:
        timescale, duration = struct.unpack(">II", data[12:20])
        unknown = 2**32 - 1
    if timescale == 0:
        raise corrupt("the video's movie header has no time scale")
    return None if duration in (0, unknown) else duration / timescale


def _dimensions(source: BinaryIO, in_traks: list[Box]) -> tuple[int | None, int | None]:
    """The first visual track's size, from its track header (16.16 fixed point)."""
    for box in in_traks:
        if box.kind != b"tkhd":
            continue
        source.seek(box.body)
        data = source.read(min(box.size - box.header, 92))
        offset = 88 if data[:1] == b"\x01" else 76
        if len(data) >= offset + 8:
            width, height = struct.unpack(">II", data[offset : offset + 8])
            if width >> 16 and height >> 16:
                return width >> 16, height >> 16
    return None, None


def _hint(source: BinaryIO, box: Box) -> GeoPoint | None:
    """An ISO 6709 position (`+55.7512+037.6184/`), as phones write it in udta/©xyz or meta."""
    source.seek(box.body)
    match = _ISO6709.search(source.read(min(box.size - box.header, _HINT_WINDOW)))
    if not match:
        return None
    lat, lon = float(match.group(1)), float(match.group(2))
    if not (-90 <= lat <= 90 and -180 <= lon <= 180) or (lat == 0 and lon == 0):
        return None
    return GeoPoint(lat=round(lat, 6), lon=round(lon, 6))


def _blank(source: BinaryIO, box: Box) -> None:
    """Turn a box into a `free` box of the same size: its content zeroed, no offset moves."""
    source.seek(box.start + 4)
    source.write(b"free")
    source.seek(box.body)
    remaining = box.size - box.header
    while remaining > 0:
        step = min(remaining, CHUNK)
        source.write(b"\x00" * step)
        remaining -= step
