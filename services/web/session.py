"""The browser session: one cookie, encrypted and signed (Fernet), HttpOnly, SameSite=Lax.

The cookie holds the gateway bearer token, who the person is (for the menus), the CSRF token and,
during an OIDC sign-in, the state, nonce and PKCE verifier. Fernet (AES-128-CBC + HMAC-SHA256,
from `cryptography`) both hides the token from the browser's scripts and stops tampering; the key
is derived from `WEB_SESSION_SECRET` with HKDF. The token is never put in a URL or a log. Keeping
the session in the cookie needs no server store, so any number of web replicas serve a person.
"""

from __future__ import annotations

import base64
import hmac
import json
import secrets
from dataclasses import asdict, dataclass, field
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

COOKIE_SECURE_NAME = "__Host-appeals-session"  # __Host-: Secure, Path=/, no Domain (RFC 6265bis)
COOKIE_PLAIN_NAME = "appeals-session"  # plain http on loopback in dev, where Secure cannot be set
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"


@dataclass
class Session:
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    token: str | None = None
    sub: str | None = None
    role: str | None = None
    org_id: str | None = None
    name: str | None = None
    flash: str | None = None
    oidc: dict[str, str] | None = None  # state, nonce, code_verifier, next: during sign-in only

    @property
    def signed_in(self) -> bool:
        return self.token is not None

    @property
    def is_operator(self) -> bool:
        return self.role == "operator"

    def sign_in(self, token: str, sub: str, role: str, org_id: str | None, name: str | None) -> None:
        """A new CSRF token at sign-in too, so one seen before it is worth nothing after it."""
        self.token, self.sub, self.role, self.org_id, self.name = token, sub, role, org_id, name
        self.csrf = secrets.token_urlsafe(24)
        self.oidc = None

    def csrf_ok(self, given: str | None) -> bool:
        return bool(given) and hmac.compare_digest(self.csrf.encode(), (given or "").encode())


class SessionCodec:
    """Session ⇄ cookie value. A cookie that fails to decrypt, or is older than `max_age`
    seconds, is treated as no session (a new anonymous one)."""

    def __init__(self, secret: str, max_age: int) -> None:
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"appeals-web-session").derive(
            secret.encode()
        )
        self._fernet = Fernet(base64.urlsafe_b64encode(key))
        self._max_age = max_age

    def dumps(self, session: Session) -> str:
        return self._fernet.encrypt(json.dumps(asdict(session)).encode()).decode()

    def loads(self, value: str | None) -> Session | None:
        if not value:
            return None
        try:
            data: dict[str, Any] = json.loads(self._fernet.decrypt(value.encode(), ttl=self._max_age))
            return Session(**data)
        except (InvalidToken, ValueError, TypeError):
            return None
