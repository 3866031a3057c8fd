"""Local deployer: llama.cpp server processes on this machine, one per slot, LoRA GGUF attached."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from kgflow.deploy.base import Deployer, DeployError, Endpoint
from kgflow.llm.llamacpp_server import LlamaServer
from kgflow.netutil import wait_http


class LocalDeployer(Deployer):
    backend = "llamacpp"

    @classmethod
    def from_settings(cls, settings) -> LocalDeployer:
        return cls(settings.home / "deploy", n_ctx=settings.llm_n_ctx, model_path=settings.llm_model_path)

    def __init__(self, state_dir: Path, n_ctx: int = 2048, threads: int | None = None,
                 model_path: Path | None = None) -> None:
        super().__init__(state_dir)
        self.n_ctx = n_ctx
        self.threads = threads
        self.model_path = model_path  # None: the packaged model

    def start(self, version: str, artefacts: Path | None, slot: str) -> Endpoint:
        lora = artefacts / "lora.gguf" if artefacts is not None else None
        if lora is not None and not lora.exists():
            raise DeployError(f"version {version} has no llama.cpp adapter ({lora})")
        server = LlamaServer(self.model_path, lora_path=str(lora) if lora else None, n_ctx=self.n_ctx,
                             threads=self.threads,
                             log_path=self.state_dir / f"llama-{slot}-{version}.log")
        try:
            # not supervised by this (short-lived) task process: the server outlives it in its own session
            server.start(supervise=False)
        except RuntimeError as e:
            raise DeployError(f"{slot} server for {version} failed to start: {e}") from e
        return Endpoint(slot, server.url, version, str(server._proc.pid))

    def wait_healthy(self, ep: Endpoint, timeout_s: float) -> bool:
        return wait_http(f"{ep.url}/v1/models", timeout_s, ok_below=300)

    def stop(self, ep: Endpoint) -> None:
        pid = int(ep.handle)
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(pid, sig)
            except ProcessLookupError:
                return
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                try:
                    os.kill(pid, 0)
                    if _reap(pid):
                        return
                except ProcessLookupError:
                    return
                time.sleep(0.2)


def _reap(pid: int) -> bool:
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == pid
    except ChildProcessError:
        return False
