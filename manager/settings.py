"""Manager settings (env prefix ``MODEL_MANAGER_``), one class, validated at start-up."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, PrivateAttr, SecretStr, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from manager.fleet.hosts import HostConfig, parse_hosts, parse_placement
from service_kit.host_origin import (
    LOCAL_ORIGIN_REGEX,
    is_loopback,
    parse_allowed_hosts,
    wildcard_needs_token,
)
from shared_schemas import storage

__all__ = ["LOCAL_ORIGIN_REGEX", "ManagerSettings", "is_loopback"]

_FOLDER_SOURCES = {
    "data_dir": "MODEL_MANAGER_DATA_DIR, else MODELYARD_HOME",
    "hf_cache_dir": "MODEL_MANAGER_HF_CACHE_DIR, else HF_HUB_CACHE / HF_HOME",
    "models_dir": "MODEL_MANAGER_MODELS_DIR",
}


class ManagerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MODEL_MANAGER_", extra="ignore")

    # Network
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    api_token: SecretStr | None = Field(
        default=None,
        description="When set, every route but /health needs 'Authorization: Bearer <token>'.",
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Allowed browser origins (comma-separated); default: any localhost port.",
    )
    max_body_bytes: int = Field(default=8 * 2**20, ge=1024, description="Request body cap.")
    allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Host names answered besides loopback and the bound address ('*': any).",
    )
    limit_concurrency: int | None = Field(
        default=None, ge=1, description="Connections plus running requests; past it, 503."
    )
    timeout_keep_alive_s: int = Field(default=30, ge=1, description="Idle keep-alive close.")
    header_timeout_s: float = Field(default=10.0, gt=0, description="Request head deadline.")

    # Inference server
    inference_url: str = "http://127.0.0.1:8001"
    inference_api_key: SecretStr | None = Field(
        default=None, description="Sent to the inference server (its MLX_SERVER_API_KEY)."
    )
    proxy_connect_retries: int = Field(default=3, ge=0, le=10)
    proxy_retry_wait_s: float = Field(default=0.25, ge=0)
    proxy_read_timeout_s: float = Field(default=600.0, gt=0)
    proxy_max_connections: int = Field(default=256, ge=1)
    inference_check_interval_s: float = Field(
        default=5.0,
        gt=0,
        description="How often the inference server is checked (reachable, capabilities).",
    )
    inference_urls: Annotated[list[HostConfig], NoDecode] = Field(
        default_factory=list,
        description="Several inference servers: 'URL[|KEY],URL[|KEY],...' (replaces "
        "INFERENCE_URL; the first is the one INFERENCE_URL would be).",
    )
    placement: Annotated[dict[str, str], NoDecode] = Field(
        default_factory=dict,
        description="'model-id=URL,...': requests for these models go to that server only.",
    )
    _shared_inference_key: SecretStr | None = PrivateAttr(default=None)
    inference_refresh_s: float = Field(
        default=2.0, gt=0, description="Several servers: pool state and disk refreshed this often."
    )
    inference_down_after: int = Field(
        default=2, ge=1, description="Several servers: failed checks before a server is down."
    )

    # Storage (defaults shared with the inference server: shared_schemas/storage.py)
    data_dir: Path = Field(
        default_factory=lambda: storage.data_dir(os.environ),
        validate_default=True,
        description="Database and imported models; default: MODELYARD_HOME, else the user "
        "data dir.",
    )
    database_url: str | None = Field(
        default=None, description="SQLAlchemy async URL; default: SQLite in DATA_DIR."
    )

    hf_cache_dir: Path = Field(
        default_factory=lambda: storage.hf_hub_cache(os.environ),
        validate_default=True,
        description="Hugging Face hub cache; default: HF_HUB_CACHE / HF_HOME, as huggingface_hub.",
    )
    models_dir: Path | None = Field(
        default=None, description="Imported models (local/<name>); default: DATA_DIR/models."
    )

    # Hub
    hf_endpoint: str | None = Field(
        default=None, description="Hub URL; default: huggingface_hub's (HF_ENDPOINT)."
    )
    hf_token: SecretStr | None = Field(
        default=None, description="Token for gated repos; default: huggingface_hub's (HF_TOKEN)."
    )
    hub_cache_ttl_s: float = Field(default=300.0, ge=0, description="Hub answers cache TTL.")
    hub_concurrency: int = Field(default=8, ge=1, description="Parallel Hub requests per call.")
    hub_timeout_s: float = Field(default=15.0, gt=0, description="Timeout of one Hub API call.")
    hub_cache_max_entries: int = Field(default=2048, ge=1, description="Hub answers kept.")

    # Downloads
    max_concurrent_downloads: int = Field(default=3, ge=1)
    max_files_per_download: int = Field(default=4, ge=1, description="Files fetched in parallel.")
    disk_reserve_gb: float = Field(default=2.0, ge=0, description="Free space kept in reserve.")
    stall_timeout_s: float = Field(default=30.0, gt=0, description="No bytes this long: resume.")
    download_retries: int = Field(default=5, ge=0, le=20)
    download_backoff_s: float = Field(
        default=0.5, ge=0, description="First retry wait; doubles per failure, with jitter."
    )
    download_backoff_max_s: float = Field(default=30.0, ge=0, description="Longest retry wait.")
    download_progress_interval_s: float = Field(
        default=0.25, ge=0.05, description="Progress events at most this often per job."
    )
    download_lease_s: float = Field(
        default=15.0,
        ge=1.0,
        description="Managers sharing a database: a job whose manager stopped renewing its "
        "lease this long is taken over by another.",
    )
    download_history_max: int = Field(
        default=1000, ge=1, description="Finished jobs kept as history (oldest removed)."
    )
    sse_keepalive_s: float = Field(
        default=15.0, gt=0, description="Comment sent on an idle event stream this often."
    )

    # Library and catalog
    catalog_file: Path | None = Field(
        default=None,
        description="JSON catalog (id, name, description, contextLength, type, provider) "
        "merged into /v1/models: models served elsewhere, or metadata for local ones.",
    )
    default_chat_model: str | None = Field(
        default=None, description="Marked `default: true` in /v1/models (likewise per type)."
    )
    default_image_model: str | None = None
    default_speech_model: str | None = None
    default_embedding_model: str | None = None
    catalog_pool_timeout_s: float = Field(
        default=0.25, gt=0, description="How long the catalog waits for the pool state."
    )
    catalog_pool_ttl_s: float = Field(default=1.0, ge=0, description="Pool state kept this long.")
    catalog_pool_retry_s: float = Field(
        default=2.0, ge=0, description="After a failed pool fetch, not asked again this long."
    )
    compatibility_context_tokens: int = Field(
        default=4096, ge=1, description="Context the compatibility memory estimate assumes."
    )
    cleanup_grace_s: float = Field(
        default=600.0, ge=0, description="Loose files changed this recently are kept by cleanup."
    )

    log_level: str = "INFO"
    log_format: Literal["auto", "text", "json"] = Field(
        default="auto", description="text for people, json for machines; auto: text on a terminal."
    )

    @field_validator("data_dir", "hf_cache_dir", "models_dir")
    @classmethod
    def _absolute_folder(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        if value is None:
            return None
        source = _FOLDER_SOURCES[info.field_name or ""]
        return storage.absolute_folder(value, os.environ, source)

    @field_validator("catalog_file")
    @classmethod
    def _expand_user(cls, value: Path | None) -> Path | None:
        return storage.expand_user(value, os.environ) if value is not None else None

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _csv(cls, value: object) -> object:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator("cors_origins")
    @classmethod
    def _no_wildcard(cls, value: list[str]) -> list[str]:
        if "*" in value:
            raise ValueError("a wildcard CORS origin is not allowed; list the origins")
        return value

    @field_validator("allowed_hosts", mode="before")
    @classmethod
    def _hosts(cls, value: object) -> object:
        return parse_allowed_hosts(value)

    @field_validator("inference_urls", mode="before")
    @classmethod
    def _inference_urls(cls, value: object) -> object:
        return parse_hosts(value) if isinstance(value, str) else value

    @field_validator("placement", mode="before")
    @classmethod
    def _placement(cls, value: object) -> object:
        return parse_placement(value) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _first_inference_url(self) -> ManagerSettings:
        """With INFERENCE_URLS, the first server is the one the single-server code talks to;
        placements must name a listed server."""
        self._shared_inference_key = self.inference_api_key
        if self.inference_urls:
            first = self.inference_urls[0]
            self.inference_url = first.url
            if first.api_key is not None:
                self.inference_api_key = first.api_key
        urls = {h.url for h in self.inference_urls} or {self.inference_url}
        for model_id, url in self.placement.items():
            if url not in urls:
                raise ValueError(
                    f"PLACEMENT puts {model_id!r} on {url}, which is not in INFERENCE_URLS"
                )
        return self

    @property
    def fleet_hosts(self) -> list[HostConfig]:
        """The inference servers when there are several (empty: the one-server case), each
        with its key (its own, else INFERENCE_API_KEY)."""
        if len(self.inference_urls) < 2:
            return []
        shared = self._shared_inference_key
        return [
            HostConfig(h.url, h.api_key if h.api_key is not None else shared)
            for h in self.inference_urls
        ]

    @field_validator("inference_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("INFERENCE_URL must start with http:// or https://")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _token_for_public_bind(self) -> ManagerSettings:
        if not is_loopback(self.host) and self.api_token is None:
            raise ValueError(
                f"refusing to listen on {self.host} without MODEL_MANAGER_API_TOKEN: "
                "set a token or bind 127.0.0.1"
            )
        wildcard_needs_token(
            self.allowed_hosts,
            self.api_token is not None,
            hosts_var="MODEL_MANAGER_ALLOWED_HOSTS",
            token_var="MODEL_MANAGER_API_TOKEN",
        )
        return self

    @property
    def hub_cache(self) -> Path:
        return self.hf_cache_dir

    @property
    def hub_endpoint(self) -> str:
        if self.hf_endpoint:
            return self.hf_endpoint.rstrip("/")
        from huggingface_hub import constants

        return str(constants.ENDPOINT).rstrip("/")

    def hub_token(self) -> str | None:
        """The Hub token: ours if set, else the one huggingface_hub finds (HF_TOKEN, login)."""
        if self.hf_token is not None:
            return self.hf_token.get_secret_value()
        from huggingface_hub import get_token

        token: str | None = get_token()
        return token

    @property
    def local_models_dir(self) -> Path:
        return self.models_dir if self.models_dir is not None else self.data_dir / "models"

    @property
    def sqlalchemy_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.data_dir / 'modelyard.db'}"
