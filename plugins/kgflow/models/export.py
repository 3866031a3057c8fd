"""Serving artefacts from a PEFT adapter: the adapter directory itself (TGI's LORA_ADAPTERS) and a
GGUF LoRA for llama.cpp, made by llama.cpp's own converter (installed from the pinned sdist)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def converter_dir() -> Path:
    import llama_cpp

    d = Path(sys.prefix) / "share" / "llama.cpp-tools" / llama_cpp.__version__
    if not (d / "convert_lora_to_gguf.py").exists():
        raise FileNotFoundError(f"{d}/convert_lora_to_gguf.py missing: run scripts/install.sh")
    return d


def adapter_to_gguf(adapter_dir: Path, base_dir: Path, out_file: Path) -> Path:
    tools = converter_dir()
    env = {**os.environ, "PYTHONPATH": f"{tools / 'gguf-py'}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
           "NO_LOCAL_GGUF": ""}
    out = subprocess.run([sys.executable, str(tools / "convert_lora_to_gguf.py"), str(adapter_dir), "--base",
                          str(base_dir), "--outtype", "f16", "--outfile", str(out_file)],
                         capture_output=True, text=True, env=env, timeout=600)
    if out.returncode != 0 or not out_file.exists():
        raise RuntimeError(f"LoRA -> GGUF conversion failed: {out.stderr[-1500:]}")
    return out_file
