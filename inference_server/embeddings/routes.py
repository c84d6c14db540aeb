"""``POST /v1/embeddings``: thin; the work is in ``service.py``."""

from __future__ import annotations

from fastapi import APIRouter

from inference_server.deps import EmbeddingDep
from shared_schemas.embeddings import EmbeddingRequest, EmbeddingResponse
from shared_schemas.errors import error_responses

router = APIRouter(tags=["openai"])


@router.post(
    "/v1/embeddings",
    response_model=EmbeddingResponse,
    responses=error_responses(400, 401, 404, 415, 422, 429, 500, 503),
    summary="Embeddings",
    description=(
        "OpenAI-compatible. Input: a string, a list of strings, a list of token ids or a "
        "list of such lists; encoding_format float or base64; dimensions for models trained "
        "for shortened embeddings (Matryoshka). Pooling and normalisation follow the model's "
        "sentence-transformers files. A model that is not an embedding model answers 400 "
        "not_an_embedding_model."
    ),
)
async def embeddings(body: EmbeddingRequest, service: EmbeddingDep) -> EmbeddingResponse:
    return await service.embed(body)
