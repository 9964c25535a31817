from __future__ import annotations

from typing import ClassVar

from pydantic import Field, SecretStr, model_validator

from libs.common.auth import DEV_AUDIENCE, DEV_ISSUER
from libs.common.settings import DEV_SECRET, ServiceSettings


class IntakeSettings(ServiceSettings):
    service_name: ClassVar[str] = "intake"

    http_port: int = 8000
    # Production: tokens from an OIDC issuer, keys from its JWKS. Dev: HS256 with this key.
    jwt_issuer: str = DEV_ISSUER
    jwt_audience: str = DEV_AUDIENCE
    jwks_url: str | None = None
    dev_signing_key: SecretStr | None = None
    routing_url: str = "http://127.0.0.1:8001"
    deadlines_url: str = "http://127.0.0.1:8002"
    notify_url: str = "http://127.0.0.1:8003"
    media_url: str = "http://127.0.0.1:8004"
    upstream_timeout_seconds: float = 10.0
    max_upload_bytes: int = 10 * 1024 * 1024
    max_media_per_appeal: int = 10
    topics_cache_seconds: float = 60.0
    max_json_bytes: int = 256 * 1024
    submit_rate_per_minute: int = 10
    # Open311 api_key -> client name. Dev mode adds "dev-open311-key" when none are configured.
    open311_api_keys: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _production_needs_jwks(self) -> IntakeSettings:
        if not self.is_dev and not self.jwks_url:
            raise ValueError(
                "INTAKE_JWKS_URL is required outside dev mode (tokens come from the OIDC issuer)"
            )
        return self

    @property
    def open311_clients(self) -> dict[str, str]:
        if self.is_dev and not self.open311_api_keys:
            return {"dev-open311-key": "dev-client"}
        return self.open311_api_keys

    @property
    def signing_key(self) -> str | None:
        """The HS256 key of dev tokens; none outside dev mode, where only the issuer signs."""
        if not self.is_dev:
            return None
        return self.dev_signing_key.get_secret_value() if self.dev_signing_key else DEV_SECRET
