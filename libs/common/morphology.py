"""Russian morphology for the services that read residents' words (routing's classifier, intake's
masker) and write Russian (notify's names in the right case): one pymorphy3 analyzer per process,
made on first use (0.1-0.5 s and about 25 MB for the dictionary of `pymorphy3-dicts-ru`)."""

from __future__ import annotations

from functools import cache

import pymorphy3


@cache
def analyzer() -> pymorphy3.MorphAnalyzer:
    """The process's analyzer (thread-safe for reading, as pymorphy3 documents)."""
    return pymorphy3.MorphAnalyzer()
