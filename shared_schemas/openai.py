"""OpenAI wire types: requests, responses, stream chunks, model list.

Requests are strict about what would change the answer: a field this server does not
implement is refused (400 ``unsupported_parameter`` naming it), and so is a value it cannot
honour (``n`` above 1, ``best_of``, ``suffix``...). Fields that cannot change the answer are
accepted and ignored; ``IGNORED_FIELDS`` is the one list of them (documented in README).
Message objects stay tolerant of what clients echo back from earlier answers (``refusal``,
``annotations``...). Fields follow the order of the OpenAI reference.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import PydanticCustomError

from shared_schemas.content import ImageURL, ImageURLContentPart
from shared_schemas.model_ids import ModelIdStr

MAX_STOP_SEQUENCES = 4
MAX_TOOLS = 128
LOGIT_BIAS_LIMIT = 100.0
FUNCTION_NAME_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"

# Request fields accepted and ignored, with why ignoring them cannot change the answer.
IGNORED_FIELDS: Mapping[str, str] = MappingProxyType(
    {
        "user": "an end-user id for a provider's abuse monitoring",
        "safety_identifier": "an end-user id for a provider's abuse monitoring",
        "metadata": "tags for stored completions; nothing is stored",
        "store": "asks a provider to store the completion; nothing is stored",
        "service_tier": "a provider's processing tier; there is one here",
        "prompt_cache_key": "a routing hint for a provider's prompt cache; the cache here "
        "is automatic",
    }
)


def _unsupported(message: str) -> PydanticCustomError:
    return PydanticCustomError("unsupported_parameter", message)


def _lone_surrogate(value: Any, path: str) -> str | None:
    """The path of the first string (or key) in ``value`` that is not valid Unicode."""
    if isinstance(value, str):
        if value.isascii():
            return None
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return path or "body"
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if isinstance(key, str) and _lone_surrogate(key, path) is not None:
                return where
            found = _lone_surrogate(item, where)
            if found is not None:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = _lone_surrogate(item, f"{path}.{index}")
            if found is not None:
                return found
    return None


class _Request(BaseModel):
    """A request body: unknown fields are refused (``extra_forbidden`` is answered as 400
    ``unsupported_parameter``), and text must be valid Unicode (a lone surrogate such as
    ``"\\ud800"`` cannot be tokenized)."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _valid_unicode(cls, data: Any) -> Any:
        where = _lone_surrogate(data, "")
        if where is not None:
            raise PydanticCustomError(
                "invalid_unicode",
                "{where}: the text holds a lone UTF-16 surrogate, which is not valid Unicode",
                {"where": where[:200]},
            )
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


class FunctionCall(BaseModel):
    """A call the model made: the function's name and its arguments as JSON text."""

    name: str
    arguments: str


