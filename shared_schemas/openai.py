"""OpenAI wire types: requests, responses, stream chunks, model list.

Requests are tolerant readers: unknown fields are accepted and ignored (each field name is
logged once), so new client versions keep working. Fields follow the order of the OpenAI
reference.
"""

from __future__ import annotations

import functools
import logging
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, model_validator

from shared_schemas.content import ImageURL, ImageURLContentPart

logger = logging.getLogger(__name__)

MAX_STOP_SEQUENCES = 4
MAX_MODEL_ID_LENGTH = 256
# A model id: a Hub repo id ``org/name``, ``local/<name>``, or a bare name. Each part starts
# with a letter or digit and never holds two dots in a row, so no id can climb out of a folder.
# (No look-arounds: the same pattern runs in Python, in pydantic's Rust engine and in JSON Schema.)
_ID_PART = r"[A-Za-z0-9][A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]+)*\.?"
MODEL_ID_PATTERN = rf"^{_ID_PART}(?:/{_ID_PART})?$"


@functools.lru_cache(maxsize=256)
def _log_unknown_field(model: str, field: str) -> None:
    logger.info("ignoring unknown field %r in %s", field, model)


class _TolerantRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    @model_validator(mode="before")
    @classmethod
    def _note_unknown(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for key in data:
                if isinstance(key, str) and key not in cls.model_fields:
                    _log_unknown_field(cls.__name__, key[:64])
        return data


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="ignore")
    include_usage: bool = False


class TextContentPart(BaseModel):
    model_config = ConfigDict(extra="ignore")
    type: Literal["text"] = "text"
    text: str


def _part_type(value: Any) -> str:
    """Which content part a value is: an image (by its type, or an ``image_url`` field when it
    has no type), else text."""
    if isinstance(value, dict):
        kind = value.get("type") or ("image_url" if "image_url" in value else "text")
    else:
        kind = getattr(value, "type", None)
    return "image_url" if kind == "image_url" else "text"


ContentPart = Annotated[
    Annotated[TextContentPart, Tag("text")] | Annotated[ImageURLContentPart, Tag("image_url")],
    Discriminator(_part_type),
]


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")
    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[ContentPart] | None = None
    name: str | None = None

    def text(self) -> str:
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "".join(part.text for part in self.content if isinstance(part, TextContentPart))

    def images(self) -> list[ImageURL]:
        if not isinstance(self.content, list):
            return []
        return [p.image_url for p in self.content if isinstance(p, ImageURLContentPart)]


def _text_or_list(value: Any) -> str:
    """Which branch of a "string or list of strings" field a value takes (one error, not two)."""
    return "list" if isinstance(value, list) else "text"


StopSequence = Annotated[str, Field(min_length=1)]
Stop = Annotated[
    Annotated[StopSequence, Tag("text")]
    | Annotated[list[StopSequence], Field(max_length=MAX_STOP_SEQUENCES), Tag("list")],
    Discriminator(_text_or_list),
]
Prompt = Annotated[
    Annotated[str, Tag("text")]
    | Annotated[list[str], Field(min_length=1, max_length=1), Tag("list")],
    Discriminator(_text_or_list),
]


class _SamplingFields(_TolerantRequest):
    """Fields shared by chat and legacy completions."""

    model: str | None = Field(
        default=None, min_length=1, max_length=MAX_MODEL_ID_LENGTH, pattern=MODEL_ID_PATTERN
    )
    frequency_penalty: float | None = Field(
        default=None,
        ge=-2.0,
        le=2.0,
        description="Applied with mlx-lm's repetition-style logits processor.",
    )
    max_tokens: int | None = Field(default=None, ge=1)
    n: int = Field(default=1, ge=1, le=1, description="Only n=1 is supported.")
    presence_penalty: float | None = Field(
        default=None,
        ge=-2.0,
        le=2.0,
        description="Applied with mlx-lm's presence logits processor.",
    )
    seed: int | None = Field(
        default=None, description="Any integer; the server uses it modulo 2**64."
    )
    stop: Stop | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    top_p: float | None = Field(default=None, ge=0.0, le=1.0)
    user: str | None = None
    keep_alive: float | None = Field(
        default=None,
        description=(
            "Extension: seconds to keep the model loaded after this request "
            "(0 unloads it when the request ends)."
        ),
    )

    def stop_list(self) -> list[str]:
        if self.stop is None:
            return []
        return [self.stop] if isinstance(self.stop, str) else list(self.stop)

    def include_usage(self) -> bool:
        return bool(self.stream_options and self.stream_options.include_usage)


