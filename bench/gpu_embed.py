"""Embed the retrieval bench's chunks with MiniLM on a CUDA GPU (run through the device tool), so the
100k-chunk retrieval bench can measure query latency here without 30 minutes of CPU embedding.

Needs only torch and sentence-transformers (no kgflow): the device machine has both. Writes the vectors
int8-quantised (x127, in parts of at most 16 MiB) and a JSON of throughput figures;
`retrieval_bench.py --vectors DIR` reads them back (divided by 127 and re-normalised).

    python3 bench/gpu_embed.py --model .gpu/minilm --wiki .gpu/wiki_passages.json --out $OUT
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from retrieval_bench import windows  # noqa: E402

PART_ROWS = 40_000  # 40k x 384 int8 = 15 MiB


def main() -> None:
    import numpy as np
    import torch
    from sentence_transformers import SentenceTransformer

    ap = argparse.ArgumentParser()
    ap.add_argument("--model", type=Path, required=True)
    ap.add_argument("--wiki", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--chunks", type=int, default=100_000)
    ap.add_argument("--batch", type=int, default=512)
    ap.add_argument("--no-vectors", action="store_true", help="figures only")
    args = ap.parse_args()
    texts = [t for _, t in windows(json.loads(args.wiki.read_text()), args.chunks)]
    figures = {"device": torch.cuda.get_device_name(0), "chunks": len(texts)}
    import onnxruntime

    # ONNX Runtime on the GPU needs its CUDA build (onnxruntime-gpu): say which one the machine has
    figures["onnxruntime"] = {"version": onnxruntime.__version__, "providers": onnxruntime.get_available_providers()}
    print("onnxruntime", figures["onnxruntime"], flush=True)
    model = SentenceTransformer(str(args.model), device="cuda")
    t0 = time.perf_counter()
    for i in range(0, len(texts), args.batch):  # the CPU side alone: what feeds the GPU
        model.tokenize(texts[i:i + args.batch])
    figures["tokenize_only"] = {"chunks_per_s": round(len(texts) / (time.perf_counter() - t0), 1)}
    print("tokenize only:", figures["tokenize_only"], flush=True)
    for dtype in ("float32", "float16", "bfloat16"):
        model = SentenceTransformer(str(args.model), device="cuda")
        model = model.to(getattr(torch, dtype))
        model.encode(texts[:2048], batch_size=args.batch)  # warm-up: kernels, allocator
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        vecs = model.encode(texts, batch_size=args.batch, normalize_embeddings=True, convert_to_numpy=True)
        torch.cuda.synchronize()
        seconds = time.perf_counter() - t0
        figures[dtype] = {"seconds": round(seconds, 2), "chunks_per_s": round(len(texts) / seconds, 1)}
        print(f"{dtype}: {len(texts)} chunks in {seconds:.1f} s = {len(texts) / seconds:,.0f} chunks/s", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "embed_figures.json").write_text(json.dumps(figures, indent=2))
    if args.no_vectors:
        return
    q = np.clip(np.round(vecs.astype("float32") * 127), -127, 127).astype(np.int8)
    for i in range(0, len(q), PART_ROWS):
        np.save(args.out / f"vectors_{i // PART_ROWS:02d}.npy", q[i:i + PART_ROWS])
    (args.out / "embed_figures.json").write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
