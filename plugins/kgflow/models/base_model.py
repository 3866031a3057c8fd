"""The trainable base: the packaged GGUF, dequantised once by transformers into an HF directory
(config.json with Gemma3ForCausalLM, safetensors, tokenizer) that PEFT, llama.cpp's converter and
TGI all read. Cached under $KGFLOW_HOME/models/base/<name>."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from kgflow.config import Settings
from kgflow.llm.llamacpp_server import packaged_model_path


def hf_base_dir(s: Settings, name: str | None = None) -> Path:
    name = name or s.base_model
    out = s.models_dir / "base" / name
    if (out / "config.json").exists():
        return out
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = Path(packaged_model_path(s.llm_model_path))
    tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    # a GGUF-dequantised model must forget its quantizer before it can be saved as plain weights
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    tok.save_pretrained(tmp)
    cfg = json.loads((tmp / "config.json").read_text())
    cfg["architectures"] = ["Gemma3ForCausalLM"]
    cfg.pop("quantization_config", None)
    (tmp / "config.json").write_text(json.dumps(cfg, indent=2))
    tmp.rename(out)
    return out
