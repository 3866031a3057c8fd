"""Model registry: versions with metadata, artefacts and a status; promote and roll back.

Layout: <models>/registry/registry.json and one directory per version (adapter/, lora.gguf,
report.json). Writes are atomic (temp file + rename) under an exclusive file lock.
"""

from __future__ import annotations

import fcntl
import json
import shutil
import time
from contextlib import contextmanager
from pathlib import Path

from kgflow.errors import KgflowError
from kgflow.fsutil import atomic_write_text

STATUSES = ("candidate", "live", "rejected", "retired")


class RegistryError(KgflowError):
    """A model version that does not exist, or a status it cannot take."""
    status, error_type = 409, "registry"


class ModelRegistry:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._file = self.root / "registry.json"

    @contextmanager
    def _locked(self):
        with open(self.root / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            data = json.loads(self._file.read_text()) if self._file.exists() else {"versions": []}
            yield data
            atomic_write_text(self._file, json.dumps(data, indent=2))

    def versions(self) -> list[dict]:
        return json.loads(self._file.read_text())["versions"] if self._file.exists() else []

    def get(self, version: str) -> dict:
        for v in self.versions():
            if v["version"] == version:
                return v
        raise RegistryError(f"unknown model version {version}")

    def live(self) -> dict | None:
        return next((v for v in self.versions() if v["status"] == "live"), None)

    def path(self, version: str) -> Path:
        return self.root / version

    def register(self, artefacts: Path, metadata: dict, status: str = "candidate") -> dict:
        """Copy a candidate's artefacts in and record it; returns the new entry."""
        if status not in STATUSES:
            raise RegistryError(f"bad status {status}")
        with self._locked() as data:
            version = f"m{len(data['versions']) + 1:04d}"
            shutil.copytree(artefacts, self.root / version)
            created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            entry = {"version": version, "status": status, "created": created,
                     "history": [[status, time.time()]], **metadata}
            data["versions"].append(entry)
        return entry

    def set_status(self, version: str, status: str, **extra) -> dict:
        with self._locked() as data:
            entry = next((v for v in data["versions"] if v["version"] == version), None)
            if entry is None:
                raise RegistryError(f"unknown model version {version}")
            if status == "live":
                for v in data["versions"]:
                    if v["status"] == "live" and v["version"] != version:
                        v["status"] = "retired"
                        v["history"].append(["retired", time.time()])
            entry["status"] = status
            entry["history"].append([status, time.time()])
            entry.update(extra)
            return dict(entry)

    def promote(self, version: str) -> dict:
        return self.set_status(version, "live")

    def previous_live(self, than: str | None = None) -> dict | None:
        """The most recent version that was live before `than` (or before the current live one)."""
        current = than or (self.live() or {}).get("version")
        was_live = [v for v in self.versions() if any(h[0] == "live" for h in v["history"]) and v["version"] != current]
        return max(was_live, key=lambda v: max(h[1] for h in v["history"] if h[0] == "live"), default=None)
