"""What the gateway's OpenAPI document adds to the errors every route of its shape can return
(`libs.common.openapi.document_problems`): the statuses particular to some operations.

Kept in one table, beside the routes rather than in their decorators, so the document can be
checked as a whole (tests/unit/test_openapi_document.py, the fuzz test)."""

from __future__ import annotations

# (method, path template) -> statuses besides the common ones (every signed-in write's 429 of
# its rate limit is common: libs.common.openapi).
EXTRA_STATUSES: dict[tuple[str, str], tuple[int, ...]] = {}

# Operations that ask routing, media, notify or deadlines (503 when it does not answer).
UPSTREAM_PREFIXES = (
    "/api/v1/admin",
    "/api/v1/clusters",
    "/api/v1/problem-zones",
    "/api/v1/stats",
    "/api/v1/topics",
    "/api/v1/media",
    "/api/v1/me",
    "/api/v1/push",
    "/api/v1/webhooks",
    "/api/v1/organizations",
    "/api/v1/appeals",
    "/api/v1/incidents",
)
