"""Any fsspec URL (s3://, gs://, abfs://, memory://, ...): listed with its ETag as version, read as streams.

An object store has no links and no `..`: keys are literal. A key is still refused when it could mean
something else to a filesystem-like backend (empty, `.` or `..` components), and a listing never yields a
key that only shares the root's prefix (`docs-old/` beside `docs/`). Credentials come from the store's own
environment chain (AWS_* variables, profiles, instance roles), never from kgflow's configuration.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO
from urllib.parse import unquote

from kgflow.config import SourceConfig
from kgflow.sources.base import DocumentSource, Listed, PathEscape, SourceRefused, marker_version, quote_rel
from kgflow.sources.policy import DepartmentMapping


def _unreachable(e: BaseException) -> bool:
    """The store did not answer (connection refused, a timeout): transient, worth a retry."""
    chain = [e, e.__cause__, e.__context__]
    return any(isinstance(x, ConnectionError | TimeoutError) or "EndpointConnectionError" in type(x).__name__
               or "ConnectTimeout" in type(x).__name__ for x in chain if x is not None)


class ObjectStoreSource(DocumentSource):
    schemes = ("*",)  # whatever fsspec reads: s3://, gs://, abfs://, memory://, ...

    def __init__(self, config: SourceConfig, policy: DepartmentMapping, **_: object) -> None:
        super().__init__(config, policy)
        self._fs = None
        self._root = ""

    @property
    def fs(self):
        if self._fs is None:
            import fsspec

            self._fs, root = fsspec.core.url_to_fs(self.config.url, **self.config.storage_options)
            self._root = root.rstrip("/")
        return self._fs

    @property
    def root(self) -> str:
        _ = self.fs
        return self._root

    def check(self) -> None:
        try:
            ok = self.fs.isdir(self.root)
        except Exception as e:  # noqa: BLE001 - any client error (credentials, endpoint) is a refusal to say
            # an endpoint that did not answer may answer on a retry; refused credentials or a missing bucket not
            raise SourceRefused(f"source {self.name} ({self.config.url}) cannot be listed: "
                                f"{type(e).__name__}: {e}", permanent=not _unreachable(e)) from e
        if not ok:
            raise SourceRefused(f"source {self.name} ({self.config.url}) does not exist or holds nothing")

    def list(self) -> Iterator[Listed]:
        fs, root = self.fs, self.root
        for path, info in sorted(fs.find(root, detail=True).items()):
            if info.get("type") == "directory" or not path.startswith(root + "/"):
                continue
            key = path[len(root) + 1:]
            parts = key.split("/")
            if any(p.startswith(".") for p in parts if p):
                continue  # hidden files and folders, as on a file share
            size = int(info.get("size") or 0)
            rel = quote_rel(key)
            reason = detail = None
            if "" in parts:
                reason, detail = "unsupported", "object key with an empty path component"
            dept, acl, why, what = self._assign(parts)
            reason, detail = reason or why, detail or what
            etag = str(info.get("ETag") or info.get("etag") or "").strip('"')
            version = etag or f"{size}:{info.get('LastModified') or info.get('mtime') or info.get('created')}"
            yield Listed(rel, fs.unstrip_protocol(path), size,
                         marker_version(reason, size) if reason else version, dept, acl, reason, detail)

    def open(self, rel: str) -> BinaryIO:
        key = unquote(rel)
        if key.startswith("/") or any(p in ("", ".", "..") for p in key.split("/")):
            raise PathEscape(1, "path leaves the source root")
        return self.fs.open(f"{self.root}/{key}", "rb")
