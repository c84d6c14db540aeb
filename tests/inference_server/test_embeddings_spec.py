"""The embedding pipeline read from a model's files, and the pooling modes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from inference_server.embeddings.pooling import normalize, pool
from inference_server.embeddings.spec import read_spec
from inference_server.errors import ModelNotLoadableError
from inference_server.pool.kinds import ModelKind, classify

BERT = {"model_type": "bert", "hidden_size": 8, "max_position_embeddings": 512}
QWEN = {"model_type": "qwen3", "hidden_size": 8, "max_position_embeddings": 512}


def st_folder(
    tmp_path: Path,
    *,
    modules: list[str],
    pooling: dict[str, bool],
    files: dict[str, str] | None = None,
) -> Path:
    entries = [
        {
            "idx": i,
            "name": str(i),
            "path": "1_Pooling" if m == "Pooling" else "",
            "type": f"sentence_transformers.models.{m}",
        }
        for i, m in enumerate(modules)
    ]
    (tmp_path / "modules.json").write_text(json.dumps(entries))
    (tmp_path / "1_Pooling").mkdir()
    (tmp_path / "1_Pooling" / "config.json").write_text(json.dumps(pooling))
    for name, text in (files or {}).items():
        (tmp_path / name).write_text(text)
    return tmp_path


def test_mean_pooling_and_normalize_from_the_files(tmp_path: Path) -> None:
    folder = st_folder(
        tmp_path,
        modules=["Transformer", "Pooling", "Normalize"],
        pooling={"pooling_mode_mean_tokens": True},
        files={"sentence_bert_config.json": '{"max_seq_length": 256}'},
    )
    spec = read_spec("m", folder, BERT)
    assert (spec.architecture, spec.pooling, spec.normalize) == ("encoder", ("mean",), True)
    assert (spec.dimension, spec.max_tokens, spec.matryoshka_min) == (8, 256, None)


def test_several_modes_concatenate_in_sentence_transformers_order(tmp_path: Path) -> None:
    folder = st_folder(
        tmp_path,
        modules=["Transformer", "Pooling"],
        pooling={"pooling_mode_mean_tokens": True, "pooling_mode_cls_token": True},
    )
    spec = read_spec("m", folder, BERT)
    assert spec.pooling == ("cls", "mean") and spec.dimension == 16 and not spec.normalize


def test_a_module_that_would_change_the_vectors_is_refused(tmp_path: Path) -> None:
    folder = st_folder(
        tmp_path,
        modules=["Transformer", "Pooling", "Dense"],
        pooling={"pooling_mode_mean_tokens": True},
    )
    with pytest.raises(ModelNotLoadableError) as info:
        read_spec("m", folder, BERT)
    assert info.value.code == "unsupported_embedding_module"


def test_no_pooling_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelNotLoadableError) as info:
        read_spec("m", tmp_path, BERT)
    assert info.value.code == "pooling_unknown"


def test_no_pooling_mode_is_refused(tmp_path: Path) -> None:
    folder = st_folder(tmp_path, modules=["Transformer", "Pooling"], pooling={})
    with pytest.raises(ModelNotLoadableError):
        read_spec("m", folder, BERT)


def test_a_pooling_path_out_of_the_folder_is_not_followed(tmp_path: Path) -> None:
    (tmp_path / "m").mkdir()
    (tmp_path / "1_Pooling").mkdir()
    (tmp_path / "1_Pooling" / "config.json").write_text('{"pooling_mode_mean_tokens": true}')
    modules = [{"type": "sentence_transformers.models.Pooling", "path": "../1_Pooling"}]
    (tmp_path / "m" / "modules.json").write_text(json.dumps(modules))
    with pytest.raises(ModelNotLoadableError) as info:
        read_spec("m", tmp_path / "m", BERT)
    assert info.value.code == "pooling_unknown"


@pytest.mark.parametrize(
    ("card", "config", "expected"),
    [
        ("---\ntags:\n- sentence-transformers\n- loss:MatryoshkaLoss\n---\n", BERT, 1),
        ("---\ntags: [matryoshka, x]\n---\n", BERT, 1),
        ("---\ntags:\n- sentence-transformers\n---\nMatryoshka in prose only.\n", BERT, None),
        ("", QWEN, 32),  # the Qwen3-Embedding family documents 32 and up
    ],
)
def test_matryoshka_support(
    tmp_path: Path, card: str, config: dict[str, object], expected: int | None
) -> None:
    folder = st_folder(
        tmp_path,
        modules=["Transformer", "Pooling", "Normalize"],
        pooling={"pooling_mode_lasttoken": True},
        files={"README.md": card} if card else None,
    )
    assert read_spec("m", folder, config).matryoshka_min == expected


def test_roberta_positions_leave_room_for_the_padding_offset(tmp_path: Path) -> None:
    folder = st_folder(tmp_path, modules=["Pooling"], pooling={"pooling_mode_cls_token": True})
    config = {
        "model_type": "xlm-roberta",
        "hidden_size": 8,
        "max_position_embeddings": 514,
        "pad_token_id": 1,
    }
    assert read_spec("m", folder, config).max_tokens == 512


def test_classify(tmp_path: Path) -> None:
    assert classify(tmp_path, {"model_type": "llama"}) == ModelKind.CHAT
    assert classify(tmp_path, {"model_type": "xlm-roberta"}) == ModelKind.EMBEDDING
    assert classify(tmp_path, {"model_type": "qwen2_vl", "vision_config": {}}) == ModelKind.VISION
    assert classify(tmp_path, {"model_type": "made_up_vl", "vision_config": {}}) == ModelKind.CHAT
    (tmp_path / "modules.json").write_text("[]")
    assert classify(tmp_path, {"model_type": "qwen3"}) == ModelKind.EMBEDDING


def test_pooling_modes_ignore_padding() -> None:
    import mlx.core as mx

    hidden = mx.array(
        [[[1.0, 0.0], [3.0, 2.0], [9.0, 9.0]], [[2.0, 4.0], [-5.0, -5.0], [-5.0, -5.0]]]
    )
    mask = mx.array([[1, 1, 0], [1, 0, 0]])
    got = {
        mode: np.array(pool(hidden, mask, (mode,)))
        for mode in ("cls", "max", "mean", "mean_sqrt_len", "weightedmean", "lasttoken")
    }
    np.testing.assert_allclose(got["cls"], [[1, 0], [2, 4]])
    np.testing.assert_allclose(got["max"], [[3, 2], [2, 4]])
    np.testing.assert_allclose(got["mean"], [[2, 1], [2, 4]])
    np.testing.assert_allclose(
        got["mean_sqrt_len"], np.array([[4 / np.sqrt(2), 2 / np.sqrt(2)], [2, 4]]), rtol=1e-6
    )
    np.testing.assert_allclose(got["weightedmean"], np.array([[7 / 3, 4 / 3], [2, 4]]), rtol=1e-6)
    np.testing.assert_allclose(got["lasttoken"], [[3, 2], [2, 4]])
    both = np.array(pool(hidden, mask, ("cls", "mean")))
    np.testing.assert_allclose(both, [[1, 0, 2, 1], [2, 4, 2, 4]])
    np.testing.assert_allclose(
        np.linalg.norm(np.array(normalize(mx.array([[3.0, 4.0]]))), axis=1), 1
    )
