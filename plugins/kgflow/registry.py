"""One way to pick an implementation by configuration, for every seam: a `Registry` maps names to
"module:attribute".

An implementation is found three ways, all the same to the code that asks: kgflow's own entries; an entry
point of an installed package, in the seam's group (`kgflow.sources`, `kgflow.graph_stores`, ...), so a
plug-in outside kgflow is one module and one entry in its own package metadata; or a setting that gives an
import path of its own ("package.module:attr"). Nothing is imported until it is asked for. The seams'
registries are in `kgflow.seams`; settings are checked against them.
"""

from __future__ import annotations

import sys
from difflib import get_close_matches
from functools import lru_cache
from importlib import import_module
from importlib.metadata import distributions
from typing import Any

from kgflow.errors import KgflowError


class UnknownImplementation(KgflowError, ValueError):
    """A setting named no registered implementation and no importable "module:attribute"."""
    status, error_type, permanent = 400, "configuration", True


@lru_cache(maxsize=4)
def _installed(path: tuple[str, ...]) -> dict[str, dict[str, str]]:
    """group -> name -> "module:attribute" of every installed package's kgflow entry points: one scan of the
    installed distributions per sys.path (settings are checked against the registries each time they are
    built, so the scan is not repeated for every field and every build)."""
    found: dict[str, dict[str, str]] = {}
    for dist in distributions():
        for ep in dist.entry_points:
            if ep.group.startswith("kgflow."):
                found.setdefault(ep.group, {}).setdefault(ep.name, ep.value)
    return found


class Registry:
    """One seam's implementations by name."""

    def __init__(self, concern: str, group: str, entries: dict[str, str]) -> None:
        self.concern, self.group = concern, group
        self._entries = dict(entries)

    def entries(self) -> dict[str, str]:
        """name -> "module:attribute": kgflow's own first, then installed packages' entry points."""
        installed = _installed(tuple(sys.path)).get(self.group, {})
        return {**self._entries, **{name: t for name, t in installed.items() if name not in self._entries}}

    def names(self) -> list[str]:
        return list(self.entries())

    def register(self, name: str, target: str) -> None:
        """Add an implementation at run time (a plug-in's own setup, a test)."""
        self._entries[name] = target

    def check(self, name: str) -> str:
        """A setting's value as given, when it names an implementation or an import path; else the error
        that lists the choices."""
        if name not in self.entries() and ":" not in name:
            close = get_close_matches(name, self.names(), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise UnknownImplementation(f"unknown {self.concern} {name!r}{hint}: choose one of "
                                        f"{', '.join(self.names())}, or give an import path such as "
                                        "'mypackage.module:attribute'")
        return name

    def resolve(self, name: str) -> Any:
        target = self.entries().get(self.check(name), name)
        module, attr = target.split(":", 1)
        try:
            return getattr(import_module(module), attr)
        except (ImportError, AttributeError) as e:
            raise UnknownImplementation(f"{self.concern} {name!r} cannot be imported ({target}): {e}") from e
