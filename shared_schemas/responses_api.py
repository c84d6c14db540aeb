"""OpenAI Responses API wire types: ``POST /v1/responses`` and the response object.

(``responses.py`` beside this module is something else: a JSON response rendered from a
pydantic model.)

Requests are strict about what would change the answer: an unknown field, an input item or a
tool of a kind this server does not run is refused (400 naming it). What cannot change the
answer is accepted and ignored; ``IGNORED_FIELDS`` is the one list of it. ``store`` and
``previous_response_id`` are the manager's (it keeps responses; the inference server keeps
nothing). Fields follow the order of the OpenAI reference.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag

from shared_schemas.model_ids import ModelIdStr

FUNCTION_NAME_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
MAX_TOOLS = 128

IGNORED_FIELDS: Mapping[str, str] = MappingProxyType(
    {
        "user": "an end-user id for a provider's abuse monitoring",
        "safety_identifier": "an end-user id for a provider's abuse monitoring",
        "service_tier": "a provider's processing tier; there is one here",
        "prompt_cache_key": "a routing hint for a provider's prompt cache; the cache here "
        "is automatic",
        "stream_options": "asks for obfuscation padding in stream events; none is added",
    }
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Echoed(BaseModel):
    """Items a client sends back from an earlier answer: extra fields are what that answer
    carried (ids, status, annotations) and cannot change this one."""

    model_config = ConfigDict(extra="ignore")


class InputText(_Echoed):
    type: Literal["input_text"]
    text: str


class OutputText(_Echoed):
    type: Literal["output_text"]
    text: str


class Refusal(_Echoed):
    type: Literal["refusal"]
    refusal: str


class InputImage(_Echoed):
    """Read so that it can be refused by name (400 ``images_not_supported``)."""

    type: Literal["input_image"]


ContentPart = Annotated[InputText | OutputText | Refusal | InputImage, Field(discriminator="type")]


class MessageItem(_Echoed):
    type: Literal["message"] = "message"
    role: Literal["user", "assistant", "system", "developer"]
    content: str | list[ContentPart]

    def text(self) -> str:
        if isinstance(self.content, str):
            return self.content
        return "".join(
            part.refusal if isinstance(part, Refusal) else part.text
            for part in self.content
            if not isinstance(part, InputImage)
        )


class FunctionCallItem(_Echoed):
    type: Literal["function_call"]
    call_id: str = Field(min_length=1)
    name: str = Field(pattern=FUNCTION_NAME_PATTERN)
    arguments: str


class FunctionCallOutputItem(_Echoed):
    type: Literal["function_call_output"]
    call_id: str = Field(min_length=1)
    output: str | list[ContentPart]

    def text(self) -> str:
        if isinstance(self.output, str):
            return self.output
        return MessageItem(role="user", content=self.output).text()


def _item_kind(value: Any) -> str:
    if isinstance(value, dict):
        kind = value.get("type", "message")
        return kind if isinstance(kind, str) else "message"
    return str(getattr(value, "type", "message"))


InputItem = Annotated[
    Annotated[MessageItem, Tag("message")]
    | Annotated[FunctionCallItem, Tag("function_call")]
    | Annotated[FunctionCallOutputItem, Tag("function_call_output")],
    Discriminator(_item_kind),
]


class FunctionTool(_Strict):
    type: Literal["function"]
    name: str = Field(pattern=FUNCTION_NAME_PATTERN)
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = Field(
        default=None,
        description="Forced calls are always constrained to the schema (see tool_choice).",
    )


class FunctionToolChoice(_Strict):
    type: Literal["function"]
    name: str = Field(pattern=FUNCTION_NAME_PATTERN)


ToolChoice = Literal["none", "auto", "required"] | FunctionToolChoice


class FormatText(_Strict):
    type: Literal["text"]


class FormatJSONObject(_Strict):
    type: Literal["json_object"]


class FormatJSONSchema(_Strict):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    type: Literal["json_schema"]
    name: str = Field(min_length=1, max_length=64)
    schema_: dict[str, Any] = Field(alias="schema")
    description: str | None = None
    strict: bool | None = None


TextFormat = Annotated[
    FormatText | FormatJSONObject | FormatJSONSchema, Field(discriminator="type")
]


class TextConfig(_Strict):
    format: TextFormat | None = None


class ResponsesRequest(_Strict):
    model: ModelIdStr
    input: str | Annotated[list[InputItem], Field(min_length=1)]
    instructions: str | None = None
    max_output_tokens: int | None = Field(default=None, ge=1)
    metadata: dict[str, str] | None = Field(default=None, description="Echoed in the answer.")
    parallel_tool_calls: bool | None = None
    previous_response_id: str | None = Field(
        default=None,
        description=(
            "Continue a stored response's conversation. The manager keeps responses; the "
            "inference server alone refuses it."
        ),
    )
    store: bool | None = Field(
        default=None,
        description=(
            "Keep the response (default true), served by the manager. The inference server "
            "keeps nothing and answers store: false."
        ),
    )
    stream: bool = False
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    text: TextConfig | None = None
    tool_choice: ToolChoice | None = None
    tools: list[FunctionTool] | None = Field(default=None, max_length=MAX_TOOLS)
    top_p: float | None = Field(default=None, ge=0.0, le=1.0)
    truncation: Literal["disabled"] | None = Field(
        default=None, description="Only 'disabled': a prompt too long is refused, not cut."
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
    service_tier: str | None = Field(default=None, description="Accepted and ignored.")
    prompt_cache_key: str | None = Field(default=None, description="Accepted and ignored.")
    stream_options: dict[str, Any] | None = Field(default=None, description="Accepted and ignored.")


class OutputTextPart(BaseModel):
    type: Literal["output_text"] = "output_text"
    text: str
    annotations: list[Any] = Field(default_factory=list)
    logprobs: list[Any] = Field(default_factory=list)


class OutputMessage(BaseModel):
    id: str
    type: Literal["message"] = "message"
    status: Literal["in_progress", "completed", "incomplete"] = "completed"
    role: Literal["assistant"] = "assistant"
    content: list[OutputTextPart]


class FunctionCallOutput(BaseModel):
    id: str
    type: Literal["function_call"] = "function_call"
    status: Literal["in_progress", "completed", "incomplete"] = "completed"
    call_id: str
    name: str
    arguments: str


OutputItem = Annotated[OutputMessage | FunctionCallOutput, Field(discriminator="type")]


class InputTokensDetails(BaseModel):
    cached_tokens: int = 0


class OutputTokensDetails(BaseModel):
    reasoning_tokens: int = 0


class ResponseUsage(BaseModel):
    input_tokens: int
    input_tokens_details: InputTokensDetails = Field(default_factory=InputTokensDetails)
    output_tokens: int
    output_tokens_details: OutputTokensDetails = Field(default_factory=OutputTokensDetails)
    total_tokens: int


class IncompleteDetails(BaseModel):
    reason: Literal["max_output_tokens"]


class ResponseError(BaseModel):
    code: str
    message: str


ResponseStatus = Literal["completed", "incomplete", "in_progress", "failed"]


class ResponseObject(BaseModel):
    """The response object; request settings are echoed as OpenAI does."""

    model_config = ConfigDict(populate_by_name=True)

    id: str
    object: Literal["response"] = "response"
    created_at: int
    status: ResponseStatus
    error: ResponseError | None = None
    incomplete_details: IncompleteDetails | None = None
    instructions: str | None = None
    max_output_tokens: int | None = None
    model: str
    output: list[OutputItem] = Field(default_factory=list)
    parallel_tool_calls: bool = True
    previous_response_id: str | None = None
    reasoning: dict[str, Any] = Field(default_factory=lambda: {"effort": None, "summary": None})
    store: bool = False
    temperature: float | None = None
    text: dict[str, Any] = Field(default_factory=lambda: {"format": {"type": "text"}})
    tool_choice: Any = "auto"
    tools: list[dict[str, Any]] = Field(default_factory=list)
    top_p: float | None = None
    truncation: Literal["disabled"] = "disabled"
    usage: ResponseUsage | None = None
    user: str | None = None
    metadata: dict[str, str] = Field(default_factory=dict)


class DeletedResponse(BaseModel):
    id: str
    object: Literal["response"] = "response"
    deleted: Literal[True] = True


class InputItemList(BaseModel):
    object: Literal["list"] = "list"
    data: list[dict[str, Any]]
    first_id: str | None = None
    last_id: str | None = None
    has_more: bool = False
