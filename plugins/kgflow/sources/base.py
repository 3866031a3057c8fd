"""The source seam: where documents come from, listed with a version and read as byte streams.

A source lists what it holds (path below its root, uri, version, size, department) and opens one
document as a stream. Discovery diffs the listing against the manifest; Spark executors rebuild the
source from its `SourceConfig` and read through it, so an executor on another host reads S3 itself.
Nothing a source lists or opens lies outside its root.
"""

from __future__ import annotations

import errno
import hashlib
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO
from urllib.parse import quote, unquote

from kgflow.config import SourceConfig
from kgflow.errors import KgflowError
from kgflow.ids import sha256_stream, stable_id
from kgflow.sources.policy import DepartmentMapping, InvalidDepartment


class SourceRefused(KgflowError):
    """The configured source itself may not be read (a run-level configuration error)."""
    status, error_type, permanent = 403, "forbidden", True


class PathEscape(KgflowError, OSError):
    """A relative path that would leave the source root (.., an absolute path, a link pointing out)."""
    status, error_type = 403, "forbidden"


class FileTooLarge(KgflowError, OSError):
    status, error_type = 413, "payload_too_large"

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(errno.EFBIG, f"{size} bytes exceeds the limit of {limit}")
        self.size, self.limit = size, limit


@dataclass(frozen=True)
class Listed:
    """One entry of a listing. `rel` is the percent-quoted path below the root (ASCII, '/'-separated).

    `version` changes whenever the content may have changed (the sha256 for a folder, an object's ETag);
    an entry with a `reason` is quarantined without ever being read."""

    rel: str
    uri: str
    size: int
    version: str
    department: str = ""
    acl: tuple[str, ...] = ()
    reason: str | None = None
    detail: str | None = None

    @property
    def name(self) -> str:
        return file_name(self.rel)


def file_name(rel: str) -> str:
    """The file's own name from its percent-quoted path (for its format and a fallback title); bytes that
    are no UTF-8 read as U+FFFD."""
    return unquote(rel.rsplit("/", 1)[-1], errors="replace")


def document_id(source: str, rel: str) -> str:
    """A document is its place: the source it lives in and its path there. Two sources never share one."""
    return stable_id("doc", source, rel)


def quote_rel(rel: str | bytes) -> str:
    return quote(rel, safe="/")


def marker_version(reason: str | None, size: int) -> str:
    """The version of an entry that is never read (a link, an unreadable file): its kind and size, so it
    is quarantined once and not again until it changes, without touching what it points to."""
    return hashlib.sha256(f"{reason}:{size}".encode()).hexdigest()


class DocumentSource(ABC):
    """One configured source. Subclasses list and open; reading limits and hashing are shared."""

    version_is_sha256 = False  # True when `Listed.version` is already the content's sha256
    schemes: tuple[str, ...] = ()  # the URL schemes this kind reads ("" a plain path; "*" any no kind names)

    def __init__(self, config: SourceConfig, policy: DepartmentMapping) -> None:
        self.config = config
        self.policy = policy

    @property
    def name(self) -> str:
        return self.config.name

    @abstractmethod
    def list(self) -> Iterator[Listed]:
        """Every document below the root (hidden names skipped), with entries that must not be read
        carrying their quarantine reason."""

    @abstractmethod
    def open(self, rel: str) -> BinaryIO:
        """A binary stream of the document at `rel`; PathEscape for anything that would leave the root."""

    @abstractmethod
    def check(self) -> None:
        """Raise SourceRefused when the source cannot be read at all (run-level, before any listing)."""

    def read(self, rel: str, max_bytes: int | None = None) -> bytes:
        """The whole document, refusing more than max_bytes even when it grows while read."""
        with self.open(rel) as f:
            data = f.read(max_bytes + 1 if max_bytes is not None else -1)
        if max_bytes is not None and len(data) > max_bytes:
            raise FileTooLarge(len(data), max_bytes)
        return data

    def sha256(self, rel: str) -> str:
        with self.open(rel) as f:
            return sha256_stream(f)

    def _assign(self, parts: list[str]) -> tuple[str, tuple[str, ...], str | None, str | None]:
        try:
            dept, acl = self.policy.assign(parts)
            return dept, tuple(acl), None, None
        except InvalidDepartment as e:
            return "", (), "invalid_department", str(e)
