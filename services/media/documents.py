"""PDF documents: stored as uploaded (there is no PDF rewriter among the dependencies), so they
must be complete and free of active content.

What is checked: the `%PDF-1.0`..`%PDF-2.0` header; a `startxref` and a final `%%EOF` within the
last KiB with nothing but whitespace after it (so nothing can be appended: a ZIP or HTML tail is
refused); no name of active content (`/JavaScript`, `/JS`, `/Launch`, `/EmbeddedFile(s)`,
`/RichMedia`, also written with `#xx` escapes) outside stream data. Names inside compressed
object streams are not seen: this is a best effort, which is why documents are always served as
downloads (`Content-Disposition: attachment`) from the object store, never from the gateway.
"""

from __future__ import annotations

import hashlib
import re
from typing import BinaryIO

from libs.common.contracts.media import Rejection
from services.media.rules import MediaRejected, corrupt

_HEADER = re.compile(rb"%PDF-(1\.[0-7]|2\.0)\s")
_NAME = re.compile(rb"/((?:[^\s/\[\]()<>{}%#]|#[0-9A-Fa-f]{2}){1,127})")
_ESCAPE = re.compile(rb"#([0-9A-Fa-f]{2})")
ACTIVE_NAMES = frozenset({b"JavaScript", b"JS", b"Launch", b"EmbeddedFile", b"EmbeddedFiles", b"RichMedia"})
_STREAM = re.compile(rb"(?<![A-Za-z])stream\r?\n")
_TAIL = 1024
_TRAILING = b" \t\r\n\f\x00"


def check_pdf(source: BinaryIO, size: int) -> str:
    """Raise `MediaRejected` unless the document may be stored; return its SHA-256."""
    source.seek(0)
    data = source.read(size)  # bounded by the upload limit of documents
    source.seek(0)
    if not _HEADER.match(data[:16]):
        raise corrupt("the PDF document has no valid %PDF-1.x / %PDF-2.0 header")
    tail = data[-_TAIL:].rstrip(_TRAILING)
    if not tail.endswith(b"%%EOF") or b"startxref" not in tail:
        raise corrupt(
            "the PDF document is truncated, damaged or has data appended after its end "
            "(it must end with startxref ... %%EOF)"
        )
    if name := _active_name(data):
        raise MediaRejected(
            Rejection.ACTIVE_CONTENT,
            f"the PDF document contains active content (/{name}): scripts, launch actions and "
            "embedded files are not accepted",
        )
    return hashlib.sha256(data).hexdigest()


def _active_name(data: bytes) -> str | None:
    """The first name of active content outside stream data (binary data is not looked into:
    random bytes would spell `/JS` now and then)."""
    pos = 0
    while True:
        stream = _STREAM.search(data, pos)
        end = stream.start() if stream else len(data)
        for match in _NAME.finditer(data, pos, end):
            name = _ESCAPE.sub(lambda m: bytes([int(m.group(1), 16)]), match.group(1))
            if name in ACTIVE_NAMES:
                return name.decode("latin-1")
        if stream is None:
            return None
        pos = data.find(b"endstream", stream.end())
        if pos < 0:
            return None
        pos += len(b"endstream")
