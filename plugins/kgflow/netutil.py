"""Local services: a free loopback port to start one on, and waiting for it to come up."""

from __future__ import annotations

import socket
import time
import urllib.request
from collections.abc import Callable


def wait_until(ready: Callable[[], bool], timeout_s: float, interval_s: float = 0.3,
               alive: Callable[[], bool] | None = None) -> bool:
    """The one readiness wait: True once `ready()` holds; False on timeout, or as soon as `alive()` says what
    was being waited for is gone (a process that died, a container that exited)."""
    deadline = time.monotonic() + timeout_s
    while True:
        if ready():
            return True
        if (alive is not None and not alive()) or time.monotonic() >= deadline:
            return False
        time.sleep(interval_s)


def wait_http(url: str, timeout_s: float, alive: Callable[[], bool] | None = None, ok_below: int = 500,
              ready: Callable[[bytes], bool] | None = None, interval_s: float = 0.3) -> bool:
    """True once `url` answers below `ok_below` (and `ready(body)` holds, when given); False on timeout or
    when `alive()` says the process died."""
    def answers() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                return r.status < ok_below and (ready is None or ready(r.read()))
        except OSError:
            return False

    return wait_until(answers, timeout_s, interval_s, alive)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether a service could listen on this port of `host` now. SO_REUSEADDR, as servers set it: connections
    of a stopped one lingering in TIME_WAIT do not hold the port."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
            return True
        except OSError:
            return False
