"""Who is calling: JWT bearer tokens for people and connectors, a shared token between services.

Every claim the platform uses is validated by type and shape (`Principal`): a claim of the wrong
type (an object, an array, a number where a string belongs) never reaches a store filter.
"""

from __future__ import annotations

import asyncio
import hmac
import unicodedata
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any

import jwt
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from libs.common.logging import get_logger

log = get_logger(__name__)

DEV_ISSUER = "appeals-dev"
DEV_AUDIENCE = "appeals"
INTERNAL_TOKEN_HEADER = "X-Internal-Token"  # noqa: S105 - a header name
JWKS_ALGORITHMS = ["RS256", "ES256"]
# An organisation id as the catalogue spells them ("min-health"): short, no spaces or operators.
ORG_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
MAX_SUB_LENGTH = 256


class Role(StrEnum):
    CITIZEN = "citizen"
    OPERATOR = "operator"
    ADMIN = "admin"
    MONITOR = "monitor"


OrgId = Annotated[str, StringConstraints(pattern=ORG_ID_PATTERN)]


class Principal(BaseModel):
    """The caller as the token names it, every field checked by type (strict: no coercion).

    `sub`: 1–256 characters, no control or format characters; `role`: a `Role` (default
    citizen); `org_id`: an id string (`ORG_ID_PATTERN`), required for operators.
    Raises `pydantic.ValidationError` on anything else.
    """

    model_config = ConfigDict(frozen=True, strict=True, extra="ignore")

    sub: str = Field(min_length=1, max_length=MAX_SUB_LENGTH)
    role: Role = Role.CITIZEN
    org_id: OrgId | None = None

    @field_validator("role", mode="before")
    @classmethod
    def _role_from_string(cls, value: object) -> object:
        # strict mode takes only Role instances; a token carries the role as a plain string
        return Role(value) if isinstance(value, str) and value in Role._value2member_map_ else value

    @field_validator("sub")
    @classmethod
    def _printable(cls, value: str) -> str:
        if not value.strip() or any(unicodedata.category(char).startswith("C") for char in value):
            raise ValueError("sub must be printable text")
        return value

    @model_validator(mode="after")
    def _operator_has_org(self) -> Principal:
        if self.role is Role.OPERATOR and not self.org_id:
            raise ValueError("an operator token must name its org_id")
        return self


class InvalidToken(Exception):
    """The token is refused; the message is safe to show the caller (no fetch errors, no keys)."""


class TokenVerifier:
    """Verifies bearer tokens: RS256/ES256 keys from an OIDC issuer's JWKS, or the dev HS256 key.

    The JWKS is fetched in a worker thread with a timeout and cached (`jwks_cache_seconds`), so
    a slow issuer never blocks the event loop.
    """

    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        jwks_url: str | None = None,
        dev_secret: str | None = None,
        jwks_timeout_seconds: float = 5.0,
        jwks_cache_seconds: int = 300,
    ) -> None:
        if not jwks_url and not dev_secret:
            raise ValueError("a JWKS URL (production) or a dev signing key (dev mode) is required")
        self._issuer = issuer
        self._audience = audience
        self._jwks = (
            jwt.PyJWKClient(
                jwks_url,
                cache_keys=True,
                lifespan=jwks_cache_seconds,
                timeout=int(max(1, jwks_timeout_seconds)),
            )
            if jwks_url
            else None
        )
        self._jwks_timeout = jwks_timeout_seconds
        self._fetching = asyncio.Lock()
        self._dev_secret = dev_secret

    async def verify(self, token: str) -> Principal:
        """The principal of a valid token. Raises `InvalidToken` (safe text) on any failure."""
        if self._jwks is None:
            return self._decode(token, self._dev_secret, ["HS256"])
        return self._decode(token, await self._signing_key(token), JWKS_ALGORITHMS)

    def _cached_key(self, token: str) -> Any | None:
        """The key from the cached, unexpired key set, without any I/O; None to fetch."""
        assert self._jwks is not None
        cache = self._jwks.jwk_set_cache
        jwk_set = cache.get() if cache is not None else None
        if jwk_set is None:
            return None
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.PyJWTError:
            return None  # decoding reports it
        return next((key.key for key in jwk_set.keys if kid and key.key_id == kid), None)

    async def _signing_key(self, token: str) -> Any:
        assert self._jwks is not None
        if (cached := self._cached_key(token)) is not None:
            return cached
        try:
            # One fetch at a time, waited for here (not in worker threads); then from the cache.
            async with self._fetching:
                signing_key = await asyncio.wait_for(
                    asyncio.to_thread(self._jwks.get_signing_key_from_jwt, token), self._jwks_timeout + 1
                )
        except jwt.PyJWKClientConnectionError as exc:
            # The fetch error names the issuer's URL and the network failure: logs only.
            log.warning("JWKS fetch failed", error=type(exc).__name__, detail=str(exc)[:200])
            raise InvalidToken(
                "the token could not be verified now (identity provider keys unavailable)"
            ) from None
        except TimeoutError:
            log.warning("JWKS fetch timed out", timeout_seconds=self._jwks_timeout)
            raise InvalidToken(
                "the token could not be verified now (identity provider keys unavailable)"
            ) from None
        except jwt.PyJWKClientError as exc:
            log.info("no JWKS key for a token", error=type(exc).__name__)
            raise InvalidToken("no signing key of the identity provider matches this token") from None
        except jwt.PyJWTError as exc:
            raise InvalidToken(_public_reason(exc)) from None
        return signing_key.key

    def _decode(self, token: str, key: Any, algorithms: list[str]) -> Principal:
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=algorithms,
                audience=self._audience,
                issuer=self._issuer,
                options={"require": ["exp", "sub", "iss", "aud"]},
            )
        except jwt.PyJWTError as exc:
            raise InvalidToken(_public_reason(exc)) from None
        if not isinstance(claims, dict):
            raise InvalidToken("the token's claims are not an object")
        try:
            return Principal.model_validate(
                {name: claims[name] for name in ("sub", "role", "org_id") if claims.get(name) is not None}
            )
        except ValidationError as exc:
            fields = sorted({str(err["loc"][0]) if err["loc"] else "claims" for err in exc.errors()})
            raise InvalidToken(f"claims of the wrong type or shape: {', '.join(fields)}") from None


def _public_reason(exc: jwt.PyJWTError) -> str:
    """PyJWT's own reasons (expired, wrong audience, bad signature) carry no secrets."""
    if isinstance(exc, jwt.PyJWKClientError):
        return "no signing key of the identity provider matches this token"
    return str(exc)[:200] or type(exc).__name__


def issue_dev_token(
    secret: str, *, sub: str, role: Role, org_id: str | None = None, ttl: timedelta = timedelta(hours=12)
) -> str:
    """An HS256 JWT for dev mode (issuer `DEV_ISSUER`, audience `DEV_AUDIENCE`) with `sub`, `role`
    and `org_id`, valid for `ttl` (12 hours by default)."""
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
    """True when the presented `X-Internal-Token` equals the expected one (constant-time comparison)."""
    return presented is not None and hmac.compare_digest(presented.encode(), expected.encode())
