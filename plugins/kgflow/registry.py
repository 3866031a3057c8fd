"""One way to pick an implementation by configuration: a registry maps names to "module:attribute".

A setting names a registered implementation, or gives an import path of its own ("package.module:attr"),
so a plug-in outside kgflow is one module plus one setting. Nothing is imported until it is asked for.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from kgflow.errors import KgflowError


class UnknownImplementation(KgflowError, ValueError):
    """A setting named no registered implementation and no importable "module:attribute"."""
    status, error_type = 400, "configuration"


def resolve(registry: dict[str, str], name: str, concern: str) -> Any:
    target = registry.get(name, name)
    if ":" not in target:
        raise UnknownImplementation(f"unknown {concern} {name!r}: choose one of {', '.join(registry)}, "
                                    "or give an import path such as 'mypackage.module:attribute'")
    module, attr = target.split(":", 1)
    try:
        return getattr(import_module(module), attr)
    except (ImportError, AttributeError) as e:
        raise UnknownImplementation(f"{concern} {name!r} cannot be imported ({target}): {e}") from e
