"""The live generation endpoint, shared by every gateway worker and replica through one state file.

The deployer (or `POST /admin/upstream`) writes the file; each worker's BackendRouter looks at it at
most once a second, the way the retrieval engine follows `index/CURRENT`, and switches when it changed.
So a deploy reaches every worker of every replica that shares the volume, and the deployer never talks
to a gateway's internals. On the embedded default the file lives under the kgflow home; in compose, on
the shared `var` volume.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from kgflow.fsutil import atomic_write_text


@dataclass(frozen=True)
class Upstream:
    backend: str  # a name in kgflow.llm.BACKENDS
    url: str
    label: str  # what /info reports: the model version, a slot name
    model: str | None = None
    updated: float = field(default_factory=time.time)


class UpstreamFile:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def write(self, upstream: Upstream) -> None:
        atomic_write_text(self.path, json.dumps(asdict(upstream), indent=2))

    def read(self) -> Upstream | None:
        """The recorded upstream; None when none was ever recorded (or the file is unreadable: a worker
        keeps what it has rather than fail requests over a damaged file)."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            return Upstream(**{k: data[k] for k in ("backend", "url", "label", "model", "updated") if k in data})
        except (OSError, ValueError, TypeError, KeyError):
            return None

    def stamp(self) -> tuple[int, int] | None:
        """(mtime ns, size): cheap to compare on a request path."""
        try:
            st = self.path.stat()
        except OSError:
            return None
        return st.st_mtime_ns, st.st_size
