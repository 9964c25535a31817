"""A media object's lifecycle table (services/media/schemas.py)."""

from __future__ import annotations

from services.media.schemas import MEDIA_TRANSITIONS, MediaState, MediaStep, next_media_state


def test_every_state_is_reached_and_removed_is_final() -> None:
    assert set(MEDIA_TRANSITIONS.values()) == set(MediaState)
    assert MediaState.REMOVED not in {state for state, _ in MEDIA_TRANSITIONS}


def test_only_an_attached_file_is_published_and_only_a_draft_is_attached_or_swept() -> None:
    assert next_media_state(MediaState.DRAFT, MediaStep.PUBLISH) is None
    assert next_media_state(MediaState.ATTACHED, MediaStep.PUBLISH) is MediaState.PUBLISHED
    assert next_media_state(MediaState.PUBLISHED, MediaStep.UNPUBLISH) is MediaState.ATTACHED
    assert {state for state, step in MEDIA_TRANSITIONS if step is MediaStep.ATTACH} == {MediaState.DRAFT}
    assert {state for state, step in MEDIA_TRANSITIONS if step is MediaStep.SWEEP} == {MediaState.DRAFT}
