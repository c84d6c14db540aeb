"""``requirements.lock`` (the pins ``scripts/bootstrap.sh`` installs) covers what
``pyproject.toml`` asks for: every dependency, and every extra's, pinned to a version that
satisfies it. A dependency added without regenerating the lock fails here, with the command."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
REGENERATE = (
    "uv pip compile pyproject.toml --all-extras --universal --generate-hashes "
    "--python-version 3.11 -o requirements.lock"
)
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")


def pins() -> dict[str, list[str]]:
    """Versions pinned in the lock, by canonical name (one per marker branch)."""
    found: dict[str, list[str]] = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        match = PIN.match(line)
        if match:
            found.setdefault(canonicalize_name(match[1]), []).append(match[2])
    return found


def wanted() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    specs = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        specs += extra
    return [Requirement(spec) for spec in specs]


def test_the_lock_pins_every_dependency_to_a_version_it_allows() -> None:
    locked = pins()
    assert locked, "requirements.lock has no pins"
    for requirement in wanted():
        name = canonicalize_name(requirement.name)
        assert name in locked, f"{requirement.name} is not in requirements.lock: {REGENERATE}"
        allowed = [v for v in locked[name] if requirement.specifier.contains(v, prereleases=True)]
        assert allowed, f"{requirement} is not met by {locked[name]}: {REGENERATE}"


def test_every_pin_carries_hashes() -> None:
    text = (ROOT / "requirements.lock").read_text()
    blocks = re.split(r"\n(?=[A-Za-z0-9])", text)
    for block in blocks:
        if PIN.match(block):
            assert "--hash=sha256:" in block, block.splitlines()[0]
