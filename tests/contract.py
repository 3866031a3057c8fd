"""What every seam's contract test shares: it runs once per implementation in the seam's registry
(kgflow.seams), kgflow's own and any installed plug-in's, each in the environment it needs.

A plug-in that extends one of kgflow's implementations runs in that one's environment; an implementation with
no environment fails its contract tests, saying where to add one, rather than being skipped."""

from __future__ import annotations

from typing import TypeVar

import pytest

from kgflow.registry import Registry

T = TypeVar("T")


def implementations(registry: Registry) -> list[str]:
    """The names to parametrize a contract test over (read when the tests are collected)."""
    return registry.names()


def _kind(impl: object) -> type:
    return impl if isinstance(impl, type) else type(impl)


def environment(registry: Registry, name: str, environments: dict[str, T]) -> T:
    """`environments[name]`, or that of the registered implementation `name` extends (nearest first)."""
    if name in environments:
        return environments[name]
    kind = _kind(registry.resolve(name))
    for base in kind.__mro__:
        for known, env in environments.items():
            if _kind(registry.resolve(known)) is base:
                return env
    pytest.fail(f"no contract environment for {registry.concern} {name!r}: add one where its contract test "
                "builds the others")
