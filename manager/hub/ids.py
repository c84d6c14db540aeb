"""Model ids as the Hub routes read them: the shared grammar
(:mod:`shared_schemas.model_ids`), refused with the manager's 400 ``invalid_request``.

A Hub id is ``name`` or ``org/name``; a local id is ``local/<name>``. Anything else is
refused with :class:`~manager.errors.BadRequestError` naming ``model_id``.
"""

from __future__ import annotations

from manager.errors import BadRequestError
from shared_schemas.model_ids import InvalidModelId, ModelId

__all__ = ["ModelId", "parse_hub_id", "parse_model_id"]


def _bad(error: InvalidModelId) -> BadRequestError:
    return BadRequestError(
        str(error),
        param="model_id",
        details={"model_id": error.shown},
        resolution_steps=["Use a Hub id such as 'org/name', or 'local/<name>'."],
    )


def parse_model_id(model_id: str) -> ModelId:
    """Check ``model_id`` and split it; raises BadRequestError (400) when it is not valid."""
    try:
        return ModelId.parse(model_id)
    except InvalidModelId as exc:
        raise _bad(exc) from None


def parse_hub_id(model_id: str) -> ModelId:
    """A Hub id (``local/...`` is refused: imported models are not on the Hub)."""
    parsed = parse_model_id(model_id)
    if parsed.is_local:
        raise _bad(InvalidModelId(model_id, "'local/' models are not on the Hub"))
    return parsed
