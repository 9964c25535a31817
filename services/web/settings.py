"""Settings of the web frontend (env prefix `WEB_`, then `APPEALS_`)."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from pydantic import SecretStr

from libs.common.settings import DEV_SECRET, ServiceSettings

HERE = Path(__file__).resolve().parent


class WebSettings(ServiceSettings):
    service_name: ClassVar[str] = "web"
    uses_store: ClassVar[bool] = False

    http_port: int = 8080
    # The web calls no internal API: it holds no service token (nor broker or store credentials).
    internal_token: SecretStr | None = None  # type: ignore[assignment]
    # The interface language: a catalogue under locales/ (one per deployment; "ru" ships).
    language: str = "ru"
    # The public gateway, as a mobile app would call it; the web never calls anything else.
    gateway_url: str = "http://127.0.0.1:8000"
    gateway_timeout_seconds: float = 15.0
    # Where residents reach this site (links in the widget snippet, the OIDC redirect URI).
    public_url: str = "http://127.0.0.1:8080"
    # Signs and encrypts the session cookie (Fernet, key derived with HKDF). Refused outside dev
    # when left at the development marker.
    session_secret: SecretStr = SecretStr(DEV_SECRET)
    session_max_age_seconds: int = 8 * 3600
    # None: Secure cookies exactly when public_url is https.
    cookie_secure: bool | None = None
    # Uploads through the web form: per file and files per appeal (the gateway applies its own).
    max_photo_bytes: int = 10 * 1024 * 1024
    max_photos: int = 5
    # Map background: None draws the polygons and points on a plain background (no tile server).
    tile_url: str | None = None
    tile_attribution: str = ""
    # Production sign-in: OpenID Connect authorization code + PKCE (authlib). The issuer must be
    # the one whose JWKS the gateway trusts; its access tokens are sent to the gateway as they are.
    oidc_issuer: str | None = None
    oidc_client_id: str | None = None
    oidc_client_secret: SecretStr | None = None
    oidc_scope: str = "openid profile"
    # Where the front-end libraries were installed by `npm ci` (package.json beside this file).
    node_modules: Path = HERE / "node_modules"

    @property
    def secure_cookies(self) -> bool:
        if self.cookie_secure is not None:
            return self.cookie_secure
        return self.public_url.startswith("https://")

    @property
    def oidc_enabled(self) -> bool:
        return bool(self.oidc_issuer and self.oidc_client_id)
