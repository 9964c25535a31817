from typing import ClassVar

import pytest
from pydantic import ValidationError

from libs.common.settings import ServiceSettings, weak_token_problem
from services.intake.settings import IntakeSettings

STRONG = "Qk3v9-xTz0LmW2pR8sYb4NcH6dJf1gAe7uVo5iKq"  # 40 random characters


class DemoSettings(ServiceSettings):
    service_name: ClassVar[str] = "demo"


def test_service_prefix_beats_shared_prefix_beats_plain_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APPEALS_ENV", "dev")
    monkeypatch.setenv("MONGO_URL", "mongodb://plain")
    monkeypatch.setenv("APPEALS_NAMESPACE", "shared")
    monkeypatch.setenv("DEMO_NAMESPACE", "mine")
    monkeypatch.setenv("APPEALS_HTTP_PORT", "9100")
    settings = DemoSettings()
    assert settings.mongo_url == "mongodb://plain"
    assert settings.namespace == "mine"
    assert settings.http_port == 9100
    monkeypatch.setenv("DEMO_MONGO_URL", "mongodb://mine")
    assert DemoSettings().mongo_url == "mongodb://mine"


def test_default_secrets_are_refused_outside_dev(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("APPEALS_ENV", raising=False)
    monkeypatch.setenv("MONGO_URL", "mongodb://db.example:27017/")
    with pytest.raises(ValidationError, match="internal_token"):
        DemoSettings()
    assert DemoSettings(internal_token=STRONG).internal_token.get_secret_value() == STRONG


@pytest.mark.parametrize(
    "token",
    ["x", "s3cret", "a" * 64, "abababababababababababababababababab", "replace-with-a-long-random-secret"],
)
def test_a_weak_internal_token_is_refused_outside_dev(monkeypatch: pytest.MonkeyPatch, token: str) -> None:
    monkeypatch.delenv("APPEALS_ENV", raising=False)
    with pytest.raises(ValidationError, match="internal_token") as refused:
        DemoSettings(internal_token=token)
    assert token not in str(refused.value)  # the secret is never echoed
    assert weak_token_problem(token)
    assert DemoSettings(env="dev", internal_token=token)  # dev keeps its marker and anything else


def test_production_needs_a_store_url(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without MONGO_URL a service would keep its data in its own memory: never outside dev."""
    monkeypatch.delenv("APPEALS_ENV", raising=False)
    monkeypatch.delenv("MONGO_URL", raising=False)
    with pytest.raises(ValidationError, match="MONGO_URL"):
        DemoSettings(internal_token=STRONG)
    assert DemoSettings(env="dev").mongo_url is None
    monkeypatch.setenv("MONGO_URL", "mongodb://db.example:27017/")
    assert DemoSettings(internal_token=STRONG).mongo_url == "mongodb://db.example:27017/"


def test_gateway_in_production_needs_a_jwks_url_and_has_no_dev_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("APPEALS_ENV", raising=False)
    monkeypatch.setenv("MONGO_URL", "mongodb://db.example:27017/")
    with pytest.raises(ValidationError, match="JWKS"):
        IntakeSettings(internal_token=STRONG)
    settings = IntakeSettings(internal_token=STRONG, jwks_url="https://idp.example/jwks")
    assert settings.signing_key is None
    assert IntakeSettings(env="dev").signing_key