class ChatCompletionRequest(_SamplingFields):
    messages: list[ChatMessage] = Field(min_length=1)
    logprobs: bool = False
    top_logprobs: int | None = Field(default=None, ge=0, le=20)
    max_completion_tokens: int | None = Field(default=None, ge=1)

    def token_limit(self) -> int | None:
        return self.max_completion_tokens or self.max_tokens

    def images(self) -> list[ImageURL]:
        """Every image of the conversation, in order."""
        return [image for message in self.messages for image in message.images()]


class CompletionRequest(_SamplingFields):
    prompt: Prompt = Field(description="A string (or a list holding exactly one string).")
    echo: bool = False
    suffix: str | None = None

    def prompt_text(self) -> str:
        return self.prompt if isinstance(self.prompt, str) else self.prompt[0]

    def token_limit(self) -> int | None:
        return self.max_tokens


class PromptTokensDetails(BaseModel):
    cached_tokens: int = 0


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    prompt_tokens_details: PromptTokensDetails | None = None


class TopLogprob(BaseModel):
    token: str
    logprob: float
    bytes: list[int] | None = None


class TokenLogprob(BaseModel):
    token: str
    logprob: float
    bytes: list[int] | None = None
    top_logprobs: list[TopLogprob] = Field(default_factory=list)


class ChoiceLogprobs(BaseModel):
    content: list[TokenLogprob] | None = None


FinishReason = Literal["stop", "length"]


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str | None = None


class ChatChoice(BaseModel):
    index: int = 0
    message: AssistantMessage
    logprobs: ChoiceLogprobs | None = None
    finish_reason: FinishReason | None = None


class ChatCompletionResponse(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[ChatChoice]
    usage: Usage | None = None
    system_fingerprint: str | None = None


class ChatDelta(BaseModel):
    role: Literal["assistant"] | None = None
    content: str | None = None


class ChatChunkChoice(BaseModel):
    index: int = 0
    delta: ChatDelta
    logprobs: ChoiceLogprobs | None = None
    finish_reason: FinishReason | None = None


class ChatCompletionChunk(BaseModel):
    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str
    choices: list[ChatChunkChoice]
    usage: Usage | None = None
    system_fingerprint: str | None = None


class CompletionChoice(BaseModel):
    index: int = 0
    text: str
    logprobs: dict[str, Any] | None = None
    finish_reason: FinishReason | None = None


class CompletionResponse(BaseModel):
    id: str
    object: Literal["text_completion"] = "text_completion"
    created: int
    model: str
    choices: list[CompletionChoice]
    usage: Usage | None = None
    system_fingerprint: str | None = None


ModelState = Literal["loaded", "loading", "not-loaded", "unknown"]
ModelType = Literal["chat", "image", "speech", "embedding"]


class ModelCard(BaseModel):
    """An OpenAI model entry plus the fields frontends need."""

    model_config = ConfigDict(populate_by_name=True)

    id: str
    object: Literal["model"] = "model"
    created: int = 0
    owned_by: str = "modelyard"
    name: str | None = None
    description: str | None = None
    context_length: int | None = Field(default=None, alias="contextLength")
    type: ModelType = "chat"
    state: ModelState = "not-loaded"
    default: bool = False
    characteristics: dict[str, Any] | None = None


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]
