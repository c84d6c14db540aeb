"""The ``modelyard`` command line: a client of the manager's REST API."""