class ToolCall(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: str
    type: Literal["function"] = "function"
    function: FunctionCall


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[ContentPart] | None = None
    name: str | None = None
    tool_calls: list[ToolCall] | None = Field(
        default=None, description="Calls an assistant message made (earlier turns)."
    )
    tool_call_id: str | None = Field(
        default=None, description="The call a tool message answers (required for role tool)."
    )

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


class FunctionDefinition(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=FUNCTION_NAME_PATTERN)
    description: str | None = None
    parameters: dict[str, Any] | None = Field(
        default=None, description="A JSON schema of the arguments (an object)."
    )
    strict: bool | None = Field(
        default=None,
        description=(
            "Calls are always constrained to the schema when tool_choice is 'required' or "
            "names a function; with 'auto', every call the model starts is."
        ),
    )


class Tool(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["function"] = "function"
    function: FunctionDefinition


class ToolChoiceFunction(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=FUNCTION_NAME_PATTERN)


class NamedToolChoice(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["function"] = "function"
    function: ToolChoiceFunction


ToolChoice = Literal["none", "auto", "required"] | NamedToolChoice


class JSONSchemaFormat(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    name: str = Field(min_length=1, max_length=64)
    description: str | None = None
    schema_: dict[str, Any] | None = Field(
        default=None, alias="schema", description="The JSON schema the answer follows."
    )
    strict: bool | None = Field(
        default=None, description="The output is always constrained to the schema."
    )


class TextFormat(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["text"]


class JSONObjectFormat(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["json_object"]


class JSONSchemaResponseFormat(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["json_schema"]
    json_schema: JSONSchemaFormat


ResponseFormat = Annotated[
    TextFormat | JSONObjectFormat | JSONSchemaResponseFormat, Field(discriminator="type")
]


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


def _one_choice(n: int) -> int:
    if n > 1:
        raise _unsupported("n > 1 is not supported; send the request n times (they batch)")
    return n


def _bias_keys(bias: dict[str, float] | None) -> dict[str, float] | None:
    if bias is None:
        return None
    for key in bias:
        if not key.isdigit() or len(key) > 9:
            raise ValueError(f"logit_bias keys are token ids (non-negative integers), not {key!r}")
    return bias


LogitBias = Annotated[
    dict[str, Annotated[float, Field(ge=-LOGIT_BIAS_LIMIT, le=LOGIT_BIAS_LIMIT)]] | None,
    AfterValidator(_bias_keys),
]


class _SamplingFields(_Request):
    """Fields shared by chat and legacy completions."""

    model: ModelIdStr | None = None
    frequency_penalty: float | None = Field(
        default=None,
        ge=-2.0,
        le=2.0,
        description="Applied with mlx-lm's repetition-style logits processor.",
    )
    logit_bias: LogitBias = Field(
        default=None,
        max_length=1024,
        description="Token id (as a string) -> bias from -100 to 100, added to its logit.",
    )
    max_tokens: int | None = Field(default=None, ge=1)
    n: Annotated[
        int,
        AfterValidator(_one_choice),
        WithJsonSchema({"type": "integer", "minimum": 1, "maximum": 1}),
    ] = Field(default=1, description="Only n=1 is supported; larger values are refused.")
    presence_penalty: float | None = Field(
        default=None,
        ge=-2.0,
        le=2.0,
        description="Applied with mlx-lm's presence logits processor.",
    )
    response_format: ResponseFormat | None = Field(
        default=None,
        description=(
            "json_object or json_schema: the output is constrained token by token to JSON "
            "(that schema), with compact whitespace."
        ),
    )
    seed: int | None = Field(
        default=None, description="Any integer; the server uses it modulo 2**64."
    )
    stop: Stop | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    top_p: float | None = Field(default=None, ge=0.0, le=1.0)
    format: Literal["json"] | dict[str, Any] | None = Field(
        default=None,
        description="Ollama's field, a synonym of response_format: 'json' or a JSON schema.",
    )
    keep_alive: float | None = Field(
        default=None,
        description=(
            "Extension: seconds to keep the model loaded after this request "
            "(0 unloads it when the request ends)."
        ),
    )
    # Accepted and ignored (IGNORED_FIELDS says why).
    user: str | None = Field(default=None, description="Accepted and ignored.")
    safety_identifier: str | None = Field(default=None, description="Accepted and ignored.")
    metadata: dict[str, str] | None = Field(default=None, description="Accepted and ignored.")
    store: bool | None = Field(default=None, description="Accepted and ignored.")
    service_tier: str | None = Field(default=None, description="Accepted and ignored.")
    prompt_cache_key: str | None = Field(default=None, description="Accepted and ignored.")

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
    tools: list[Tool] | None = Field(default=None, max_length=MAX_TOOLS)
    tool_choice: ToolChoice | None = Field(
        default=None,
        description=(
            "auto (the default with tools), none (tools left out of the prompt), required or "
            "a named function (both enforced by constrained decoding)."
        ),
    )
    parallel_tool_calls: bool | None = Field(
        default=None, description="false: at most one call per answer (default true)."
    )

    def token_limit(self) -> int | None:
        return self.max_completion_tokens or self.max_tokens

    def images(self) -> list[ImageURL]:
        """Every image of the conversation, in order."""
        return [image for message in self.messages for image in message.images()]


def _no_suffix(value: str | None) -> str | None:
    if value:
        raise _unsupported("suffix (fill in the middle) is not supported")
    return value


def _one_best(value: int | None) -> int | None:
    if value is not None and value > 1:
        raise _unsupported("best_of > 1 is not supported")
    return value


def _no_legacy_logprobs(value: int | None) -> int | None:
    if value is not None:
        raise _unsupported(
            "logprobs on legacy completions is not supported; chat completions return them"
        )
    return value


class CompletionRequest(_SamplingFields):
    prompt: Prompt = Field(description="A string (or a list holding exactly one string).")
    best_of: Annotated[
        int | None,
        AfterValidator(_one_best),
        WithJsonSchema(
            {"anyOf": [{"type": "integer", "minimum": 1, "maximum": 1}, {"type": "null"}]}
        ),
    ] = Field(default=None, description="Only 1 is supported; larger values are refused.")
    echo: bool = False
    logprobs: Annotated[
        int | None, AfterValidator(_no_legacy_logprobs), WithJsonSchema({"type": "null"})
    ] = Field(default=None, description="Not supported on legacy completions (refused).")
    suffix: Annotated[
        str | None,
        AfterValidator(_no_suffix),
        WithJsonSchema({"anyOf": [{"type": "string", "maxLength": 0}, {"type": "null"}]}),
    ] = Field(default=None, description="Not supported (refused when not empty).")

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


FinishReason = Literal["stop", "length", "tool_calls"]


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str | None = None
    tool_calls: list[ToolCall] | None = None


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


class FunctionCallDelta(BaseModel):
    name: str | None = None
    arguments: str | None = None


class ToolCallDelta(BaseModel):
    """A piece of a streamed call: index, id, type and name first, then argument text."""

    index: int
    id: str | None = None
    type: Literal["function"] | None = None
    function: FunctionCallDelta


class ChatDelta(BaseModel):
    role: Literal["assistant"] | None = None
    content: str | None = None
    tool_calls: list[ToolCallDelta] | None = None


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


#: ``not_visible_to_inference``: on the manager's disk, in a folder the inference server does
#: not read (see ``GET /ready`` and ``GET /api/system`` on the manager).
ModelState = Literal["loaded", "loading", "not-loaded", "unknown", "not_visible_to_inference"]
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
    capabilities: list[str] | None = Field(
        default=None,
        description=(
            "What the model can be asked for here, e.g. chat, completion, tools, json_schema, "
            "logprobs (from its chat template and the server's features)."
        ),
    )
    hosts: dict[str, ModelState] | None = Field(
        default=None,
        description="With several inference servers behind the manager: the model's state on "
        "each, by server URL (`state` is the best of them).",
    )


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]
