"""Deployer: start a model version beside the live one (blue/green), check it, stop the old one."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass
from pathlib import Path

from kgflow.errors import KgflowError
from kgflow.fsutil import atomic_write_text

SLOTS = ("blue", "green")


@dataclass
class Endpoint:
    slot: str
    url: str
    version: str
    handle: str  # pid (local) or container id (docker)


class DeployError(KgflowError):
    """A model version could not be deployed (and was rolled back); the message says why."""
    status, error_type = 500, "deploy"


class Deployer(ABC):
    """One serving slot per colour; `state.json` remembers which endpoint is live."""

    backend: str = "llamacpp"  # the generation backend (kgflow.seams.LLM_BACKENDS) its endpoints speak

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = Path(state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True)

    @classmethod
    @abstractmethod
    def from_settings(cls, settings) -> Deployer:
        """The deployer KGFLOW_DEPLOYER names, configured by the rest of the settings (state in <home>/deploy)."""

    @abstractmethod
    def start(self, version: str, artefacts: Path | None, slot: str) -> Endpoint: ...

    @abstractmethod
    def stop(self, ep: Endpoint) -> None: ...

    @abstractmethod
    def wait_healthy(self, ep: Endpoint, timeout_s: float) -> bool: ...

    def activate(self, ep: Endpoint, settings) -> None:  # noqa: B027 - optional hook
        """Before the gateway switches to `ep`: whatever else must point at it (a Kubernetes Service).
        Raises DeployError to roll back."""

    def restore(self, old: Endpoint | None) -> None:  # noqa: B027 - optional hook
        """On rollback: undo `activate`, pointing back at `old`."""

    def live(self) -> Endpoint | None:
        f = self.state_dir / "state.json"
        if not f.exists():
            return None
        data = json.loads(f.read_text()).get("live")
        return Endpoint(**data) if data else None

    def record_live(self, ep: Endpoint) -> None:
        atomic_write_text(self.state_dir / "state.json", json.dumps({"live": asdict(ep)}, indent=2))

    def next_slot(self) -> str:
        live = self.live()
        return "green" if live is None or live.slot == "blue" else "blue"
