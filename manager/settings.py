"""Manager settings (env prefix ``MODEL_MANAGER_``), one class, validated at start-up."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated

import platformdirs
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

LOCAL_ORIGIN_REGEX = r"^https?://(localhost|127\.0\.0\.1|\[::1\])(:\d+)?$"


def _default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("modelyard", appauthor=False))


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


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

    # Inference server
    inference_url: str = "http://127.0.0.1:8001"
    inference_api_key: SecretStr | None = Field(
        default=None, description="Sent to the inference server (its MLX_SERVER_API_KEY)."
    )
    proxy_connect_retries: int = Field(default=3, ge=0, le=10)
    proxy_retry_wait_s: float = Field(default=0.25, ge=0)
    proxy_read_timeout_s: float = Field(default=600.0, gt=0)
    proxy_max_connections: int = Field(default=256, ge=1)

    # Storage
    data_dir: Path = Field(default_factory=_default_data_dir)
    database_url: str | None = Field(
        default=None, description="SQLAlchemy async URL; default: SQLite in DATA_DIR."
    )

    log_level: str = "INFO"

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
        return self

    @property
    def sqlalchemy_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.data_dir / 'modelyard.db'}"
