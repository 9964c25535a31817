"""Who is calling: JWT bearer tokens for people and connectors, a shared token between services."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

import jwt

DEV_ISSUER = "appeals-dev"
DEV_AUDIENCE = "appeals"
INTERNAL_TOKEN_HEADER = "X-Internal-Token"  # noqa: S105 - a header name


class Role(StrEnum):
    CITIZEN = "citizen"
    OPERATOR = "operator"
    ADMIN = "admin"
    MONITOR = "monitor"


@dataclass(frozen=True)
class Principal:
    sub: str
    role: Role
    org_id: str | None = None


class InvalidToken(Exception):
    pass


class TokenVerifier:
    """Verifies bearer tokens: RS256 keys from an OIDC issuer's JWKS, or the dev HS256 key."""

    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        jwks_url: str | None = None,
        dev_secret: str | None = None,
    ) -> None:
        if not jwks_url and not dev_secret:
            raise ValueError("a JWKS URL (production) or a dev signing key (dev mode) is required")
        self._issuer = issuer
        self._audience = audience
        self._jwks = jwt.PyJWKClient(jwks_url, cache_keys=True) if jwks_url else None
        self._dev_secret = dev_secret

    def verify(self, token: str) -> Principal:
        try:
            if self._jwks is not None:
                key: Any = self._jwks.get_signing_key_from_jwt(token).key
                algorithms = ["RS256", "ES256"]
            else:
                key, algorithms = self._dev_secret, ["HS256"]
            claims = jwt.decode(
                token,
                key,
                algorithms=algorithms,
                audience=self._audience,
                issuer=self._issuer,
                options={"require": ["exp", "sub", "iss", "aud"]},
            )
            role = Role(claims.get("role", Role.CITIZEN))
        except (jwt.PyJWTError, ValueError) as exc:
            raise InvalidToken(str(exc)) from exc
        org_id = claims.get("org_id")
        if role is Role.OPERATOR and not org_id:
            raise InvalidToken("an operator token must name its org_id")
        return Principal(sub=str(claims["sub"]), role=role, org_id=org_id)


def issue_dev_token(
    secret: str, *, sub: str, role: Role, org_id: str | None = None, ttl: timedelta = timedelta(hours=12)
) -> str:
    now = datetime.now(UTC)
    claims: dict[str, Any] = {
        "sub": sub,
        "role": str(role),
        "iss": DEV_ISSUER,
        "aud": DEV_AUDIENCE,
        "iat": now,
        "exp": now + ttl,
    }
    if org_id:
        claims["org_id"] = org_id
    return jwt.encode(claims, secret, algorithm="HS256")


def internal_token_valid(presented: str | None, expected: str) -> bool:
    return presented is not None and hmac.compare_digest(presented.encode(), expected.encode())
