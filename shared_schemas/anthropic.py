"""Anthropic Messages wire types (``POST /v1/messages``, ``/v1/messages/count_tokens``).

Requests read tolerantly like the OpenAI ones: unknown fields are ignored (and logged once),
``metadata`` is accepted and unused. Fields that would change the answer and are not served
here (``tools``, ``tool_choice``, ``top_k``, extended ``thinking``) are refused by name by the
server, never ignored.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag
from pydantic.json_schema import SkipJsonSchema

from shared_schemas.openai import MAX_MODEL_ID_LENGTH, MODEL_ID_PATTERN, _Request


class TextBlock(BaseModel):
    model_config = ConfigDict(extra="ignore")
    type: Literal["text"] = "text"
    text: str


class Base64ImageSource(BaseModel):
    model_config = ConfigDict(extra="ignore")
    type: Literal["base64"] = "base64"
    media_type: str = Field(min_length=1, max_length=100)
    data: str


class URLImageSource(BaseModel):
    model_config = ConfigDict(extra="ignore")
    type: Literal["url"] = "url"
    url: str = Field(min_length=1)


class ImageBlock(BaseModel):
    model_config = ConfigDict(extra="ignore")
    type: Literal["image"] = "image"
    source: Annotated[Base64ImageSource | URLImageSource, Field(discriminator="type")]


class OtherBlock(BaseModel):
    """A block kind this server does not serve (``tool_use``, ``tool_result``, ``document``...)."""

    model_config = ConfigDict(extra="allow")
    type: str


def _block_kind(value: Any) -> str:
    kind = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    return kind if kind in ("text", "image") else "other"


ContentBlock = Annotated[
    Annotated[TextBlock, Tag("text")]
    | Annotated[ImageBlock, Tag("image")]
    | Annotated[SkipJsonSchema[OtherBlock], Tag("other")],
    Discriminator(_block_kind),
]


class Message(BaseModel):
    model_config = ConfigDict(extra="ignore")
    role: Literal["user", "assistant"]
    content: str | list[ContentBlock]


class MessagesRequest(_Request):
    model: str = Field(min_length=1, max_length=MAX_MODEL_ID_LENGTH, pattern=MODEL_ID_PATTERN)
    messages: list[Message] = Field(min_length=1)
    max_tokens: int = Field(ge=1)
    system: str | list[TextBlock] | None = None
    stop_sequences: list[Annotated[str, Field(min_length=1)]] | None = None
    stream: bool = False
    temperature: float | None = Field(default=None, ge=0.0, le=1.0)
    top_p: float | None = Field(default=None, ge=0.0, le=1.0)
    metadata: dict[str, Any] | None = None
    # Read so that they are refused by name (not served here yet), not advertised.
    top_k: SkipJsonSchema[int | None] = None
    tools: SkipJsonSchema[list[dict[str, Any]] | None] = None
    tool_choice: SkipJsonSchema[dict[str, Any] | None] = None
    thinking: SkipJsonSchema[dict[str, Any] | None] = None


class CountTokensRequest(_Request):
    model: str = Field(min_length=1, max_length=MAX_MODEL_ID_LENGTH, pattern=MODEL_ID_PATTERN)
    messages: list[Message] = Field(min_length=1)
    system: str | list[TextBlock] | None = None
    tools: SkipJsonSchema[list[dict[str, Any]] | None] = None
    tool_choice: SkipJsonSchema[dict[str, Any] | None] = None
    thinking: SkipJsonSchema[dict[str, Any] | None] = None


StopReason = Literal["end_turn", "max_tokens", "stop_sequence"]


class MessagesUsage(BaseModel):
    input_tokens: int
    output_tokens: int


class MessagesResponse(BaseModel):
    id: str
    type: Literal["message"] = "message"
    role: Literal["assistant"] = "assistant"
    content: list[TextBlock]
    model: str
    stop_reason: StopReason | None
    stop_sequence: str | None = None
    usage: MessagesUsage


class CountTokensResponse(BaseModel):
    input_tokens: int


class AnthropicErrorDetail(BaseModel):
    type: str
    message: str


class AnthropicError(BaseModel):
    type: Literal["error"] = "error"
    error: AnthropicErrorDetail
