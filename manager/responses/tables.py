"""Stored Responses API answers: one row per response the client asked to keep.

``response`` is the response object as it was answered; ``context`` is the whole
conversation it answered (the input items of every earlier turn, their outputs, and this
request's input), so a follow-up (``previous_response_id``) is one row read, and deleting a
response never breaks one that followed it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Float, String
from sqlalchemy.orm import Mapped, mapped_column

from manager.database import Base


class StoredResponse(Base):
    __tablename__ = "responses"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[float] = mapped_column(Float, index=True)
    model: Mapped[str] = mapped_column(String(256))
    response: Mapped[dict[str, Any]] = mapped_column(JSON)
    context: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
