"""structlog setup: JSON off a terminal, context (correlation_id, appeal_id) from contextvars."""

from __future__ import annotations

import logging
import sys
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import structlog

CONTEXT_HEADERS = ("correlation_id", "appeal_id")


def configure_logging(service: str, level: str = "INFO", json: bool | None = None) -> None:
    """Structured logs to stderr for `service`: JSON when not on a terminal (or as `json` says), ISO
    UTC timestamps, the context variables (correlation id, service) merged in; stdlib loggers at
    WARNING."""
    use_json = (not sys.stderr.isatty()) if json is None else json
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer(ensure_ascii=False) if use_json else structlog.dev.ConsoleRenderer()
    )
    processors: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
        structlog.processors.format_exc_info,
    ]
    structlog.configure(
        processors=[*processors, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=False,
    )
    structlog.contextvars.bind_contextvars(service=service)
    # Libraries log through stdlib logging: keep them quiet and on the same stream.
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(name)s %(levelname)s %(message)s")


def new_correlation_id() -> str:
    """A fresh correlation id (32 hex digits)."""
    return uuid.uuid4().hex


def current_correlation_id() -> str:
    """The correlation id bound to this context (request or message), else a fresh one."""
    return str(structlog.contextvars.get_contextvars().get("correlation_id") or new_correlation_id())


def current_context() -> dict[str, str]:
    """The correlation_id / appeal_id bound right now, to carry in message headers."""
    bound = structlog.contextvars.get_contextvars()
    return {key: str(bound[key]) for key in CONTEXT_HEADERS if bound.get(key)}


@contextmanager
def bound_context(values: Mapping[str, Any]) -> Iterator[None]:
    """Bind the known context keys for the duration of one request or message."""
    picked = {key: str(values[key]) for key in CONTEXT_HEADERS if values.get(key)}
    with structlog.contextvars.bound_contextvars(**picked):
        yield


def get_logger(name: str | None = None) -> Any:
    """A structlog logger; never pass it e-mail addresses, names, message text or tokens."""
    return structlog.get_logger(name)
