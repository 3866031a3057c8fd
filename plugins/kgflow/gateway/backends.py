"""Which backend serves generation, switchable at run time (blue/green) without dropping requests:
a request keeps the backend object it started with; a switch only affects later requests.

A router built from configuration follows the shared upstream file (kgflow.llm.upstream): every
worker of every replica switches within a second of the deployer recording a new live endpoint.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from kgflow.llm.base import LLMBackend
from kgflow.llm.upstream import Upstream, UpstreamFile

log = logging.getLogger("kgflow.gateway")
FOLLOW_EVERY_S = 1.0


class BackendRouter:
    def __init__(self, primary: LLMBackend, fallback: LLMBackend | None = None, label: str = "primary",
                 follow: UpstreamFile | None = None, build: Callable[[Upstream], LLMBackend] | None = None,
                 drain_s: float = 30.0) -> None:
        self._current = primary
        self.fallback = fallback
        self.label = label
        self.upstream: Upstream | None = None
        self._follow, self._build, self._drain_s = follow, build, drain_s
        self._checked = float("-inf")
        self._stamp: tuple[int, int] | None = None

    @property
    def current(self) -> LLMBackend:
        if self._follow is not None and time.monotonic() - self._checked >= FOLLOW_EVERY_S:
            self._checked = time.monotonic()
            self._follow_file()
        return self._current

    def _follow_file(self) -> None:
        stamp = self._follow.stamp()
        if stamp is None or stamp == self._stamp:
            return
        self._stamp = stamp
        up = self._follow.read()
        if up is None or (self.upstream and (up.backend, up.url, up.label) ==
                          (self.upstream.backend, self.upstream.url, self.upstream.label)):
            return
        try:
            backend = self._build(up)
        except (KeyError, ValueError) as e:
            log.error("recorded upstream %s is unusable (%s): keeping %s", up.url, e, self.label)
            return
        log.info("following the recorded upstream: %s (%s) replaces %s", up.label, up.url, self.label)
        self._swap(backend, up.label)
        self.upstream = up

    def _swap(self, backend: LLMBackend, label: str) -> None:
        old, self._current, self.label = self._current, backend, label
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop (a synchronous caller): the old client is left to the garbage collector
        # in-flight requests still hold `old`; close it once they have had time to finish
        loop.call_later(self._drain_s, lambda: asyncio.ensure_future(old.aclose()))

    async def switch(self, backend: LLMBackend, label: str, record: Upstream | None = None) -> None:
        """Switch this worker now; with `record`, write it for every other worker and replica too."""
        self._swap(backend, label)
        if record is not None:
            self.upstream = record
            if self._follow is not None:
                self._follow.write(record)
                self._stamp = self._follow.stamp()

    async def aclose(self) -> None:
        for b in (self._current, self.fallback):
            if b is not None:
                await b.aclose()
