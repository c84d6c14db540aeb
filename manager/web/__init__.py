"""The web UI: static files served by the manager at ``/`` (see ``ui.py``)."""
