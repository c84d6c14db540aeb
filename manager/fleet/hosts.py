"""The inference servers and placements as settings write them (pure parsing, no I/O).

``MODEL_MANAGER_INFERENCE_URLS``: comma-separated entries, each a URL optionally followed by
``|`` and that server's API key (``http://host-a:8001|key-a,http://host-b:8001``); a server
without its own key gets ``MODEL_MANAGER_INFERENCE_API_KEY``.

``MODEL_MANAGER_PLACEMENT``: comma-separated ``model-id=URL`` pairs; each URL must be one of
the inference servers.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import SecretStr


@dataclass(frozen=True)
class HostConfig:
    url: str
    api_key: SecretStr | None = None

    def headers(self) -> dict[str, str]:
        if self.api_key is None:
            return {}
        return {"authorization": f"Bearer {self.api_key.get_secret_value()}"}


def normalise_url(url: str) -> str:
    url = url.strip().rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"an inference server URL must start with http:// or https://: {url!r}")
    return url


def parse_hosts(value: str) -> list[HostConfig]:
    hosts: list[HostConfig] = []
    for entry in value.split(","):
        if not entry.strip():
            continue
        url, _, key = entry.partition("|")
        host = HostConfig(normalise_url(url), SecretStr(key.strip()) if key.strip() else None)
        if any(h.url == host.url for h in hosts):
            raise ValueError(f"inference server listed twice: {host.url}")
        hosts.append(host)
    return hosts


def parse_placement(value: str) -> dict[str, str]:
    pins: dict[str, str] = {}
    for entry in value.split(","):
        if not entry.strip():
            continue
        model_id, sep, url = entry.partition("=")
        if not sep or not model_id.strip():
            raise ValueError(f"a placement is model-id=URL, not {entry.strip()!r}")
        pins[model_id.strip()] = normalise_url(url)
    return pins
