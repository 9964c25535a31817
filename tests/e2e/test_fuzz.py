"""Fuzz the whole public HTTP API from its OpenAPI document (schemathesis), bounded.

Every one of schemathesis' checks (the CLI's `--checks all`): no 5xx, every status code, media
type, header and body as the document says, invalid data refused, valid data accepted... Besides:
every error outside Open311 is problem+json (Open311 errors keep Open311's own format).
A stack of its own, so fuzzed admin changes cannot disturb the other end-to-end tests.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import CHECKS
from schemathesis.config._checks import (
    POSITIVE_DATA_ACCEPTANCE_EXPECTED_STATUSES,
    PositiveDataAcceptanceConfig,
)
from schemathesis.core.failures import FailureGroup

from devstack.mailsink import MailSink
from devstack.stack import LocalStack
from tests.e2e.conftest import start_stack

pytestmark = pytest.mark.e2e

MAX_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "15"))  # `make test` stays quick; raise it to dig deeper


@pytest.fixture(scope="module")
def fuzz_stack(
    mail: MailSink, tmp_path_factory: pytest.TempPathFactory, rabbit_url: str
) -> Iterator[LocalStack]:
    stack = start_stack(mail, tmp_path_factory, rabbit_url, INTAKE_SUBMIT_RATE_PER_MINUTE="100000")
    yield stack
    stack.stop()


@pytest.fixture(scope="module")
def tokens(fuzz_stack: LocalStack) -> dict[str, str]:
    issued = {}
    for role, body in {
        "citizen": {"sub": "fuzz-citizen", "role": "citizen"},
        "admin": {"sub": "fuzz-admin", "role": "admin"},
        "operator": {"sub": "fuzz-operator", "role": "operator", "org_id": "city-admin"},
    }.items():
        response = httpx.post(f"{fuzz_stack.url('intake')}/api/v1/dev/tokens", json=body, timeout=10)
        issued[role] = response.json()["access_token"]
    return issued


def role_for(path: str) -> str:
    if path.startswith(("/api/v1/admin", "/api/v1/stats")):
        return "admin"
    if path.startswith(("/api/v1/clusters", "/api/v1/organizations")):
        return "operator"
    return "citizen"


def test_no_server_errors_and_every_error_is_problem_json(
    fuzz_stack: LocalStack, tokens: dict[str, str]
) -> None:
    schema = schemathesis.openapi.from_url(f"{fuzz_stack.url('intake')}/openapi.json")
    # A request the document calls well formed may still break a rule JSON Schema does not state
    # (a period of at most 400 days, a point needs both coordinates, what a file really holds, at
    # most 8 multipart fields however the values are split): that is 422 (415 for a file's
    # content, 400 for a multipart body), documented on every such operation (docs/api.md).
    schema.config.checks.positive_data_acceptance = PositiveDataAcceptanceConfig(
        expected_statuses=[*POSITIVE_DATA_ACCEPTANCE_EXPECTED_STATUSES, "400", "415", "422"]
    )
    failures: list[str] = []
    details: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @given(case=operation.as_strategy())
        @settings(
            max_examples=MAX_EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck)
        )
        def exercise(case: schemathesis.Case) -> None:
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {tokens[role_for(case.path)]}"}
            response = case.call(timeout=15)
            where = f"{case.method} {case.formatted_path} -> {response.status_code}"
            try:
                case.validate_response(response, checks=CHECKS.get_all(), headers=dict(case.headers))
            except FailureGroup as group:
                for failure in group.exceptions:
                    failures.append(f"{where}: {failure.title}: {failure.message[:300]}")
                    if os.environ.get("FUZZ_REPORT"):
                        detail = f"{where} {failure.title} body={str(case.body)[:300]!r} query={case.query}"
                        details.append(f"{detail} -> {response.text[:300]}")
            except AssertionError as failure:
                failures.append(f"{where}: {str(failure)[:300]}")
            if response.status_code >= 400 and not case.path.startswith("/open311"):
                content_type = response.headers.get("content-type", "")
                content_type = content_type[0] if isinstance(content_type, list) else content_type
                if not content_type.startswith("application/problem+json"):
                    failures.append(f"{where}: content-type {content_type!r}")

        exercise()
    assert operations > 20
    unique = sorted(set(failures))
    if report := os.environ.get("FUZZ_REPORT"):  # the whole list, to work through
        with open(report, "w", encoding="utf-8") as out:
            out.write("\n".join(unique) + "\n\n" + "\n".join(details))
    assert unique == [], f"{len(unique)} unique failures:\n" + "\n".join(unique[:40])
