"""Serve a fake Hub until Ctrl-C (demos, benchmarks, poking at it with curl).

    python -m modelyard_dev.fake_hub [--port 0] [--tiny-model org/name ...]
        [--big org/name:path:size ...] [--token hf_x ...] [--gated org/name ...]

It prints the base URL (``http://127.0.0.1:PORT``) on the first line of stdout.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence

from modelyard_dev.fake_hub.hub import FakeHub

_UNITS = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}


def parse_size(text: str) -> int:
    """``1234``, ``64k``, ``500M`` or ``2G`` (binary units) -> bytes."""
    text = text.strip().lower().removesuffix("b").removesuffix("i")
    if text and text[-1] in _UNITS:
        return int(float(text[:-1]) * _UNITS[text[-1]])
    return int(text)


def parse_big(spec: str) -> tuple[str, str, int]:
    """``org/name:path:size`` -> ``(repo_id, path, size)``."""
    parts = spec.rsplit(":", 2)
    if len(parts) != 3 or not all(parts):
        raise argparse.ArgumentTypeError(f"expected org/name:path:size, not {spec!r}")
    try:
        return parts[0], parts[1], parse_size(parts[2])
    except ValueError:
        raise argparse.ArgumentTypeError(f"bad size in {spec!r}") from None


def build_hub(args: argparse.Namespace) -> FakeHub:
    hub = FakeHub(valid_tokens=args.token)
    for index, repo_id in enumerate(args.tiny_model):
        hub.add_tiny_model(repo_id, seed=index, gated=repo_id in args.gated)
    for index, (repo_id, path, size) in enumerate(args.big):
        hub.add_big_file(repo_id, path, size, seed=index)
    for repo_id in args.gated:
        if repo_id in hub.repos:
            hub.repos[repo_id].gated = True
    return hub


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m modelyard_dev.fake_hub", description="Serve a fake Hugging Face Hub."
    )
    parser.add_argument("--port", type=int, default=0, help="0: a free port")
    parser.add_argument("--tiny-model", action="append", default=[], metavar="ORG/NAME")
    parser.add_argument(
        "--big", action="append", default=[], type=parse_big, metavar="ORG/NAME:PATH:SIZE"
    )
    parser.add_argument("--token", action="append", default=[], help="a token that opens gates")
    parser.add_argument("--gated", action="append", default=[], metavar="ORG/NAME")
    args = parser.parse_args(argv)

    hub = build_hub(args)
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with hub.serve(args.port) as url:
        print(url, flush=True)
        for repo_id in hub.repos:
            print(f"  {repo_id}", file=sys.stderr, flush=True)
        while not stop.wait(0.5):
            pass


if __name__ == "__main__":
    main()
