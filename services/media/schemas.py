from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ContentType(StrEnum):
    JPEG = "image/jpeg"
    PNG = "image/png"
    WEBP = "image/webp"
    PDF = "application/pdf"


class Rejection(StrEnum):
    EMPTY = "empty"
    TOO_LARGE = "too_large"
    TOO_MANY_PIXELS = "too_many_pixels"
    UNSUPPORTED_TYPE = "unsupported_type"
    CORRUPT = "corrupt"


class MediaDoc(BaseModel):
    """A document of the `media` collection; the object itself lives in the bucket."""

    model_config = ConfigDict(populate_by_name=True)

    id: str = Field(alias="_id")
    owner_id: str
    content_type: ContentType
    size: int
    sha256: str
    object_key: str
    created_at: datetime
    appeal_id: str | None = None
    width: int | None = None
    height: int | None = None

    def to_document(self) -> dict[str, Any]:
        return {**self.model_dump(by_alias=True), "content_type": str(self.content_type)}


class UploadedMedia(BaseModel):
    id: str
    content_type: ContentType
    size: int
    sha256: str
    width: int | None
    height: int | None


class MediaView(BaseModel):
    id: str
    owner_id: str
    content_type: ContentType
    size: int
    sha256: str
    appeal_id: str | None
    created_at: datetime
    width: int | None
    height: int | None


class MediaLink(BaseModel):
    url: str
    expires_in: int
