"""A landing zone that nothing escapes: walk it without following links out, open files relative to it.

Enterprise shares hold symlinks, names that are not UTF-8, FIFOs and unreadable files. Every entry the
walk meets is either a regular file inside the root or a `Rejected` entry carrying a quarantine reason;
nothing outside the root is ever opened, and a rejected entry's detail never shows a link's target.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote_from_bytes

from kgflow.sources.base import PathEscape, SourceRefused

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC  # NONBLOCK: a FIFO never hangs us


@dataclass(frozen=True)
class Entry:
    """One landing-zone entry: `rel` is the path below the root as the OS spells it (bytes)."""

    rel: bytes
    size: int
    reason: str | None = None  # set for entries that are quarantined without being read
    detail: str | None = None

    @property
    def rel_quoted(self) -> str:
        """ASCII-safe form for tables and URIs; `urllib.parse.unquote_to_bytes` gives the bytes back."""
        return quote_from_bytes(self.rel, safe="/")

    @property
    def parts(self) -> list[str]:
        return os.fsdecode(self.rel).split("/")




def check_source(root: Path, forbidden: list[Path]) -> Path:
    """The real path of `root`, refused when it is missing or contains/lies in a forbidden place."""
    if not root.is_dir():
        raise SourceRefused(f"source {root} does not exist or is not a directory")
    real = Path(os.path.realpath(root))
    for f in forbidden:
        fr = Path(os.path.realpath(f))
        if real == fr or fr.is_relative_to(real):
            raise SourceRefused(f"source {root} contains {f}, which kgflow never reads: point the source at a folder "
                                "that holds only documents")
        if real.is_relative_to(fr):
            raise SourceRefused(f"source {root} lies inside {f}, which kgflow never reads")
    return real


def walk(root: Path, follow_symlinks: bool = False, forbidden: list[Path] | None = None) -> Iterator[Entry]:
    """Every file below `root` (hidden ones skipped), sorted; links and special files as rejected entries.

    With follow_symlinks, a link is followed only when its target lies inside the root (directories too,
    each real directory once); a link out of the root, a dangling or looping one is rejected either way.
    """
    real_root = os.fsencode(os.path.realpath(root))
    banned = {os.fsencode(os.path.realpath(f)) for f in forbidden or []}
    seen_dirs: set[tuple[int, int]] = set()
    stack: list[bytes] = [b""]
    while stack:
        rel_dir = stack.pop()
        abs_dir = os.path.join(real_root, rel_dir) if rel_dir else real_root
        try:
            st = os.stat(abs_dir)
            if (st.st_dev, st.st_ino) in seen_dirs:
                continue
            seen_dirs.add((st.st_dev, st.st_ino))
            with os.scandir(abs_dir) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as e:
            if rel_dir:
                yield Entry(rel_dir, 0, "unreadable", f"folder cannot be listed: {os.strerror(e.errno or 0)}")
            continue
        subdirs = []
        for e in entries:
            if e.name.startswith(b"."):
                continue  # hidden files, editors' temp files, .snapshot folders: not documents
            rel = os.path.join(rel_dir, e.name) if rel_dir else e.name
            try:
                if e.is_symlink():
                    entry, is_dir = _symlink(real_root, rel, follow_symlinks, banned)
                    if is_dir:
                        subdirs.append(rel)
                    elif entry is not None:
                        yield entry
                    continue
                st = e.stat(follow_symlinks=False)
            except OSError as err:
                yield Entry(rel, 0, "unreadable", f"cannot stat: {os.strerror(err.errno or 0)}")
                continue
            if os.path.join(real_root, rel) in banned:
                yield Entry(rel, 0, "forbidden", "a kgflow secret or state file is never a document")
            elif stat.S_ISDIR(st.st_mode):
                subdirs.append(rel)
            elif stat.S_ISREG(st.st_mode):
                yield Entry(rel, st.st_size)
            else:
                yield Entry(rel, 0, "unsupported", "not a regular file (FIFO, socket or device)")
        stack.extend(reversed(subdirs))


def _symlink(real_root: bytes, rel: bytes, follow: bool, banned: set[bytes]) -> tuple[Entry | None, bool]:
    target = os.path.realpath(os.path.join(real_root, rel))
    inside = target.startswith(real_root + b"/")
    if not os.path.exists(target):
        return Entry(rel, 0, "symlink", "dangling symbolic link"), False
    if not inside or target in banned:
        return Entry(rel, 0, "symlink", "symbolic link to a file outside the source: never followed"), False
    if not follow:
        return Entry(rel, 0, "symlink", "symbolic link not followed (KGFLOW_FOLLOW_SYMLINKS is off)"), False
    st = os.stat(target)
    if stat.S_ISDIR(st.st_mode):
        return None, True
    if not stat.S_ISREG(st.st_mode):
        return Entry(rel, 0, "unsupported", "link to something that is not a regular file"), False
    return Entry(rel, st.st_size), False


def open_under(root: Path, rel: bytes, follow_symlinks: bool = False):
    """Open a regular file below `root` for binary reading, component by component with O_NOFOLLOW, so
    no link or `..` escapes. With follow_symlinks, links are resolved first and the result must still
    lie inside the root. Raises PathEscape for anything that would leave the root, OSError for the rest.
    """
    real_root = os.fsencode(os.path.realpath(root))
    if os.path.isabs(rel) or b".." in rel.split(b"/"):
        raise PathEscape(errno.EPERM, "path leaves the source root")
    if follow_symlinks:
        target = os.path.realpath(os.path.join(real_root, rel))
        if not target.startswith(real_root + b"/"):
            raise PathEscape(errno.EPERM, "symbolic link leaves the source root")
        rel = target[len(real_root) + 1:]
    parts = [p for p in rel.split(b"/") if p]
    if not parts:
        raise PathEscape(errno.EPERM, "empty path")
    fd = os.open(real_root, _DIR_FLAGS)
    try:
        for part in parts[:-1]:
            nxt = os.open(part, _DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = nxt
        try:
            ffd = os.open(parts[-1], _FILE_FLAGS, dir_fd=fd)
        except OSError as e:
            if e.errno == errno.ELOOP:
                raise PathEscape(errno.ELOOP, "is a symbolic link") from e
            raise
    finally:
        os.close(fd)
    f = os.fdopen(ffd, "rb")
    if not stat.S_ISREG(os.fstat(ffd).st_mode):
        f.close()
        raise OSError(errno.EINVAL, "not a regular file")
    return f
