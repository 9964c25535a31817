"""The rendered manifests, fresh for each test (tests may change them)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.k8s.render import RENDERS, render


@pytest.fixture(params=sorted(RENDERS))
def rendered(request: pytest.FixtureRequest) -> list[dict[str, Any]]:
    return render(request.param)


@pytest.fixture
def production() -> list[dict[str, Any]]:
    return render("production")
