"""``GET /api/system``: the manager's settings that matter to a client, and the inference
server as the manager sees it."""
