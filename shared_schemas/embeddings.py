"""OpenAI embeddings wire types (``POST /v1/embeddings``), fields in the reference's order."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from shared_schemas.model_ids import ModelIdStr
from shared_schemas.openai import _Request

MAX_EMBEDDING_INPUTS = 2048  # OpenAI's limit on the items of one request

Text = Annotated[str, Field(min_length=1)]
TokenIds = Annotated[list[Annotated[int, Field(ge=0)]], Field(min_length=1)]


class EmbeddingRequest(_Request):
    input: (
        Text
        | Annotated[list[Text], Field(min_length=1, max_length=MAX_EMBEDDING_INPUTS)]
        | TokenIds
        | Annotated[list[TokenIds], Field(min_length=1, max_length=MAX_EMBEDDING_INPUTS)]
    ) = Field(
        description="A string, a list of strings, a list of token ids, or a list of such lists "
        f"(at most {MAX_EMBEDDING_INPUTS} items). Token ids are used as given: no special "
        "tokens are added."
    )
    model: ModelIdStr | None = None
    dimensions: int | None = Field(
        default=None,
        ge=1,
        description="Truncate each vector to this many dimensions (and normalise it again); "
        "only for models trained for it (Matryoshka), others answer 400.",
    )
    encoding_format: Literal["float", "base64"] = Field(
        default="float",
        description="'base64': each vector as the base64 of its little-endian float32 bytes.",
    )
    user: str | None = Field(default=None, description="Accepted and ignored.")
    keep_alive: float | None = Field(
        default=None,
        description="Extension: seconds to keep the model loaded after this request "
        "(0 unloads it when the request ends).",
    )

    def texts(self) -> list[str] | None:
        """The inputs when they are texts; ``None`` when they are token ids."""
        value = self.input
        if isinstance(value, str):
            return [value]
        return [v for v in value if isinstance(v, str)] or None

    def token_lists(self) -> list[list[int]]:
        """The inputs when they are token ids, one list per input."""
        value = self.input
        if isinstance(value, str) or not value or isinstance(value[0], str):
            return []
        if isinstance(value[0], int):
            return [[v for v in value if isinstance(v, int)]]
        return [list(v) for v in value if isinstance(v, list)]


class Embedding(BaseModel):
    object: Literal["embedding"] = "embedding"
    embedding: list[float] | str
    index: int


class EmbeddingUsage(BaseModel):
    prompt_tokens: int
    total_tokens: int


class EmbeddingResponse(BaseModel):
    object: Literal["list"] = "list"
    data: list[Embedding]
    model: str
    usage: EmbeddingUsage
