"""``POST /v1/embeddings`` through both processes, with the official ``openai`` client.

Real tiny models made on the spot: a sentence-transformers BERT encoder (mean pooling,
Normalize, a Matryoshka card), the same without the card, a Qwen3-Embedding-shaped decoder
(last-token pooling), an encoder without any pooling file, and a chat model.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import openai
import pytest

from modelyard_dev.procs import Service, inference_service, manager_service
from modelyard_dev.tiny_model import TINY, write_model
from modelyard_dev.tiny_multimodal import (
    bert_embedding_files,
    decoder_embedding_files,
    write_files,
)

BERT = "local/emb-bert"
PLAIN_BERT = "local/emb-bert-plain"
DECODER = "local/emb-decoder"
NO_POOLING = "local/emb-no-pooling"
CHAT = "local/chat-tiny"
TEXTS = [
    "The cat found a green umbrella near the harbour.",
    "hello",
    "Every child remembered the old piano behind the school in the morning.",
    "a quiet musician",
]


@dataclass
class Stack:
    manager: Service
    inference: Service
    models: Path

    @property
    def client(self) -> openai.OpenAI:
        return openai.OpenAI(base_url=f"{self.manager.url}/v1", api_key="unused", max_retries=0)


@pytest.fixture(scope="module")
def embedding_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("embedding-models")
    write_files(root / "emb-bert", bert_embedding_files(seed=0))
    write_files(root / "emb-bert-plain", bert_embedding_files(seed=1, matryoshka=False))
    write_files(root / "emb-decoder", decoder_embedding_files(seed=0))
    no_pooling = {
        name: data
        for name, data in bert_embedding_files(seed=2).items()
        if name not in ("modules.json", "1_Pooling/config.json")
    }
    write_files(root / "emb-no-pooling", no_pooling)
    write_model(root / "chat-tiny", TINY, seed=0)
    return root


@pytest.fixture(scope="module")
def stack(embedding_models: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    logs = tmp_path_factory.mktemp("embedding-logs")
    cache = tmp_path_factory.mktemp("embedding-cache")
    inference = inference_service(
        {
            "MLX_SERVER_MODELS_DIRS": str(embedding_models),
            "MLX_SERVER_HF_CACHE_DIR": str(cache),
            "MLX_SERVER_EMBEDDING_BATCH_SIZE": "3",  # several batches per request
        },
        log_dir=logs,
    )
    manager = manager_service(
        {
            "MODEL_MANAGER_INFERENCE_URL": inference.url,
            "MODEL_MANAGER_DATA_DIR": str(tmp_path_factory.mktemp("embedding-data")),
            "MODEL_MANAGER_HF_CACHE_DIR": str(cache),
            "MODEL_MANAGER_MODELS_DIR": str(embedding_models),
        },
        log_dir=logs,
    )
    inference.start()
    try:
        manager.start()
        try:
            yield Stack(manager=manager, inference=inference, models=embedding_models)
        finally:
            manager.stop()
    finally:
        inference.stop()


def vectors(client: openai.OpenAI, model: str, texts: list[str] | str, **kw: object) -> np.ndarray:
    reply = client.embeddings.create(model=model, input=texts, **kw)  # type: ignore[arg-type]
    return np.array([item.embedding for item in reply.data], dtype=np.float64)


@pytest.mark.parametrize("model", [BERT, DECODER])
def test_vectors_have_the_model_size_and_unit_norm(stack: Stack, model: str) -> None:
    got = vectors(stack.client, model, TEXTS)
    assert got.shape == (len(TEXTS), 64)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    assert not np.allclose(got[0], got[1])  # different texts, different vectors


@pytest.mark.parametrize("model", [BERT, DECODER])
def test_identical_inputs_give_identical_vectors(stack: Stack, model: str) -> None:
    first = vectors(stack.client, model, [TEXTS[0], TEXTS[0]])
    again = vectors(stack.client, model, TEXTS[0])
    np.testing.assert_array_equal(first[0], first[1])
    np.testing.assert_allclose(first[0], again[0], atol=1e-6)


@pytest.mark.parametrize("model", [BERT, DECODER])
def test_a_batch_equals_one_by_one(stack: Stack, model: str) -> None:
    batch = vectors(stack.client, model, TEXTS)
    single = np.stack([vectors(stack.client, model, text)[0] for text in TEXTS])
    np.testing.assert_allclose(batch, single, atol=1e-5)


def test_base64_decodes_to_the_same_floats(stack: Stack) -> None:
    floats = vectors(stack.client, BERT, TEXTS, encoding_format="float")
    raw = httpx.post(
        f"{stack.manager.url}/v1/embeddings",
        json={"model": BERT, "input": TEXTS, "encoding_format": "base64"},
        timeout=60,
    )
    assert raw.status_code == 200, raw.text
    decoded = np.stack(
        [np.frombuffer(base64.b64decode(d["embedding"]), dtype="<f4") for d in raw.json()["data"]]
    )
    np.testing.assert_array_equal(decoded, floats.astype(np.float32))
    # The SDK asks for base64 by default and decodes it itself.
    np.testing.assert_array_equal(vectors(stack.client, BERT, TEXTS), floats)


def test_usage_counts_tokens(stack: Stack) -> None:
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(stack.models / "emb-bert" / "tokenizer.json"))
    expected = sum(len(tokenizer.encode(t).ids) for t in TEXTS)
    reply = stack.client.embeddings.create(model=BERT, input=TEXTS)
    assert reply.usage.prompt_tokens == expected == reply.usage.total_tokens
    assert [d.index for d in reply.data] == list(range(len(TEXTS)))
    assert reply.model == BERT


def test_token_ids_are_used_as_given(stack: Stack) -> None:
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(stack.models / "emb-bert" / "tokenizer.json"))
    ids = [tokenizer.encode(t).ids for t in TEXTS[:2]]  # with [CLS] and [SEP]
    from_text = vectors(stack.client, BERT, TEXTS[:2])
    np.testing.assert_allclose(vectors(stack.client, BERT, ids), from_text, atol=1e-5)  # type: ignore[arg-type]
    one = vectors(stack.client, BERT, ids[0])  # type: ignore[arg-type]
    np.testing.assert_allclose(one[0], from_text[0], atol=1e-5)


@pytest.mark.parametrize(("model", "dims"), [(BERT, 16), (DECODER, 32)])
def test_dimensions_truncate_and_renormalise(stack: Stack, model: str, dims: int) -> None:
    full = vectors(stack.client, model, TEXTS)
    short = vectors(stack.client, model, TEXTS, dimensions=dims)
    assert short.shape == (len(TEXTS), dims)
    expected = full[:, :dims] / np.linalg.norm(full[:, :dims], axis=1, keepdims=True)
    np.testing.assert_allclose(short, expected, atol=1e-5)


def test_dimensions_refused_for_a_model_not_trained_for_them(stack: Stack) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        stack.client.embeddings.create(model=PLAIN_BERT, input="hello", dimensions=16)
    assert info.value.code == "dimensions_not_supported"
    assert info.value.param == "dimensions"
    # The model's own size is not a truncation: accepted.
    assert vectors(stack.client, PLAIN_BERT, "hello", dimensions=64).shape == (1, 64)


def test_dimensions_below_the_documented_minimum_refused(stack: Stack) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        stack.client.embeddings.create(model=DECODER, input="hello", dimensions=8)
    assert info.value.code == "invalid_dimensions"


def test_encoder_vectors_equal_mlx_embeddings(stack: Stack) -> None:
    """Mean pooling and Normalize read from the files give what mlx-embeddings computes."""
    import mlx_embeddings

    model, tokenizer = mlx_embeddings.load(str(stack.models / "emb-bert"))
    expected = np.array(mlx_embeddings.generate(model, tokenizer, texts=TEXTS).text_embeds)
    np.testing.assert_allclose(vectors(stack.client, BERT, TEXTS), expected, atol=1e-5)


def test_decoder_vectors_are_the_last_tokens_hidden_state(stack: Stack) -> None:
    import mlx.core as mx
    import mlx_lm

    loaded = mlx_lm.load(str(stack.models / "emb-decoder"))
    model, tokenizer = loaded[0], loaded[1]
    got = vectors(stack.client, DECODER, TEXTS)
    for text, vector in zip(TEXTS, got, strict=True):
        ids = tokenizer._tokenizer(text)["input_ids"]  # the model's tokenizer appends the end token
        hidden = np.array(model.model(mx.array([ids]))[0, -1].astype(mx.float32))
        np.testing.assert_allclose(vector, hidden / np.linalg.norm(hidden), atol=1e-5)


def test_concurrent_requests_share_the_worker(stack: Stack) -> None:
    expected = vectors(stack.client, BERT, TEXTS)
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: vectors(stack.client, BERT, TEXTS), range(8)))
    for got in results:
        np.testing.assert_allclose(got, expected, atol=1e-5)


def test_chat_model_is_not_an_embedding_model(stack: Stack) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        stack.client.embeddings.create(model=CHAT, input="hello")
    assert info.value.code == "not_an_embedding_model"
    assert info.value.param == "model"


def test_embedding_model_does_not_chat(stack: Stack) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        stack.client.chat.completions.create(
            model=BERT, messages=[{"role": "user", "content": "hi"}], max_tokens=2
        )
    assert info.value.code == "not_a_chat_model"


def test_pooling_is_never_guessed(stack: Stack) -> None:
    response = httpx.post(
        f"{stack.manager.url}/v1/embeddings", json={"model": NO_POOLING, "input": "hi"}, timeout=60
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "pooling_unknown"


def test_too_long_input_is_refused_not_cut(stack: Stack) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        stack.client.embeddings.create(model=BERT, input=["hello", "word " * 200])
    assert info.value.code == "context_length_exceeded"
    assert "input[1]" in info.value.message


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"input": [[1, 2, 10**6]]}, "invalid_token_id"),
        ({"input": ""}, "invalid_request"),
        ({"input": []}, "invalid_request"),
        ({"input": ["ok", ""]}, "invalid_request"),
        ({"input": [[-1]]}, "invalid_request"),
        ({"input": "hi", "encoding_format": "int8"}, "invalid_request"),
        ({"input": "hi", "dimensions": 0}, "invalid_request"),
        ({"input": {"text": "hi"}}, "invalid_request"),
    ],
)
def test_bad_input_is_a_clear_400(stack: Stack, body: dict[str, object], code: str) -> None:
    response = httpx.post(
        f"{stack.manager.url}/v1/embeddings", json={"model": BERT, **body}, timeout=60
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == code


def test_catalog_types_embedding_models(stack: Stack) -> None:
    listing = httpx.get(f"{stack.manager.url}/v1/models", timeout=30).json()["data"]
    types = {card["id"]: card["type"] for card in listing}
    assert types[BERT] == types[DECODER] == types[PLAIN_BERT] == "embedding"
    assert types[CHAT] == "chat"
    only = httpx.get(f"{stack.manager.url}/v1/models?type=embedding", timeout=30).json()["data"]
    assert CHAT not in {card["id"] for card in only}


def test_inference_server_lists_embedding_models_by_type(stack: Stack) -> None:
    listing = httpx.get(f"{stack.inference.url}/v1/models", timeout=30).json()["data"]
    types = {card["id"]: card["type"] for card in listing}
    assert types[BERT] == types[DECODER] == "embedding"
    assert types[CHAT] == "chat"


def test_pool_reports_the_kind(stack: Stack) -> None:
    vectors(stack.client, BERT, "hello")
    slots = httpx.get(f"{stack.inference.url}/admin/pool", timeout=30).json()["slots"]
    assert {s["id"]: s["kind"] for s in slots}[BERT] == "embedding"


def test_unknown_fields_are_refused_by_name(stack: Stack) -> None:
    """Embeddings requests follow the strict rule of every request: a field that is not
    implemented is refused, never silently ignored; ``user`` is accepted and ignored."""
    refused = httpx.post(
        f"{stack.manager.url}/v1/embeddings",
        json={"model": BERT, "input": "hi", "truncate": True},
        timeout=60,
    )
    assert refused.status_code == 400, refused.text
    error = refused.json()["error"]
    assert (error["code"], error["param"]) == ("unsupported_parameter", "truncate")
    accepted = httpx.post(
        f"{stack.manager.url}/v1/embeddings",
        json={"model": BERT, "input": "hi", "user": "someone"},
        timeout=60,
    )
    assert accepted.status_code == 200, accepted.text


def test_capabilities_of_embedding_models(stack: Stack) -> None:
    listing = httpx.get(f"{stack.inference.url}/v1/models", timeout=30).json()["data"]
    capabilities = {card["id"]: card["capabilities"] for card in listing}
    assert capabilities[BERT] == capabilities[DECODER] == ["embeddings"]
    assert "chat" in capabilities[CHAT] and "embeddings" not in capabilities[CHAT]


def test_an_embedding_model_never_loaded_is_listed_and_runs(stack: Stack) -> None:
    """The manager lists (and judges servable) an encoder embedding model before it has ever
    been loaded: the inference server reports the model types it loads through mlx-embeddings.

    Reproduction: a BERT sentence-transformers folder added to the models directory was
    missing from the manager's ``/v1/models`` until something loaded it, and its verdict was
    ``not-loadable`` ("bert" is not an mlx-lm model type).
    """
    write_files(stack.models / "emb-bert-fresh", bert_embedding_files(seed=5))
    fresh = "local/emb-bert-fresh"
    deadline = time.monotonic() + 60
    while (
        not httpx.get(f"{stack.manager.url}/api/system", timeout=30)
        .json()["inference"]
        .get("capabilities")
    ):
        assert time.monotonic() < deadline, "the manager never learnt the server's model types"
        time.sleep(0.2)
    listing = httpx.get(f"{stack.manager.url}/v1/models", timeout=30).json()["data"]
    cards = {card["id"]: card for card in listing}
    assert cards[fresh]["type"] == "embedding"
    assert cards[fresh]["state"] == "not-loaded"
    verdict = httpx.get(f"{stack.manager.url}/api/models/compatibility/{fresh}", timeout=30).json()
    assert verdict["label"] == "runs", verdict
