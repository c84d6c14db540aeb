"""The library registry: what the disk cannot tell about a model.

One row per model id seen on disk: when it was first seen, when it was last served, where an
import came from, and its characteristics with the hash of the config they were read from
(a row whose hash no longer matches the disk is refreshed). The disk stays the truth: rows
of models that left the disk are removed on the next scan.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Float, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from manager.database import Base


class LibraryRecord(Base):
    __tablename__ = "library_models"

    model_id: Mapped[str] = mapped_column(String(256), primary_key=True)
    source: Mapped[str] = mapped_column(String(16))
    added_at: Mapped[float] = mapped_column(Float)
    last_used_at: Mapped[float | None] = mapped_column(Float, default=None)
    import_origin: Mapped[str | None] = mapped_column(Text, default=None)
    import_mode: Mapped[str | None] = mapped_column(String(8), default=None)
    config_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    characteristics: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
