"""A fake Hugging Face Hub on 127.0.0.1, faithful to the protocol ``huggingface_hub`` speaks.

Tests and benchmarks of Hub search, model details, variants and downloads run against it::

    hub = FakeHub(valid_tokens={"hf_test"})
    hub.add_tiny_model("org/tiny-mlx", downloads=10)
    hub.add_repo("org/notes", {"README.md": b"---\\nlicense: mit\\n---\\n# Notes\\n"})
    hub.add_big_file("org/big", "model.safetensors", 500 * 1024 * 1024, seed=1)
    with hub.serve() as url:
        HfApi(endpoint=url).model_info("org/tiny-mlx", files_metadata=True)
        hf_hub_download("org/tiny-mlx", "config.json", endpoint=url, cache_dir=tmp)

``huggingface_hub`` reads ``HF_ENDPOINT`` and ``HF_HUB_OFFLINE`` once, at import, into
``huggingface_hub.constants`` (``ENDPOINT``, ``HF_HUB_OFFLINE``); pass ``endpoint=url`` and
set ``constants.HF_HUB_OFFLINE`` rather than the environment. Set ``HF_HUB_DISABLE_XET=1``:
this Hub never sends ``X-Xet-*`` headers or ``xetHash``, so plain HTTP is used anyway.

Routes (repo ids are ``name`` or ``org/name``; revisions are branches or commit ids):

- ``GET /api/models?search=&author=&filter=&sort=&direction=&limit=&expand=&full=&config=``
  (``filter`` and ``expand`` repeat; pages follow ``Link: <...>; rel="next"``);
- ``GET /api/models/{repo}[/revision/{rev}]?blobs=&expand=``;
- ``GET /api/models/{repo}/refs`` (every ref is a branch);
- ``GET /api/models/{repo}/tree/{rev}[/{path}]?recursive=&expand=`` and
  ``POST /api/models/{repo}/paths-info/{rev}`` (form ``paths``, ``expand``);
- ``HEAD``/``GET /{repo}/resolve/{rev}/{path}`` with ``Range``; headers ``X-Repo-Commit``,
  ``ETag``, ``X-Linked-Etag`` / ``X-Linked-Size`` (LFS), ``Accept-Ranges``;
- errors: JSON ``{"error": ...}`` with ``X-Error-Code`` ``RepoNotFound``,
  ``RevisionNotFound``, ``EntryNotFound`` (404) or ``GatedRepo`` (401 without a token, 403
  with a token not in ``valid_tokens``; gating applies to ``resolve`` only, as on the Hub);
- control: ``POST /_fake/faults`` (a JSON object of ``FakeHub.set_fault`` arguments, or a
  list of them), ``GET``/``DELETE /_fake/faults``, ``GET /_fake/stats``, ``POST /_fake/reset``
  (faults and statistics).

Run it by hand: ``python -m modelyard_dev.fake_hub --tiny-model org/tiny-mlx``.
"""

from modelyard_dev.fake_hub.content import BLOCK_SIZE, FakeFile, generated_bytes
from modelyard_dev.fake_hub.faults import FAULT_KINDS, ApiCall, Fault, FileStats, HubStats
from modelyard_dev.fake_hub.hub import FakeHub, RunningHub
from modelyard_dev.fake_hub.repos import FakeCommit, FakeRepo

__all__ = [
    "BLOCK_SIZE",
    "FAULT_KINDS",
    "ApiCall",
    "FakeCommit",
    "FakeFile",
    "FakeHub",
    "FakeRepo",
    "Fault",
    "FileStats",
    "HubStats",
    "RunningHub",
    "generated_bytes",
]
