"""What to say when the inference server cannot find a model that the library lists.

The inference server answers 404 ``model_not_found`` for a model it does not see, with advice
to download it. When the manager has that model on its disk, in a folder the inference server
does not read (the ``not_visible_to_inference`` state of ``/v1/models``), downloading it again
would change nothing: the answer names the folders each process reads and how to make them
agree. Used by the chat and completion proxy and by loads through the manager.
"""

from __future__ import annotations

import json
from typing import Any

from manager.errors import ModelNotVisibleError
from manager.inference_watch import InferenceView
from manager.library.scan import ScannedModel
from shared_schemas.storage import MISMATCH_ADVICE

_FOLDER_OF_SOURCE = {"hub": "hf_cache", "imported": "models"}


def is_model_not_found(answer: Any) -> bool:
    """Whether an inference server's error body is its ``model_not_found`` envelope."""
    if isinstance(answer, bytes | str):
        try:
            answer = json.loads(answer)
        except ValueError:
            return False
    error = answer.get("error") if isinstance(answer, dict) else None
    return isinstance(error, dict) and error.get("code") == "model_not_found"


def requested_model(body: bytes) -> str | None:
    """The ``model`` field of a JSON request body, if there is one."""
    try:
        request = json.loads(body)
    except ValueError:
        return None
    model = request.get("model") if isinstance(request, dict) else None
    return model if isinstance(model, str) else None


def not_visible_error(
    model: ScannedModel | None, view: InferenceView
) -> ModelNotVisibleError | None:
    """The error for a model the inference server did not find, when the reason is that it
    lies in a folder of the library the server does not read; None otherwise."""
    if model is None or model.source not in view.hidden_sources:
        return None
    folder = _FOLDER_OF_SOURCE[model.source]
    reasons = [m.message for m in view.mismatches if m.folder == folder]
    return ModelNotVisibleError(
        f"The model '{model.id}' is in the manager's library, but the inference server does "
        f"not read the folder it is in: {'; '.join(reasons)}. The two processes read "
        "different folders.",
        param="model",
        details={"model": model.id, "mismatches": view.mismatch_messages()},
        resolution_steps=[
            MISMATCH_ADVICE,
            "Restart both processes; GET /ready (check 'storage') and GET /api/system "
            "('inference.mismatches') say whether they agree.",
        ],
    )
