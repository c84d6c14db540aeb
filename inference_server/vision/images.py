"""Images of a chat request: fetched (data URLs; http(s) only when allowed), checked, decoded.

An image is never resized to make it fit: one with more pixels than
``MLX_SERVER_MAX_IMAGE_PIXELS`` is refused (its size is read from the header, before the
pixels are decoded). A file the decoder cannot read is refused with the decoder's reason.
Remote images are off by default; when allowed, each download is capped in bytes and time.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import io
import re
from dataclasses import dataclass
from typing import Any

import httpx

from inference_server.errors import BadRequestError
from inference_server.settings import InferenceSettings
from shared_schemas.content import ImageURL

LOW_DETAIL_SIDE = 512
_DATA_URL = re.compile(r"^data:(?P<mime>[\w.+-]+/[\w.+-]+)?(?P<params>(;[^;,]*)*?);base64,", re.I)


@dataclass(frozen=True)
class ImageLimits:
    max_pixels: int
    allow_remote: bool
    remote_max_bytes: int
    remote_timeout_s: float


def image_limits(settings: InferenceSettings) -> ImageLimits:
    return ImageLimits(
        max_pixels=settings.max_image_pixels,
        allow_remote=settings.allow_remote_images,
        remote_max_bytes=settings.remote_image_max_bytes,
        remote_timeout_s=settings.remote_image_timeout_s,
    )


def _refuse(index: int, message: str, code: str, **details: Any) -> BadRequestError:
    return BadRequestError(
        f"image {index}: {message}",
        code=code,
        param="messages",
        details={"image_index": index, **details},
    )


def _from_data_url(index: int, url: str) -> bytes:
    match = _DATA_URL.match(url)
    if match is None:
        raise _refuse(index, "a data URL must be 'data:<type>;base64,<data>'", "invalid_image_url")
    try:
        return base64.b64decode(url[match.end() :], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise _refuse(index, f"the base64 data is invalid ({exc})", "invalid_image") from exc


async def _download(index: int, url: str, limits: ImageLimits) -> bytes:
    if not limits.allow_remote:
        raise _refuse(
            index,
            "remote images are not fetched by this server; send the image as a data URL",
            "remote_images_disabled",
        )
    chunks: list[bytes] = []
    size = 0
    try:
        async with (
            asyncio.timeout(limits.remote_timeout_s),
            httpx.AsyncClient(follow_redirects=True, max_redirects=3) as client,
            client.stream("GET", url) as response,
        ):
            if response.status_code != 200:
                raise _refuse(
                    index, f"fetching it answered HTTP {response.status_code}", "image_fetch_failed"
                )
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > limits.remote_max_bytes:
                    raise _refuse(
                        index,
                        f"larger than {limits.remote_max_bytes} bytes",
                        "image_too_large",
                        max_bytes=limits.remote_max_bytes,
                    )
                chunks.append(chunk)
    except TimeoutError as exc:
        raise _refuse(
            index, f"not fetched within {limits.remote_timeout_s:g} s", "image_fetch_failed"
        ) from exc
    except httpx.HTTPError as exc:
        raise _refuse(index, f"fetching it failed ({exc})", "image_fetch_failed") from exc
    return b"".join(chunks)


def decode(index: int, data: bytes, limits: ImageLimits, detail: str) -> Any:
    """A PIL RGB image from ``data``; refuses one too large or unreadable."""
    from PIL import Image, UnidentifiedImageError

    try:
        image = Image.open(io.BytesIO(data))
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise _refuse(index, f"cannot be decoded ({exc})", "invalid_image") from exc
    except Image.DecompressionBombError as exc:
        raise _refuse(index, str(exc), "image_too_large") from exc
    width, height = image.size
    if width * height > limits.max_pixels:
        raise _refuse(
            index,
            f"{width} x {height} = {width * height} pixels is more than this server takes "
            f"({limits.max_pixels}, MLX_SERVER_MAX_IMAGE_PIXELS); it is not resized",
            "image_too_large",
            width=width,
            height=height,
            max_pixels=limits.max_pixels,
        )
    try:
        image.load()
        rgb = image.convert("RGB")
    except (OSError, ValueError, SyntaxError) as exc:
        raise _refuse(index, f"cannot be decoded ({exc})", "invalid_image") from exc
    if detail == "low":
        rgb.thumbnail((LOW_DETAIL_SIDE, LOW_DETAIL_SIDE))
    return rgb


async def load_images(images: list[ImageURL], limits: ImageLimits) -> list[Any]:
    """Every image of a request, decoded (off the event loop), in order."""
    out = []
    for index, image in enumerate(images):
        url = image.url.strip()
        if url[:5].lower() == "data:":
            data = _from_data_url(index, url)
        elif url[:7].lower() == "http://" or url[:8].lower() == "https://":
            data = await _download(index, url, limits)
        else:
            raise _refuse(index, "the URL must be a data URL or http(s)", "invalid_image_url")
        out.append(await asyncio.to_thread(decode, index, data, limits, image.detail))
    return out
