"""``python -m manager.migrations revision "what changed"``: write the next migration file.

A scratch SQLite database is brought to the newest revision, then Alembic compares it with
the tables the code declares and writes the difference as ``versions/NNNN_<slug>.py``.
Read the file before committing it: Alembic cannot tell a rename from a drop and an add,
and a new NOT NULL column on a table with rows needs a ``server_default``.
"""

from __future__ import annotations

import argparse
import re
import tempfile
from pathlib import Path

from alembic import command
from sqlalchemy import create_engine

from manager.migrations.upgrade import alembic_config, head_revision


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m manager.migrations")
    sub = parser.add_subparsers(dest="command", required=True)
    revision = sub.add_parser("revision", help="write the next migration from the difference")
    revision.add_argument("message")
    args = parser.parse_args(argv)

    next_id = f"{int(head_revision()) + 1:04d}"
    slug = re.sub(r"[^a-z0-9]+", "_", args.message.lower()).strip("_")[:40]
    with tempfile.TemporaryDirectory() as scratch:
        engine = create_engine(f"sqlite:///{Path(scratch) / 'scratch.db'}")
        with engine.begin() as connection:
            command.upgrade(alembic_config(connection), "head")
            config = alembic_config(connection)
            config.set_main_option("file_template", f"%%(rev)s_{slug}")
            script = command.revision(config, args.message, autogenerate=True, rev_id=next_id)
        engine.dispose()
    paths = [s.path for s in (script if isinstance(script, list) else [script]) if s is not None]
    for path in paths:
        print(f"review {path}, then: ruff check --fix {path} && ruff format {path}")


if __name__ == "__main__":
    main()
