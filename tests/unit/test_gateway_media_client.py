"""The gateway's media client reads "no such file" from every answer that describes no file.

Found by the fuzz test: an empty media id meets media's redirect (`GET /media/` → 307, no body),
which the client turned into a 500; it must be "does not exist" (the submit answers 422)."""

from __future__ import annotations

import httpx
import pytest

from services.intake.gateway.clients import MediaClient
from services.intake.settings import IntakeSettings


def client(answer: httpx.Response) -> MediaClient:
    return MediaClient(IntakeSettings(env="dev"), httpx.MockTransport(lambda request: answer))


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(404, json={"detail": "no such file"}),
        httpx.Response(307, headers={"location": "/media"}),
        httpx.Response(200, json=["not", "a", "file"]),
    ],
)
async def test_an_answer_describing_no_file_is_none(answer: httpx.Response) -> None:
    media = client(answer)
    try:
        assert await media.meta("") is None
    finally:
        await media.close()


async def test_a_file_description_is_returned_as_media_wrote_it() -> None:
    media = client(httpx.Response(200, json={"id": "m1", "owner_id": "u1"}))
    try:
        assert await media.meta("m1") == {"id": "m1", "owner_id": "u1"}
    finally:
        await media.close()
