"""What both processes run besides their own code: the error handlers and middleware, the
Host and Origin checks, request context and logs, the HTTP protocol bounds and the server
start-up, ``--help`` for settings, JSON responses rendered from models, SSE declarations.

Both processes import it; it imports ``shared_schemas`` (the wire types) and neither process.
"""
