"""Registry reads and writes, and the library's filters and sort orders (pure)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from pydantic import BaseModel, Field
from sqlalchemy import Insert, delete, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from manager.library.scan import ScannedModel
from manager.library.schemas import LibrarySort, LocalModel, ModelFormat
from manager.library.tables import LibraryRecord
from shared_schemas.characteristics import ModelCharacteristics


@dataclass(frozen=True)
class RecordView:
    model_id: str
    source: str
    added_at: float
    last_used_at: float | None
    import_origin: str | None
    import_mode: str | None
    config_hash: str | None


_COLUMNS = (
    LibraryRecord.model_id,
    LibraryRecord.source,
    LibraryRecord.added_at,
    LibraryRecord.last_used_at,
    LibraryRecord.import_origin,
    LibraryRecord.import_mode,
    LibraryRecord.config_hash,
)


async def load_records(session: AsyncSession) -> dict[str, RecordView]:
    rows = (await session.execute(select(*_COLUMNS))).all()
    return {row[0]: RecordView(*row) for row in rows}


async def load_characteristics(session: AsyncSession) -> dict[str, ModelCharacteristics]:
    """Characteristics kept in the registry, by config hash."""
    query = select(LibraryRecord.config_hash, LibraryRecord.characteristics).where(
        LibraryRecord.config_hash.is_not(None), LibraryRecord.characteristics.is_not(None)
    )
    out: dict[str, ModelCharacteristics] = {}
    for key, data in (await session.execute(query)).all():
        if key and isinstance(data, dict):
            out[key] = ModelCharacteristics.model_validate(data)
    return out


async def sync_records(
    session: AsyncSession,
    models: Iterable[ScannedModel],
    records: Mapping[str, RecordView],
    now: float,
) -> bool:
    """Make the registry match the disk: rows for new models, none for gone ones, fresh
    characteristics where the config changed. Returns whether anything was written."""
    on_disk = {m.id: m for m in models}
    new = [m for m in on_disk.values() if m.id not in records]
    gone = [model_id for model_id in records if model_id not in on_disk]
    changed = [
        m
        for m in on_disk.values()
        if m.id in records and records[m.id].config_hash != m.config_hash
    ]
    if new:
        await session.execute(
            _insert_new_only(session),
            [
                {
                    "model_id": m.id,
                    "source": m.source,
                    "added_at": min(now, m.modified_at) if m.modified_at > 0 else now,
                    "config_hash": m.config_hash,
                    "characteristics": m.characteristics_dict,
                }
                for m in new
            ],
        )
    if gone:
        await session.execute(delete(LibraryRecord).where(LibraryRecord.model_id.in_(gone)))
    for m in changed:
        await session.execute(
            update(LibraryRecord)
            .where(LibraryRecord.model_id == m.id)
            .values(config_hash=m.config_hash, characteristics=m.characteristics_dict)
        )
    return bool(new or gone or changed)


def _insert_new_only(session: AsyncSession) -> Insert:
    """An INSERT that skips rows already there: managers sharing a database register the
    models of their shared disk at the same time."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(LibraryRecord).on_conflict_do_nothing()
    if dialect == "sqlite":
        return sqlite.insert(LibraryRecord).on_conflict_do_nothing()
    return insert(LibraryRecord)


async def record_import(
    session: AsyncSession, model_id: str, origin: str, mode: str, now: float
) -> None:
    """Note where an import came from (the row is created or replaced)."""
    await session.execute(delete(LibraryRecord).where(LibraryRecord.model_id == model_id))
    await session.execute(
        insert(LibraryRecord).values(
            model_id=model_id,
            source="imported",
            added_at=now,
            import_origin=origin,
            import_mode=mode,
        )
    )


async def delete_record(session: AsyncSession, model_id: str) -> None:
    await session.execute(delete(LibraryRecord).where(LibraryRecord.model_id == model_id))


async def set_last_used(session: AsyncSession, used: Mapping[str, float]) -> None:
    for model_id, when in used.items():
        await session.execute(
            update(LibraryRecord)
            .where(LibraryRecord.model_id == model_id)
            .values(last_used_at=when)
        )


# ---- filters and sort orders (pure) ---------------------------------------------------------


class LibraryQuery(BaseModel):
    """Filters of ``GET /api/models/local``; every filter is optional."""

    q: str | None = Field(
        default=None, max_length=200, description="Case-insensitive substring of the id."
    )
    family: str | None = Field(
        default=None, max_length=64, description="Architecture family, e.g. Llama, Qwen."
    )
    format: ModelFormat | None = None
    multimodal: bool | None = None
    quant_bits: int | None = Field(
        default=None, ge=0, le=32, description="Quantization bits; 0 for unquantized models."
    )
    sort: LibrarySort = "name"


def matches(model: LocalModel, query: LibraryQuery) -> bool:
    ch = model.characteristics
    if query.q and query.q.lower() not in model.id.lower():
        return False
    if query.family and ch.architecture_family.lower() != query.family.lower():
        return False
    if query.format and model.format != query.format:
        return False
    if query.multimodal is not None and ch.is_multimodal != query.multimodal:
        return False
    return query.quant_bits is None or (ch.quantization_bits or 0) == query.quant_bits


def _sort_key(model: LocalModel, field: str) -> tuple[bool, float | str]:
    if field == "size":
        return False, model.size_bytes
    if field == "added":
        return model.added_at is None, model.added_at or 0.0
    if field == "last_used":
        return model.last_used_at is None, model.last_used_at or 0.0
    return False, model.id.lower()


def select_models(models: Iterable[LocalModel], query: LibraryQuery) -> list[LocalModel]:
    """The models that pass the filters, in the requested order (unknown times last)."""
    kept = [m for m in models if matches(m, query)]
    field = query.sort.lstrip("-")
    descending = query.sort.startswith("-")
    kept.sort(key=lambda m: m.id.lower())
    if field == "name":
        return kept[::-1] if descending else kept
    known = [m for m in kept if not _sort_key(m, field)[0]]
    unknown = [m for m in kept if _sort_key(m, field)[0]]
    known.sort(key=lambda m: _sort_key(m, field)[1], reverse=descending)
    return known + unknown
