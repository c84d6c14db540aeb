"""Offline demo: make a tiny real model, start both services, chat through the manager.

    python -m modelyard_dev.demo [--keep]

Everything runs on 127.0.0.1 with a throwaway data folder; nothing is downloaded. The model
has random weights, so its replies are gibberish: the point is the real path (OpenAI client
-> manager -> inference server -> MLX).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import openai

from modelyard_dev.procs import inference_service, manager_service, running
from modelyard_dev.tiny_model import TINY, write_model

MODEL = "local/tiny-llama"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--keep", action="store_true", help="keep serving until Ctrl-C")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="modelyard-demo-") as tmp:
        root = Path(tmp)
        models = root / "models"
        write_model(models / "tiny-llama", TINY)
        print(f"made a tiny Llama in {models / 'tiny-llama'}")
        # One storage setting for both processes: models/ under MODELYARD_HOME, one cache.
        shared = {"MODELYARD_HOME": str(root), "HF_HUB_CACHE": str(root / "hf")}
        inference = inference_service(shared, log_dir=root)
        manager = manager_service(
            {**shared, "MODEL_MANAGER_INFERENCE_URL": inference.url}, log_dir=root
        )
        with running(inference, manager):
            print(f"manager on {manager.url}, inference server on {inference.url}")
            client = openai.OpenAI(base_url=manager.url + "/v1", api_key="demo")
            print("models:", [m.id for m in client.models.list()])
            stream = client.chat.completions.create(
                model=MODEL,
                messages=[{"role": "user", "content": "Say hello to modelyard."}],
                max_tokens=24,
                temperature=0.7,
                stream=True,
            )
            print("reply: ", end="", flush=True)
            for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    print(chunk.choices[0].delta.content, end="", flush=True)
            print()
            if args.keep:
                print("serving; press Ctrl-C to stop")
                try:
                    while True:
                        time.sleep(1)
                except KeyboardInterrupt:
                    pass


if __name__ == "__main__":
    main()
