"""The manager's schema migrations (Alembic), applied at start-up by ``upgrade.py``.

``versions/`` holds one file per schema change, oldest first; ``env.py`` is what Alembic runs
with the connection it is given. To add a change after editing a table module, let Alembic
write the file from the difference: ``python -m manager.migrations revision "what changed"``.
"""
