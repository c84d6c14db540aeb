"""Repositories of the fake Hub and the JSON the Hub API answers about them (pure, no I/O)."""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from modelyard_dev.fake_hub.content import FakeFile

DEFAULT_DATE = "2024-01-01T00:00:00.000Z"

#: Model properties the Hub knows for ``expand=`` (``hf_api.ExpandModelProperty_T``).
EXPAND_PROPERTIES = frozenset(
    {
        "author", "baseModels", "cardData", "childrenModelCount", "config", "createdAt",
        "disabled", "downloads", "downloadsAllTime", "evalResults", "gated", "gguf", "inference",
        "inferenceProviderMapping", "lastModified", "library_name", "likes", "mask_token",
        "model-index", "pipeline_tag", "private", "resourceGroup", "safetensors", "sha",
        "siblings", "spaces", "tags", "transformersInfo", "trendingScore", "usedStorage",
        "widgetData",
    }
)  # fmt: skip

#: Properties of each item of ``GET /api/models`` without ``expand`` / ``full``.
LIST_PROPERTIES = (
    "author", "sha", "downloads", "likes", "tags", "library_name", "pipeline_tag",
    "lastModified", "createdAt", "private", "gated", "trendingScore",
)  # fmt: skip

#: Keys of ``config.json`` that the Hub repeats in a model's ``config`` property.
CONFIG_KEYS = ("architectures", "model_type", "quantization_config", "quantization")
TOKENIZER_CONFIG_KEYS = ("bos_token", "eos_token", "pad_token", "unk_token", "chat_template")

#: Sort keys accepted by ``GET /api/models?sort=``, with the property each one orders by.
SORTS: dict[str, str] = {
    "downloads": "downloads",
    "likes": "likes",
    "lastModified": "last_modified",
    "createdAt": "created_at",
    "trendingScore": "trending_score",
    "id": "repo_id",
}


def default_commit_sha(repo_id: str, revision: str, files: Mapping[str, FakeFile]) -> str:
    """A deterministic 40-hex commit id from the repo, the revision and the files' ids."""
    listing = "".join(f"{path}\0{files[path].blob_id}\n" for path in sorted(files))
    return hashlib.sha1(f"{repo_id}\n{revision}\n{listing}".encode()).hexdigest()


@dataclass(frozen=True)
class FakeCommit:
    """An immutable set of files, by path.

    ``listing`` is the order in which the API lists the files (``siblings``, ``/tree``); by
    default each file once, by path. A listing may repeat a path, to serve an answer no git
    tree can give.
    """

    sha: str
    files: Mapping[str, FakeFile]
    listing: tuple[str, ...] | None = None

    def listed(self) -> list[tuple[str, FakeFile]]:
        """``(path, file)`` as the API lists them."""
        if self.listing is None:
            return sorted(self.files.items())
        return [(path, self.files[path]) for path in self.listing]


@dataclass
class FakeRepo:
    """A model repository: metadata (mutable; edit it in a test) and its commits."""

    repo_id: str
    author: str | None = None
    tags: list[str] = field(default_factory=list)
    library_name: str | None = None
    pipeline_tag: str | None = None
    downloads: int = 0
    likes: int = 0
    gated: bool | str = False
    card_data: dict[str, Any] | None = None
    last_modified: str = DEFAULT_DATE
    created_at: str = DEFAULT_DATE
    trending_score: int = 0
    private: bool = False
    refs: dict[str, str] = field(default_factory=dict)
    commits: dict[str, FakeCommit] = field(default_factory=dict)
    default_branch: str = "main"

    def resolve(self, revision: str | None) -> FakeCommit | None:
        """The commit a branch name or commit id points to, or ``None``."""
        revision = revision or self.default_branch
        sha = self.refs.get(revision, revision)
        return self.commits.get(sha)

    @property
    def head(self) -> FakeCommit:
        commit = self.resolve(self.default_branch)
        if commit is None:
            raise LookupError(f"{self.repo_id} has no {self.default_branch!r} branch")
        return commit

    @property
    def sha(self) -> str:
        return self.head.sha

    @property
    def files(self) -> Mapping[str, FakeFile]:
        return self.head.files

    @property
    def gated_value(self) -> bool | str:
        """``False``, ``"auto"`` or ``"manual"``, as the Hub reports it."""
        if self.gated is True:
            return "auto"
        return self.gated or False

    def effective_card_data(self, commit: FakeCommit) -> dict[str, Any] | None:
        if self.card_data is not None:
            return self.card_data
        readme = commit.files.get("README.md")
        return card_from_readme(readme.data) if readme is not None and readme.data else None

    def effective_tags(self, commit: FakeCommit) -> list[str]:
        """The given tags plus those the Hub derives from the files and the card."""
        tags = list(self.tags)
        card = self.effective_card_data(commit) or {}
        config = json_file(commit, "config.json") or {}
        derived: list[str] = []
        if self.library_name:
            derived.append(self.library_name)
        if any(path.endswith(".safetensors") for path in commit.files):
            derived.append("safetensors")
        if any(path.endswith(".gguf") for path in commit.files):
            derived.append("gguf")
        if isinstance(config.get("model_type"), str):
            derived.append(config["model_type"])
        if self.pipeline_tag:
            derived.append(self.pipeline_tag)
        for key in ("license", "language"):
            values = card.get(key)
            for value in values if isinstance(values, list) else [values]:
                if isinstance(value, str):
                    derived.append(f"{key}:{value}" if key == "license" else value)
        bases = card.get("base_model")
        relation = card.get("base_model_relation")
        for base in bases if isinstance(bases, list) else [bases]:
            if isinstance(base, str):
                derived.append(f"base_model:{base}")
                if isinstance(relation, str):
                    derived.append(f"base_model:{relation}:{base}")
        for tag in derived:
            if tag not in tags:
                tags.append(tag)
        return tags


