"""Settings base shared by every service.

Each service subclasses `ServiceSettings` with its own env prefix (`INTAKE_`, `ROUTING_`, ...).
A value is looked up as `<SERVICE>_<NAME>`, then `APPEALS_<NAME>` (shared by every service of
one deployment), then, for the infrastructure URLs only, the plain name (`MONGO_URL`,
`RABBIT_URL`) as DESIGN.md promises.
"""

from __future__ import annotations

import os
from enum import StrEnum
from typing import Any, ClassVar, Literal

from pydantic import Field, SecretStr, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

# Values that ship in the code for local development only; outside dev they are refused.
DEV_SECRET = "dev-only-change-me-never-in-production"  # noqa: S105 - a marker, refused outside dev
UNPREFIXED = ("mongo_url", "rabbit_url")
# The shared service token outside dev: long and varied enough not to be guessed, and not a
# placeholder copied from an example file (e.g. `secrets.token_urlsafe(32)` gives 43 characters).
MIN_INTERNAL_TOKEN_LENGTH = 32
MIN_INTERNAL_TOKEN_DISTINCT = 12
PLACEHOLDERS = ("replace-with", "change-me", "changeme", "example", "password")


def weak_token_problem(token: str) -> str | None:
    """Why a shared secret is too weak to use outside dev (None when it is strong enough):
    under `MIN_INTERNAL_TOKEN_LENGTH` characters, fewer than `MIN_INTERNAL_TOKEN_DISTINCT`
    different characters, or a placeholder. The message never quotes the token."""
    if len(token) < MIN_INTERNAL_TOKEN_LENGTH:
        return f"use at least {MIN_INTERNAL_TOKEN_LENGTH} random characters"
    if len(set(token)) < MIN_INTERNAL_TOKEN_DISTINCT:
        return "too few different characters: use a random token"
    if any(marker in token.lower() for marker in PLACEHOLDERS):
        return "it is a placeholder: generate a random token"
    return None


class Environment(StrEnum):
    DEV = "dev"
    PRODUCTION = "production"


class QueueKind(StrEnum):
    CLASSIC = "classic"
    QUORUM = "quorum"


class _PlainInfraSource(PydanticBaseSettingsSource):
    """Reads MONGO_URL / RABBIT_URL without any prefix."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        """The field's value from the unprefixed environment variable of the same name (e.g.
        `MONGO_URL`)."""
        return os.environ.get(field_name.upper()), field_name, False

    def __call__(self) -> dict[str, Any]:
        return {
            name: os.environ[name.upper()]
            for name in UNPREFIXED
            if name in self.settings_cls.model_fields and name.upper() in os.environ
        }


class ServiceSettings(BaseSettings):
    """Configuration common to every service; subclasses add their own fields."""

    # hide_input_in_errors: a refused setting must not print the secrets given with it
    model_config = SettingsConfigDict(extra="ignore", hide_input_in_errors=True)
    service_name: ClassVar[str] = "service"
    uses_store: ClassVar[bool] = True  # False for a frontend that keeps nothing (the web)

    env: Environment = Environment.PRODUCTION
    namespace: str = "appeals"
    rabbit_url: str = "amqp://guest:guest@127.0.0.1:5672/"
    mongo_url: str | None = None
    mongo_db: str | None = None
    queue_kind: QueueKind = QueueKind.CLASSIC
    # Unacknowledged deliveries per consumer: this many handlers at once per process. 8 rather
    # than 32: with fewer in flight the store answers each sooner, accept is 2-3x faster under
    # load and every service spends 10-20 % less CPU per appeal (docs/performance.md).
    prefetch: int = 8
    max_attempts: int = 5
    retry_backoff_seconds: float = 0.5
    outbox_sweep_seconds: float = 2.0
    # Confirmed outbox entries wait this long so that several documents' pulls share one store
    # round trip; the sweep leaves entries younger than the grace to the process writing them.
    outbox_pull_delay_seconds: float = Field(default=0.5, ge=0, le=10)
    outbox_sweep_grace_seconds: float = Field(default=5.0, ge=0, le=300)
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    # Against slow clients (libs/common/server.py): an idle kept-alive connection closes after
    # `http_keep_alive_seconds`; a request's headers must arrive within `http_header_timeout_seconds`.
    http_keep_alive_seconds: int = 5
    http_header_timeout_seconds: float = 10.0
    log_level: str = "INFO"
    log_json: bool | None = None
    internal_token: SecretStr = SecretStr(DEV_SECRET)
    # Traces (libs/common/tracing.py): off unless an exporter is named. `otlp` speaks OTLP over
    # HTTP/protobuf to `otel_endpoint` (unset: OTEL_EXPORTER_OTLP_ENDPOINT, else localhost:4318).
    otel_exporter: Literal["none", "console", "otlp"] = "none"
    otel_endpoint: str | None = None

    @property
    def is_dev(self) -> bool:
        """True in the dev environment (dev tokens, relaxed checks)."""
        return self.env is Environment.DEV

    @property
    def database_name(self) -> str:
        """`MONGO_DB` if set, else `<namespace>_<service>`."""
        return self.mongo_db or f"{self.namespace}_{self.service_name}"

    @model_validator(mode="after")
    def _refuse_dev_secrets(self) -> ServiceSettings:
        if self.is_dev:
            return self
        weak = [
            name
            for name, value in self
            if isinstance(value, SecretStr) and value.get_secret_value() in ("", DEV_SECRET)
        ]
        if weak:
            raise ValueError(f"set real secrets outside dev mode: {', '.join(sorted(weak))}")
        token: SecretStr | None = self.internal_token  # None where a service calls no internal API
        if token is not None and (problem := weak_token_problem(token.get_secret_value())):
            raise ValueError(f"internal_token (APPEALS_INTERNAL_TOKEN) is too weak: {problem}")
        return self

    @model_validator(mode="after")
    def _require_store(self) -> ServiceSettings:
        # Without MONGO_URL a service keeps its data in its own memory: a unit-test convenience,
        # never a deployment (`make run` and the tests start the local store process instead).
        if self.uses_store and not self.is_dev and not self.mongo_url:
            raise ValueError("set MONGO_URL outside dev mode: the in-process store is not durable")
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Sources in order: arguments, `<SERVICE>_` variables, `APPEALS_` variables, the plain
        infrastructure variables, secret files."""
        return (
            init_settings,
            EnvSettingsSource(settings_cls, env_prefix=f"{cls.service_name.upper()}_"),
            EnvSettingsSource(settings_cls, env_prefix="APPEALS_"),
            _PlainInfraSource(settings_cls),
            file_secret_settings,
        )
