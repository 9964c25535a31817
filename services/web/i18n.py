"""Message catalogues: gettext `.po` files under `locales/<lang>/LC_MESSAGES/messages.po`.

Templates and code write English message ids (`_("My appeals")`); the Russian texts live in
`locales/ru/LC_MESSAGES/messages.po`. Babel reads the `.po` at start-up and compiles it in memory,
so there is no build step and no compiled `.mo` in the repository. Another language is another
`.po` file (`pybabel init -l en`); an id missing from a catalogue shows the English id.
"""

from __future__ import annotations

import io
from functools import cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

LOCALES = Path(__file__).resolve().parent / "locales"
DOMAIN = "messages"


@cache
def translations(language: str) -> NullTranslations:
    """The catalogue of `language` ("ru"); NullTranslations (the English ids) if there is none."""
    po = LOCALES / language / "LC_MESSAGES" / f"{DOMAIN}.po"
    if not po.is_file():
        return NullTranslations()
    with po.open("rb") as handle:
        catalog = read_po(handle, locale=language, domain=DOMAIN)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(fp=buffer, domain=DOMAIN)


def languages() -> list[str]:
    return sorted(p.name for p in LOCALES.iterdir() if (p / "LC_MESSAGES" / f"{DOMAIN}.po").is_file())


def N_(message: str) -> str:
    """Marks a message id in Python code for extraction; the page translates it when shown."""
    return message