def card_from_readme(data: bytes) -> dict[str, Any] | None:
    """The YAML front matter of a model card, or ``None``."""
    text = data.decode("utf-8", errors="replace")
    if not text.startswith("---"):
        return None
    end = text.find("\n---", 3)
    if end < 0:
        return None
    try:
        card = yaml.safe_load(text[3:end])
    except yaml.YAMLError:
        return None
    return card if isinstance(card, dict) else None


def json_file(commit: FakeCommit, path: str) -> dict[str, Any] | None:
    file = commit.files.get(path)
    if file is None or file.data is None:
        return None
    try:
        value = json.loads(file.data)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def hub_config(commit: FakeCommit) -> dict[str, Any] | None:
    """The ``config`` property: a few keys of ``config.json`` and ``tokenizer_config.json``.

    The Hub does not repeat the whole ``config.json`` here; a client that needs, say, the
    context length reads ``config.json`` itself.
    """
    config = json_file(commit, "config.json")
    if config is None:
        return None
    out = {key: config[key] for key in CONFIG_KEYS if key in config}
    tokenizer_config = json_file(commit, "tokenizer_config.json") or {}
    out["tokenizer_config"] = {
        key: tokenizer_config[key] for key in TOKENIZER_CONFIG_KEYS if key in tokenizer_config
    }
    return out


def safetensors_parameters(commit: FakeCommit) -> dict[str, Any] | None:
    """``{"parameters": {dtype: count}, "total": count}`` from the safetensors headers."""
    counts: dict[str, int] = {}
    found = False
    for path, file in sorted(commit.files.items()):
        if not path.endswith(".safetensors") or file.data is None or file.size < 8:
            continue
        (header_size,) = struct.unpack("<Q", file.data[:8])
        try:
            header = json.loads(file.data[8 : 8 + header_size])
        except ValueError:
            continue
        found = True
        for name, tensor in header.items():
            if name == "__metadata__" or not isinstance(tensor, dict):
                continue
            count = 1
            for dim in tensor.get("shape", []):
                count *= int(dim)
            counts[tensor["dtype"]] = counts.get(tensor["dtype"], 0) + count
    if not found:
        return None
    return {"parameters": counts, "total": sum(counts.values())}


def sibling_json(file: FakeFile, *, blobs: bool) -> dict[str, Any]:
    entry: dict[str, Any] = {"rfilename": file.path}
    if blobs:
        entry["size"] = file.size
        entry["blobId"] = file.blob_id
        if file.lfs:
            entry["lfs"] = {
                "sha256": file.sha256,
                "size": file.size,
                "pointerSize": file.pointer_size,
            }
    return entry


