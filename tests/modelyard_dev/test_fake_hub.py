"""The fake Hub against the real ``huggingface_hub`` client, and its faults over plain HTTP."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from huggingface_hub import HfApi, constants, hf_hub_download, snapshot_download
from huggingface_hub.errors import (
    GatedRepoError,
    RemoteEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from modelyard_dev.fake_hub import BLOCK_SIZE, FakeHub, generated_bytes
from modelyard_dev.fake_hub.__main__ import parse_big, parse_size
from modelyard_dev.tiny_model import TINY, git_blob_sha1, install_in_cache, model_files

TOKEN = "hf_valid_token"
BIG_SIZE = 11 * 1024 * 1024 + 17  # more than one of huggingface_hub's 10 MiB read chunks
README = b"---\nlicense: mit\nbase_model: org/base\nbase_model_relation: quantized\n---\n# Notes\n"
NOTES = {
    "README.md": README,
    "config.json": b'{"model_type": "llama", "max_position_embeddings": 4096}',
    "docs/guide.txt": b"guide " * 400,  # 2400 bytes: LFS by size
    "docs/deep/note.txt": b"deep",
    "weights.gguf": b"GGUF" + bytes(60),  # LFS by suffix
}


@pytest.fixture(scope="module")
def hub() -> FakeHub:
    hub = FakeHub(valid_tokens={TOKEN}, page_size=2)
    hub.add_tiny_model("org/tiny-mlx", downloads=50, likes=3, trending_score=7)
    hub.add_repo(
        "org/notes",
        NOTES,
        downloads=10,
        likes=9,
        tags=["custom"],
        last_modified="2024-05-01T00:00:00.000Z",
        created_at="2023-01-01T00:00:00.000Z",
    )
    hub.add_commit("org/notes", {"README.md": b"old"}, revision="v1")
    hub.add_repo(
        "mlx-community/base-4bit",
        {"config.json": b"{}", "model.safetensors": b"\0" * 16},
        tags=["mlx", "base_model:quantized:org/Base"],
        downloads=30,
        created_at="2025-01-01T00:00:00.000Z",
    )
    hub.add_repo("gpt2", {"config.json": b'{"model_type": "gpt2"}'}, downloads=1, likes=100)
    hub.add_repo("org/gated", {"config.json": b"{}"}, gated=True)
    hub.add_big_file("org/big", "model.safetensors", BIG_SIZE, seed=5)
    return hub


@pytest.fixture(scope="module")
def url(hub: FakeHub) -> Iterator[str]:
    with hub.serve() as base_url:
        yield base_url


@pytest.fixture(autouse=True)
def _online(monkeypatch: pytest.MonkeyPatch, hub: FakeHub) -> Iterator[None]:
    # huggingface_hub reads these once at import; conftest.py turns offline mode on for the suite.
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")
    monkeypatch.delenv("HF_TOKEN", raising=False)
    hub.reset_faults()
    hub.reset_stats()
    yield
    hub.reset_faults()


@pytest.fixture
def api(url: str) -> HfApi:
    return HfApi(endpoint=url, token=False)


@pytest.fixture
def client(url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=url, timeout=10) as c:
        yield c


def _wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ---------------------------------------------------------------------------------------------
# Model info, search, trees through huggingface_hub


def test_model_info_with_files_metadata(api: HfApi, hub: FakeHub) -> None:
    files = model_files(TINY, 0)
    info = api.model_info("org/tiny-mlx", files_metadata=True)

    assert info.id == "org/tiny-mlx"
    assert info.author == "org"
    assert info.sha == hub.repo("org/tiny-mlx").sha
    assert info.library_name == "mlx"
    assert info.pipeline_tag == "text-generation"
    assert {"mlx", "safetensors", "llama", "text-generation"} <= set(info.tags or [])
    assert info.downloads == 50 and info.likes == 3 and info.gated is False
    assert info.safetensors is not None and info.safetensors.total == TINY.parameter_count()
    assert info.config is not None
    assert info.config["model_type"] == "llama"
    assert info.config["tokenizer_config"]["eos_token"] == "<|end|>"
    assert "hidden_size" not in info.config  # the Hub repeats only a few keys
    siblings = {s.rfilename: s for s in info.siblings or []}
    assert set(siblings) == set(files)
    for name, data in files.items():
        sibling = siblings[name]
        assert sibling.size == len(data)
        if name == "model.safetensors":
            assert sibling.lfs is not None and sibling.lfs.sha256 == _sha256(data)
            assert sibling.lfs.size == len(data)
        else:
            assert sibling.lfs is None
            assert sibling.blob_id == git_blob_sha1(data)


def test_model_info_card_revisions_and_errors(api: HfApi, hub: FakeHub) -> None:
    info = api.model_info("org/notes")
    assert info.card_data is not None and info.card_data["license"] == "mit"
    assert {"custom", "license:mit", "gguf", "base_model:quantized:org/base"} <= set(
        info.tags or []
    )
    assert info.siblings is not None and info.siblings[0].size is None  # no blobs=true

    old = api.model_info("org/notes", revision="v1", files_metadata=True)
    assert [s.rfilename for s in old.siblings or []] == ["README.md"]
    assert old.sha != info.sha
    assert api.model_info("org/notes", revision=old.sha or "").sha == old.sha
    assert api.model_info("gpt2").author is None

    refs = api.list_repo_refs("org/notes")
    assert {(b.name, b.target_commit) for b in refs.branches} == {
        ("main", info.sha),
        ("v1", old.sha),
    }

    with pytest.raises(RepositoryNotFoundError):
        api.model_info("org/missing")
    with pytest.raises(RevisionNotFoundError):
        api.model_info("org/notes", revision="nope")
    assert api.model_info("org/gated").gated == "auto"


def test_list_models_search_filter_sort(api: HfApi) -> None:
    ids = [m.id for m in api.list_models(sort="downloads")]
    assert ids == [
        "org/tiny-mlx",
        "mlx-community/base-4bit",
        "org/notes",
        "gpt2",
        "org/gated",
        "org/big",
    ]
    assert [m.id for m in api.list_models(sort="likes", limit=2)] == ["gpt2", "org/notes"]
    assert [m.id for m in api.list_models(sort="created_at", limit=1)] == [
        "mlx-community/base-4bit"
    ]
    assert [m.id for m in api.list_models(sort="last_modified", limit=1)] == ["org/notes"]
    assert [m.id for m in api.list_models(sort="trending_score", limit=1)] == ["org/tiny-mlx"]

    assert [m.id for m in api.list_models(search="TINY")] == ["org/tiny-mlx"]
    assert {m.id for m in api.list_models(author="org")} == {
        "org/tiny-mlx",
        "org/notes",
        "org/gated",
        "org/big",
    }
    variants = api.list_models(filter=["base_model:quantized:org/Base", "mlx"])
    assert [m.id for m in variants] == ["mlx-community/base-4bit"]
    assert list(api.list_models(filter=["base_model:quantized:org/base", "mlx"])) == []  # case
    assert [m.id for m in api.list_models(filter="gguf")] == ["org/notes"]

    (item,) = api.list_models(search="tiny", fetch_config=True)
    assert item.config is not None and item.config["model_type"] == "llama"
    (item,) = api.list_models(search="tiny")
    assert item.config is None and item.siblings is None
    assert item.sha is not None and item.downloads == 50 and item.last_modified is not None
    (item,) = api.list_models(search="tiny", expand=["downloads", "siblings"])
    assert item.downloads == 50 and item.likes is None and item.sha is None
    assert item.siblings is not None and len(item.siblings) == len(model_files(TINY, 0))


def test_private_repo_is_hidden_without_a_token(url: str, hub: FakeHub) -> None:
    hub.add_repo("org/secret", {"config.json": b"{}"}, private=True, pipeline_tag="text-generation")
    try:
        anonymous = HfApi(endpoint=url, token=False)
        with pytest.raises(RepositoryNotFoundError):
            anonymous.model_info("org/secret")
        assert "org/secret" not in {m.id for m in anonymous.list_models()}
        assert HfApi(endpoint=url, token=TOKEN).model_info("org/secret").private is True
        with httpx.Client(base_url=url) as client:
            response = client.head("/org/secret/resolve/main/config.json")
            assert (response.status_code, response.headers["x-error-code"]) == (401, "RepoNotFound")
        assert [m.id for m in anonymous.list_models(pipeline_tag="text-generation")] == [
            "org/tiny-mlx"
        ]
    finally:
        hub.remove_repo("org/secret")


def test_list_models_follows_link_pages(api: HfApi, hub: FakeHub) -> None:
    everything = [m.id for m in api.list_models()]
    assert len(everything) == len(hub.repos) == 6
    calls = hub.stats.api("/api/models")
    assert len(calls) == 3  # page_size=2
    assert [len(c.params("cursor")) for c in calls] == [0, 1, 1]

    hub.reset_stats()
    assert len(list(api.list_models(limit=3))) == 3
    assert len(hub.stats.api("/api/models")) == 2


def test_list_models_over_plain_http(client: httpx.Client) -> None:
    response = client.get("/api/models", params={"limit": 1, "sort": "downloads"})
    assert response.status_code == 200
    assert [m["id"] for m in response.json()] == ["org/tiny-mlx"]
    assert 'rel="next"' in response.headers["link"]
    assert client.get("/api/models", params={"sort": "bogus"}).status_code == 400
    assert client.get("/api/models", params={"expand": "bogus"}).status_code == 400


def test_list_repo_tree_and_paths_info(api: HfApi, hub: FakeHub) -> None:
    top = list(api.list_repo_tree("org/notes"))
    assert [(type(e).__name__, e.path) for e in top] == [
        ("RepoFolder", "docs"),
        ("RepoFile", "README.md"),
        ("RepoFile", "config.json"),
        ("RepoFile", "weights.gguf"),
    ]
    everything = {e.path: e for e in api.list_repo_tree("org/notes", recursive=True)}
    assert set(everything) == {"docs", "docs/deep", *NOTES}
    guide = everything["docs/guide.txt"]
    assert guide.size == len(NOTES["docs/guide.txt"])  # type: ignore[union-attr]
    assert guide.lfs is not None and guide.lfs.sha256 == _sha256(NOTES["docs/guide.txt"])  # type: ignore[union-attr]
    note = everything["docs/deep/note.txt"]
    assert note.lfs is None and note.blob_id == git_blob_sha1(b"deep")  # type: ignore[union-attr]
    assert all(getattr(e, "xet_hash", None) is None for e in everything.values())

    sub = list(api.list_repo_tree("org/notes", path_in_repo="docs", expand=True))
    assert [e.path for e in sub] == ["docs/deep", "docs/guide.txt"]
    assert sub[1].last_commit is not None and sub[1].last_commit.oid == hub.repo("org/notes").sha

    infos = api.get_paths_info("org/notes", ["README.md", "docs", "missing.txt"])
    assert [(type(i).__name__, i.path) for i in infos] == [
        ("RepoFile", "README.md"),
        ("RepoFolder", "docs"),
    ]
    with pytest.raises(RemoteEntryNotFoundError):
        list(api.list_repo_tree("org/notes", path_in_repo="nowhere"))


# ---------------------------------------------------------------------------------------------
# Downloads through huggingface_hub


def test_hf_hub_download_builds_the_standard_cache(url: str, hub: FakeHub, tmp_path: Path) -> None:
    files = model_files(TINY, 0)
    sha = hub.repo("org/tiny-mlx").sha
    path = Path(
        hf_hub_download(
            "org/tiny-mlx", "model.safetensors", endpoint=url, cache_dir=tmp_path, token=False
        )
    )
    repo_dir = tmp_path / "models--org--tiny-mlx"
    assert path == repo_dir / "snapshots" / sha / "model.safetensors"
    assert path.is_symlink()
    assert path.resolve() == repo_dir / "blobs" / _sha256(files["model.safetensors"])
    assert path.read_bytes() == files["model.safetensors"]
    assert (repo_dir / "refs" / "main").read_text() == sha
    # the same snapshot id as tiny_model's own cache installer
    installed = install_in_cache(tmp_path / "installed", "org/tiny-mlx")
    assert installed.name == sha
    stats = hub.stats.file("org/tiny-mlx", "model.safetensors")
    assert (stats.head, stats.get, stats.bytes_sent) == (1, 1, len(files["model.safetensors"]))

    with pytest.raises(RemoteEntryNotFoundError):
        hf_hub_download(
            "org/tiny-mlx", "missing.json", endpoint=url, cache_dir=tmp_path, token=False
        )


def test_snapshot_download_matches_every_file(url: str, hub: FakeHub, tmp_path: Path) -> None:
    folder = Path(snapshot_download("org/notes", endpoint=url, cache_dir=tmp_path, token=False))
    assert folder.name == hub.repo("org/notes").sha
    for name, data in NOTES.items():
        assert (folder / name).read_bytes() == data
        blob = (folder / name).resolve()
        is_lfs = hub.repo("org/notes").files[name].lfs
        assert blob.name == (_sha256(data) if is_lfs else git_blob_sha1(data))

    big = Path(snapshot_download("org/big", endpoint=url, cache_dir=tmp_path, token=False))
    content = (big / "model.safetensors").read_bytes()
    assert len(content) == BIG_SIZE
    assert _sha256(content) == hub.repo("org/big").files["model.safetensors"].sha256
    assert content == generated_bytes(5, 0, BIG_SIZE)


def test_hf_hub_download_resumes_after_a_dropped_connection(
    url: str, hub: FakeHub, tmp_path: Path
) -> None:
    # huggingface_hub keeps only whole 10 MiB chunks of a broken response, then resumes with Range
    chunk = constants.DOWNLOAD_CHUNK_SIZE
    hub.drop_after_bytes(chunk + 1000, path_glob="org/big/*")
    path = hf_hub_download(
        "org/big", "model.safetensors", endpoint=url, cache_dir=tmp_path, token=False
    )
    assert _sha256(Path(path).read_bytes()) == hub.repo("org/big").files["model.safetensors"].sha256
    stats = hub.stats.file("org/big", "model.safetensors")
    assert stats.get == 2
    assert stats.ranges == [f"bytes={chunk}-"]
    assert stats.statuses == [200, 200, 206]  # HEAD, the cut GET, the resumed GET


def test_gated_repo_needs_a_valid_token(url: str, client: httpx.Client, tmp_path: Path) -> None:
    response = client.head("/org/gated/resolve/main/config.json")
    assert response.status_code == 401
    assert response.headers["x-error-code"] == "GatedRepo"
    wrong = client.get(
        "/org/gated/resolve/main/config.json", headers={"Authorization": "Bearer hf_nope"}
    )
    assert (wrong.status_code, wrong.headers["x-error-code"]) == (403, "GatedRepo")
    assert "error" in wrong.json()

    with pytest.raises(GatedRepoError):
        hf_hub_download("org/gated", "config.json", endpoint=url, cache_dir=tmp_path, token=False)
    path = hf_hub_download(
        "org/gated", "config.json", endpoint=url, cache_dir=tmp_path, token=TOKEN
    )
    assert Path(path).read_bytes() == b"{}"


# ---------------------------------------------------------------------------------------------
# The resolve endpoint over plain HTTP


def test_resolve_headers(client: httpx.Client, hub: FakeHub) -> None:
    repo = hub.repo("org/notes")
    head = client.head("/org/notes/resolve/main/weights.gguf")
    assert head.status_code == 200
    gguf = repo.files["weights.gguf"]
    assert head.headers["x-repo-commit"] == repo.sha
    assert head.headers["etag"] == f'"{gguf.sha256}"'
    assert head.headers["x-linked-etag"] == f'"{gguf.sha256}"'
    assert head.headers["x-linked-size"] == str(gguf.size)
    assert head.headers["content-length"] == str(gguf.size)
    assert head.headers["accept-ranges"] == "bytes"
    assert not [h for h in head.headers if h.lower().startswith("x-xet")]

    plain = client.get("/org/notes/resolve/main/config.json")
    assert plain.headers["etag"] == f'"{git_blob_sha1(NOTES["config.json"])}"'
    assert "x-linked-etag" not in plain.headers
    assert plain.content == NOTES["config.json"]

    by_sha = client.get(f"/org/notes/resolve/{repo.sha}/docs/deep/note.txt")
    assert by_sha.content == b"deep"
    assert client.get("/gpt2/resolve/main/config.json").content == b'{"model_type": "gpt2"}'
    v1 = client.get("/org/notes/resolve/v1/README.md")
    assert v1.content == b"old" and v1.headers["x-repo-commit"] != repo.sha


def test_resolve_ranges(client: httpx.Client, hub: FakeHub) -> None:
    path = "/org/big/resolve/main/model.safetensors"
    size = BIG_SIZE

    def get(range_header: str) -> httpx.Response:
        return client.get(path, headers={"Range": range_header})

    middle = get("bytes=100-199")
    assert middle.status_code == 206
    assert middle.headers["content-range"] == f"bytes 100-199/{size}"
    assert middle.content == generated_bytes(5, 100, 200)

    tail = get(f"bytes={size - 10}-")
    assert (tail.status_code, tail.content) == (206, generated_bytes(5, size - 10, size))
    suffix = get("bytes=-5")
    assert (suffix.status_code, suffix.content) == (206, generated_bytes(5, size - 5, size))
    clamped = get(f"bytes={size - 3}-{size + 100}")
    assert clamped.headers["content-range"] == f"bytes {size - 3}-{size - 1}/{size}"

    beyond = get(f"bytes={size}-")
    assert beyond.status_code == 416
    assert beyond.headers["content-range"] == f"bytes */{size}"
    assert get("bytes=0-1,5-6").status_code == 200  # several ranges: the whole file
    assert hub.stats.file("org/big", "model.safetensors").ranges[:2] == [
        "bytes=100-199",
        f"bytes={size - 10}-",
    ]


def test_resolve_error_codes(client: httpx.Client, hub: FakeHub) -> None:
    missing_repo = client.get("/org/nope/resolve/main/config.json")
    assert (missing_repo.status_code, missing_repo.headers["x-error-code"]) == (404, "RepoNotFound")
    assert missing_repo.json() == {"error": "Repository not found"}
    missing_rev = client.head("/org/notes/resolve/nope/config.json")
    assert (missing_rev.status_code, missing_rev.headers["x-error-code"]) == (
        404,
        "RevisionNotFound",
    )
    missing_file = client.get("/org/notes/resolve/main/nope.json")
    assert (missing_file.status_code, missing_file.headers["x-error-code"]) == (
        404,
        "EntryNotFound",
    )
    assert missing_file.headers["x-repo-commit"] == hub.repo("org/notes").sha
    assert client.get("/api/models/org/nope").headers["x-error-code"] == "RepoNotFound"


def test_generated_content_is_position_dependent() -> None:
    first, second = (
        generated_bytes(1, 0, BLOCK_SIZE),
        generated_bytes(1, BLOCK_SIZE, 2 * BLOCK_SIZE),
    )
    assert len(first) == len(second) == BLOCK_SIZE and first != second
    whole = generated_bytes(1, 0, 3 * BLOCK_SIZE)
    assert whole[5 : BLOCK_SIZE + 9] == generated_bytes(1, 5, BLOCK_SIZE + 9)
    assert generated_bytes(1, 0, 100) != generated_bytes(2, 0, 100)


# ---------------------------------------------------------------------------------------------
# Faults


def test_fail_next_scoped_and_counted(client: httpx.Client, hub: FakeHub) -> None:
    hub.fail_next(2, status=503, path_glob="*.gguf")
    assert client.get("/org/notes/resolve/main/config.json").status_code == 200  # out of scope
    assert client.head("/org/notes/resolve/main/weights.gguf").status_code == 200  # GET only
    assert client.get("/org/notes/resolve/main/weights.gguf").status_code == 503
    assert client.get("/org/notes/resolve/main/weights.gguf").status_code == 503
    assert client.get("/org/notes/resolve/main/weights.gguf").status_code == 200
    assert hub.stats.file("org/notes", "weights.gguf").statuses == [200, 503, 503, 200]
    assert hub.faults == []

    hub.fail_next(1, status=429, retry_after=2)
    limited = client.get("/org/notes/resolve/main/config.json")
    assert (limited.status_code, limited.headers["retry-after"]) == (429, "2")

    hub.fail_next(1, status=502, target="api")
    assert client.get("/api/models/org/notes").status_code == 502
    assert client.get("/api/models/org/notes").status_code == 200


def test_drop_after_bytes(client: httpx.Client, hub: FakeHub) -> None:
    path = "/org/big/resolve/main/model.safetensors"
    hub.drop_after_bytes(5000, times=1)
    received = bytearray()
    with pytest.raises(httpx.RemoteProtocolError), client.stream("GET", path) as response:
        assert response.headers["content-length"] == str(BIG_SIZE)
        for chunk in response.iter_bytes():
            received += chunk
    assert bytes(received) == generated_bytes(5, 0, 5000)
    assert len(client.get(path, headers={"Range": "bytes=0-99"}).content) == 100  # only once


def test_ignore_range(client: httpx.Client, hub: FakeHub) -> None:
    hub.set_fault(ignore_range=True, path_glob="config.json")
    response = client.get("/org/notes/resolve/main/config.json", headers={"Range": "bytes=5-"})
    assert (response.status_code, response.content) == (200, NOTES["config.json"])
    other = client.get("/org/notes/resolve/main/README.md", headers={"Range": "bytes=5-"})
    assert (other.status_code, other.content) == (206, README[5:])
    hub.set_fault(ignore_range=False, path_glob="config.json")
    assert hub.faults == []


def test_stall_after_bytes(client: httpx.Client, hub: FakeHub) -> None:
    path = "/org/big/resolve/main/model.safetensors"
    hub.stall_after_bytes(300, seconds=5)
    received = bytearray()
    with (
        pytest.raises(httpx.ReadTimeout),
        client.stream("GET", path, timeout=httpx.Timeout(5, read=0.3)) as response,
    ):
        for chunk in response.iter_bytes():
            received += chunk
    assert bytes(received) == generated_bytes(5, 0, 300)


def test_throttle_and_cancel(client: httpx.Client, hub: FakeHub) -> None:
    hub.set_fault(throttle_bps=20_000)
    path = "/org/big/resolve/main/model.safetensors"
    with client.stream("GET", path) as response:
        first = next(response.iter_raw())
        assert 0 < len(first) <= 20_000
    # the client left: the server notices and stops sending
    _wait_for(lambda: hub.stats.file("org/big", "model.safetensors").disconnects == 1)
    assert hub.stats.file("org/big", "model.safetensors").bytes_sent < BIG_SIZE


def test_corrupt_and_truncate(client: httpx.Client, hub: FakeHub) -> None:
    hub.set_fault(corrupt=True, path_glob="*.txt")
    guide = client.get("/org/notes/resolve/main/docs/guide.txt").content
    assert len(guide) == len(NOTES["docs/guide.txt"]) and guide != NOTES["docs/guide.txt"]
    assert guide[1:] == NOTES["docs/guide.txt"][1:]
    assert client.get("/org/notes/resolve/main/README.md").content == README

    hub.reset_faults()
    hub.set_fault(truncate=True)
    received = bytearray()
    with (
        pytest.raises(httpx.RemoteProtocolError),
        client.stream("GET", "/org/notes/resolve/main/README.md") as r,
    ):
        for chunk in r.iter_bytes():
            received += chunk
    assert bytes(received) == README[: len(README) // 2]


def test_garbage_json(api: HfApi, client: httpx.Client, hub: FakeHub) -> None:
    hub.set_fault(garbage_json=True)
    response = client.get("/api/models")
    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.content)
    with pytest.raises(ValueError):
        api.model_info("org/notes")
    assert client.get("/org/notes/resolve/main/config.json").content == NOTES["config.json"]


def test_control_endpoints(client: httpx.Client, hub: FakeHub) -> None:
    set_faults = client.post(
        "/_fake/faults",
        json=[{"fail_next": 1, "status": 500}, {"ignore_range": True, "path_glob": "*.md"}],
    )
    assert set_faults.status_code == 200
    assert {f["kind"] for f in set_faults.json()} == {"fail_next", "ignore_range"}
    assert client.get("/org/notes/resolve/main/README.md").status_code == 500
    assert (
        client.get("/org/notes/resolve/main/README.md", headers={"Range": "bytes=1-"}).status_code
        == 200
    )
    stats = client.get("/_fake/stats").json()
    assert stats["files"]["org/notes/README.md"]["statuses"] == [500, 200]
    assert stats["files"]["org/notes/README.md"]["ranges"] == ["bytes=1-"]
    assert client.post("/_fake/faults", json={"bogus": 1}).status_code == 400

    assert client.post("/_fake/reset").status_code == 200
    assert hub.faults == [] and hub.stats.files == {}
    assert client.get("/_fake/faults").json() == []


# ---------------------------------------------------------------------------------------------
# Command line


def test_cli_size_parsing() -> None:
    assert parse_size("64k") == 65536
    assert parse_size("500MiB") == 500 * 1024 * 1024
    assert parse_big("org/name:sub/w.safetensors:2M") == ("org/name", "sub/w.safetensors", 2 << 20)


def test_cli_serves_until_interrupted() -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "modelyard_dev.fake_hub",
            "--port",
            "0",
            "--big",
            "org/big:w.bin:1k",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
        text=True,
    )
    try:
        assert process.stdout is not None
        base_url = process.stdout.readline().strip()
        assert base_url.startswith("http://127.0.0.1:")
        assert httpx.get(
            f"{base_url}/org/big/resolve/main/w.bin", timeout=10
        ).content == generated_bytes(0, 0, 1024)
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()
