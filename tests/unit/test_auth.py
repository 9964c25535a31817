from datetime import timedelta

import jwt
import pytest

from libs.common.auth import DEV_AUDIENCE, DEV_ISSUER, InvalidToken, Role, TokenVerifier, issue_dev_token

KEY = "unit-test-key-of-sufficient-length-000"


def verifier() -> TokenVerifier:
    return TokenVerifier(issuer=DEV_ISSUER, audience=DEV_AUDIENCE, dev_secret=KEY)


def test_round_trip_of_a_dev_token() -> None:
    principal = verifier().verify(issue_dev_token(KEY, sub="op-1", role=Role.OPERATOR, org_id="min-health"))
    assert (principal.sub, principal.role, principal.org_id) == ("op-1", Role.OPERATOR, "min-health")


@pytest.mark.parametrize(
    "token",
    [
        issue_dev_token("another-key-entirely-0000000000000", sub="x", role=Role.CITIZEN),
        issue_dev_token(KEY, sub="x", role=Role.CITIZEN, ttl=timedelta(seconds=-5)),
        issue_dev_token(KEY, sub="x", role=Role.OPERATOR),  # an operator without an organisation
        jwt.encode({"sub": "x", "role": "citizen"}, KEY, algorithm="HS256"),  # no exp/iss/aud
        jwt.encode(
            {"sub": "x", "role": "emperor", "iss": DEV_ISSUER, "aud": DEV_AUDIENCE, "exp": 9999999999}, KEY
        ),
        "not-a-token",
    ],
)
def test_bad_tokens_are_refused(token: str) -> None:
    with pytest.raises(InvalidToken):
        verifier().verify(token)
