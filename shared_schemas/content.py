"""Content parts of chat messages beyond text: images (``image_url``), OpenAI's shape."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class ImageURL(BaseModel):
    model_config = ConfigDict(extra="ignore")
    url: str = Field(
        min_length=1,
        description="A data URL (data:image/png;base64,...) or, when the server allows it "
        "(MLX_SERVER_ALLOW_REMOTE_IMAGES), an http(s) URL.",
    )
    detail: Literal["auto", "low", "high"] = Field(
        default="auto",
        description="'low' scales the image down to fit 512 x 512 first; 'auto' and 'high' "
        "use it as it is (up to MLX_SERVER_MAX_IMAGE_PIXELS, never resized).",
    )


class ImageURLContentPart(BaseModel):
    model_config = ConfigDict(extra="ignore")
    type: Literal["image_url"] = "image_url"
    image_url: ImageURL
