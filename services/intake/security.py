"""Bearer-token authentication and object-level authorization rules of the gateway."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from libs.common.auth import InvalidToken, Principal, Role, TokenVerifier
from libs.common.http import Problem

_CHALLENGE = {"WWW-Authenticate": "Bearer"}
_bearer = HTTPBearer(
    auto_error=False, description="A JWT from the identity provider (or /api/v1/dev/tokens in dev)"
)


async def authenticate(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal:
    """The caller's Principal from the bearer token. Raises Problem 401 (with `WWW-Authenticate:
    Bearer`) when the header is missing or the token does not verify."""
    if credentials is None:
        raise Problem(401, "an Authorization: Bearer <token> header is required", headers=_CHALLENGE)
    verifier: TokenVerifier = request.app.state.verifier
    try:
        return await verifier.verify(credentials.credentials)
    except InvalidToken as exc:  # its text is safe to show: no fetch errors, no key material
        raise Problem(401, f"the bearer token is not valid: {exc}", headers=_CHALLENGE) from exc


CurrentPrincipal = Annotated[Principal, Depends(authenticate)]


def require_role(principal: Principal, *roles: Role) -> None:
    """Raises Problem 403 unless the principal has one of `roles`."""
    if principal.role not in roles:
        allowed = ", ".join(str(role) for role in roles)
        raise Problem(403, f"this action is for: {allowed}; you are {principal.role}")


def can_see(principal: Principal, appeal: dict[str, Any]) -> bool:
    """A citizen sees only their own appeals, an operator only their organisation's."""
    if principal.role is Role.ADMIN:
        return True
    if principal.role is Role.OPERATOR:
        return (appeal.get("organization") or {}).get("id") == principal.org_id
    return bool(appeal.get("author_id") == principal.sub)


def can_see_contact(principal: Principal, appeal: dict[str, Any]) -> bool:
    """Contact data: the author and the assigned organisation only (not even admins)."""
    if principal.role is Role.OPERATOR:
        return can_see(principal, appeal)
    return bool(appeal.get("author_id") == principal.sub)
