"""Anthropic Messages wire types: ``POST /v1/messages`` and ``/v1/messages/count_tokens``.

Requests are strict about what would change the answer: an unknown field is refused (400
naming it), and so are block types and tool kinds this server cannot honour. What cannot
change the answer is accepted and ignored; ``IGNORED_FIELDS`` is the one list of it
(documented in README). Fields follow the order of Anthropic's reference.

Errors on these routes leave in Anthropic's shape, ``{"type": "error", "error": {"type",
"message"}}`` (``anthropic_errors.py`` turns the envelope into it).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared_schemas.model_ids import ModelIdStr

TOOL_NAME_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
MAX_STOP_SEQUENCES = 16
MAX_TOOLS = 128

# Request fields (and block fields) accepted and ignored, with why ignoring them cannot change
# the answer.
IGNORED_FIELDS: Mapping[str, str] = MappingProxyType(
    {
        "metadata": "an end-user id for a provider's abuse monitoring",
        "service_tier": "a provider's processing tier; there is one here",
        "cache_control": "marks a prompt-cache breakpoint; the prompt cache here is automatic",
        "citations": "citations of earlier answers in the history; no documents are cited here",
    }
)

StopReason = Literal["end_turn", "max_tokens", "stop_sequence", "tool_use"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CacheControl(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: str = "ephemeral"


class TextBlockParam(_Strict):
    type: Literal["text"]
    text: str
    cache_control: CacheControl | None = Field(default=None, description="Accepted and ignored.")
    citations: list[dict[str, Any]] | None = Field(
        default=None, description="Accepted and ignored."
    )


class Base64ImageSource(_Strict):
    type: Literal["base64"]
    media_type: Literal["image/jpeg", "image/png", "image/gif", "image/webp"]
    data: str = Field(min_length=1, description="The image file, base64-encoded.")


class URLImageSource(_Strict):
    type: Literal["url"]
    url: str = Field(
        min_length=1,
        description="An http(s) URL, fetched only when the server allows it "
        "(MLX_SERVER_ALLOW_REMOTE_IMAGES).",
    )


class ImageBlockParam(_Strict):
    """An image in a user turn, for a vision-language model (a text-only model answers 400
    ``images_not_supported``)."""

    type: Literal["image"]
    source: Annotated[Base64ImageSource | URLImageSource, Field(discriminator="type")]
    cache_control: CacheControl | None = Field(default=None, description="Accepted and ignored.")


class ToolUseBlockParam(_Strict):
    """A call the assistant made in an earlier turn."""

    type: Literal["tool_use"]
    id: str = Field(min_length=1)
    name: str = Field(pattern=TOOL_NAME_PATTERN)
    input: dict[str, Any]
    cache_control: CacheControl | None = Field(default=None, description="Accepted and ignored.")


ToolResultContent = Annotated[TextBlockParam | ImageBlockParam, Field(discriminator="type")]


class ToolResultBlockParam(_Strict):
    """What a tool returned, in the user turn after the call."""

    type: Literal["tool_result"]
    tool_use_id: str = Field(min_length=1)
    content: str | list[ToolResultContent] | None = None
    is_error: bool | None = Field(
        default=None, description="The result text is given to the model prefixed 'Error: '."
    )
    cache_control: CacheControl | None = Field(default=None, description="Accepted and ignored.")


ContentBlockParam = Annotated[
    TextBlockParam | ImageBlockParam | ToolUseBlockParam | ToolResultBlockParam,
    Field(discriminator="type"),
]


class MessageParam(_Strict):
    role: Literal["user", "assistant"]
    content: str | Annotated[list[ContentBlockParam], Field(min_length=1)]


class Tool(_Strict):
    """A client tool (a function the caller runs). Server tools are refused."""

    type: Literal["custom"] | None = None
    name: str = Field(pattern=TOOL_NAME_PATTERN)
    description: str | None = None
    input_schema: dict[str, Any] = Field(description="A JSON schema of the input (an object).")
    cache_control: CacheControl | None = Field(default=None, description="Accepted and ignored.")


class ToolChoiceAuto(_Strict):
    type: Literal["auto"]
    disable_parallel_tool_use: bool | None = None


class ToolChoiceAny(_Strict):
    type: Literal["any"]
    disable_parallel_tool_use: bool | None = None


class ToolChoiceTool(_Strict):
    type: Literal["tool"]
    name: str = Field(pattern=TOOL_NAME_PATTERN)
    disable_parallel_tool_use: bool | None = None


class ToolChoiceNone(_Strict):
    type: Literal["none"]


ToolChoice = Annotated[
    ToolChoiceAuto | ToolChoiceAny | ToolChoiceTool | ToolChoiceNone,
    Field(discriminator="type"),
]


class ThinkingDisabled(_Strict):
    """Only ``{"type": "disabled"}``: extended thinking is refused by the schema."""

    type: Literal["disabled"]


class JSONOutputFormat(_Strict):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    type: Literal["json_schema"]
    schema_: dict[str, Any] = Field(alias="schema", description="The JSON schema of the answer.")


class OutputConfig(_Strict):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    format: JSONOutputFormat | None = Field(
        default=None, description="Structured output: the answer is constrained to the schema."
    )
    effort: None = Field(default=None, description="Refused: there is one effort here.")


class PromptRequest(_Strict):
    """What a prompt is made of: shared by messages and token counting."""

    model: ModelIdStr
    messages: list[MessageParam] = Field(min_length=1)
    system: str | list[TextBlockParam] | None = None
    thinking: ThinkingDisabled | None = Field(
        default=None, description="Only {'type': 'disabled'}; extended thinking is refused."
    )
    tool_choice: ToolChoice | None = None
    tools: list[Tool] | None = Field(default=None, max_length=MAX_TOOLS)
    output_config: OutputConfig | None = None


class MessagesRequest(PromptRequest):
    max_tokens: int = Field(ge=1)
    metadata: dict[str, Any] | None = Field(default=None, description="Accepted and ignored.")
    service_tier: str | None = Field(default=None, description="Accepted and ignored.")
    stop_sequences: list[Annotated[str, Field(min_length=1)]] | None = Field(
        default=None, max_length=MAX_STOP_SEQUENCES
    )
    stream: bool = False
    temperature: float | None = Field(default=None, ge=0.0, le=1.0)
    top_k: int | None = Field(default=None, ge=0, description="0 (or absent) means no limit.")
    top_p: float | None = Field(default=None, ge=0.0, le=1.0)
    keep_alive: float | None = Field(
        default=None,
        description=(
            "Extension: seconds to keep the model loaded after this request "
            "(0 unloads it when the request ends)."
        ),
    )


class CountTokensRequest(PromptRequest):
    pass


class CountTokensResponse(BaseModel):
    input_tokens: int


class TextBlock(BaseModel):
    type: Literal["text"] = "text"
    text: str
    citations: None = None


class ToolUseBlock(BaseModel):
    type: Literal["tool_use"] = "tool_use"
    id: str
    name: str
    input: dict[str, Any]


ContentBlock = Annotated[TextBlock | ToolUseBlock, Field(discriminator="type")]


class Usage(BaseModel):
    input_tokens: int
    output_tokens: int
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = Field(
        default=0, description="Prompt tokens served from the KV prompt cache."
    )


class Message(BaseModel):
    id: str
    type: Literal["message"] = "message"
    role: Literal["assistant"] = "assistant"
    content: list[ContentBlock]
    model: str
    stop_reason: StopReason | None = None
    stop_sequence: str | None = None
    usage: Usage


class ErrorObject(BaseModel):
    type: str
    message: str
    details: dict[str, Any] | None = Field(
        default=None, description="{'error_code': modelyard's code for the error}."
    )


class ErrorResponse(BaseModel):
    type: Literal["error"] = "error"
    error: ErrorObject
    request_id: str | None = None