def model_json(
    repo: FakeRepo,
    commit: FakeCommit,
    properties: Iterable[str] | None = None,
    *,
    blobs: bool = False,
) -> dict[str, Any]:
    """A model as the Hub describes it: every known property, or only ``properties``."""
    wanted = None if properties is None else set(properties)

    def want(name: str) -> bool:
        return wanted is None or name in wanted

    out: dict[str, Any] = {
        "_id": hashlib.sha1(repo.repo_id.encode()).hexdigest()[:24],
        "id": repo.repo_id,
    }
    if wanted is None:
        out["modelId"] = repo.repo_id

    def card() -> dict[str, Any] | None:
        return repo.effective_card_data(commit)

    getters: dict[str, Callable[[], Any]] = {
        "author": lambda: repo.author,
        "sha": lambda: commit.sha,
        "lastModified": lambda: repo.last_modified,
        "createdAt": lambda: repo.created_at,
        "private": lambda: repo.private,
        "disabled": lambda: False,
        "gated": lambda: repo.gated_value,
        "downloads": lambda: repo.downloads,
        "likes": lambda: repo.likes,
        "trendingScore": lambda: repo.trending_score,
        "library_name": lambda: repo.library_name or (card() or {}).get("library_name"),
        "pipeline_tag": lambda: repo.pipeline_tag or (card() or {}).get("pipeline_tag"),
        "tags": lambda: repo.effective_tags(commit),
        "cardData": lambda: card(),
        "config": lambda: hub_config(commit),
        "safetensors": lambda: safetensors_parameters(commit),
        "usedStorage": lambda: sum(file.size for file in commit.files.values()),
        "spaces": lambda: [],
    }
    for name, getter in getters.items():
        if want(name) and (value := getter()) is not None:
            out[name] = value
    if want("siblings"):
        out["siblings"] = [sibling_json(f, blobs=blobs) for _, f in commit.listed()]
    return out


def last_commit_json(repo: FakeRepo, commit: FakeCommit) -> dict[str, Any]:
    return {"id": commit.sha, "title": "Upload folder", "date": repo.last_modified}


def tree_entries(
    commit: FakeCommit, path: str, *, recursive: bool
) -> list[tuple[str, FakeFile | None]] | None:
    """``(path, file)`` pairs under the folder ``path`` (``file`` is ``None`` for a folder).

    ``None`` when ``path`` is not a folder of the commit.
    """
    prefix = f"{path.strip('/')}/" if path.strip("/") else ""
    folders: set[str] = set()
    files: list[tuple[str, FakeFile | None]] = []
    for file_path, file in commit.listed():
        if not file_path.startswith(prefix):
            continue
        parts = file_path[len(prefix) :].split("/")
        for depth in range(1, len(parts)):
            folders.add(prefix + "/".join(parts[:depth]))
            if not recursive:
                break
        if recursive or len(parts) == 1:
            files.append((file_path, file))
    if not files and not folders:
        return None
    entries: list[tuple[str, FakeFile | None]] = [(folder, None) for folder in sorted(folders)]
    return entries + sorted(files, key=lambda item: item[0])


def folder_oid(commit: FakeCommit, path: str) -> str:
    listing = "".join(
        f"{p}\0{f.blob_id}\n" for p, f in sorted(commit.files.items()) if p.startswith(path + "/")
    )
    return hashlib.sha1(f"tree {path}\n{listing}".encode()).hexdigest()


def entry_json(
    repo: FakeRepo, commit: FakeCommit, path: str, file: FakeFile | None, *, expand: bool
) -> dict[str, Any]:
    """One entry of ``/tree`` or ``/paths-info``."""
    entry: dict[str, Any]
    if file is None:
        entry = {"type": "directory", "oid": folder_oid(commit, path), "size": 0, "path": path}
    else:
        entry = {"type": "file", "oid": file.blob_id, "size": file.size, "path": path}
        if file.lfs:
            entry["lfs"] = {"oid": file.sha256, "size": file.size, "pointerSize": file.pointer_size}
    if expand:
        entry["lastCommit"] = last_commit_json(repo, commit)
    return entry


def matches(
    repo: FakeRepo,
    *,
    search: str | None,
    author: str | None,
    filters: list[str],
    pipeline_tag: str | None = None,
    gated: bool | None = None,
) -> bool:
    """Whether a repo is in the results of ``GET /api/models`` with these parameters.

    ``search`` is a case-insensitive substring of the id; every ``filter`` must be one of the
    tags (case-sensitive); private repos are never listed.
    """
    if repo.private:
        return False
    if search and search.lower() not in repo.repo_id.lower():
        return False
    if author and (repo.author or "").lower() != author.lower():
        return False
    head = repo.head
    if (
        pipeline_tag
        and model_json(repo, head, ["pipeline_tag"]).get("pipeline_tag") != pipeline_tag
    ):
        return False
    if gated is not None and bool(repo.gated) != gated:
        return False
    tags = repo.effective_tags(head)
    return all(tag in tags for tag in filters)
