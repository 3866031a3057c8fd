"""A folder on this host (or a mounted share): walked without leaving it, each file hashed as its version.

Hashing every file makes a touched-but-identical file "unchanged" and costs one read per file per run;
the walk and the component-by-component open live in `landing.py`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO
from urllib.parse import unquote_to_bytes

from kgflow.config import SourceConfig
from kgflow.ids import sha256_stream
from kgflow.sources.base import DocumentSource, Listed, SourceRefused, marker_version
from kgflow.sources.landing import check_source, open_under, walk
from kgflow.sources.policy import DepartmentMapping


class LocalSource(DocumentSource):
    version_is_sha256 = True
    schemes = ("", "file")

    def __init__(self, config: SourceConfig, policy: DepartmentMapping, follow_symlinks: bool = False,
                 forbidden: list[Path] | None = None) -> None:
        super().__init__(config, policy)
        self.root = Path(config.url.removeprefix("file://")).expanduser()
        self.follow_symlinks = follow_symlinks
        self.forbidden = forbidden or []

    def check(self) -> None:
        try:
            self.root = check_source(self.root, self.forbidden)
        except SourceRefused as e:
            raise SourceRefused(f"{self.name}: {e}") from None

    def list(self) -> Iterator[Listed]:
        root = Path(os.path.realpath(self.root))
        for entry in walk(root, self.follow_symlinks, self.forbidden):
            dept, acl, reason, detail = self._assign(entry.parts)
            reason, detail = entry.reason or reason, entry.detail or detail
            sha = None
            if reason is None:
                try:
                    with open_under(root, entry.rel, self.follow_symlinks) as f:
                        sha = sha256_stream(f)
                except OSError as e:  # vanished, permission denied, turned into a link since the walk
                    reason, detail = "unreadable", f"cannot be read: {os.strerror(e.errno or 0)}"
            yield Listed(entry.rel_quoted, root.as_uri() + "/" + entry.rel_quoted, entry.size,
                         sha or marker_version(reason, entry.size), dept, acl, reason, detail)

    def open(self, rel: str) -> BinaryIO:
        return open_under(self.root, unquote_to_bytes(rel), self.follow_symlinks)
