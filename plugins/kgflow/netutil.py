"""Local services: a free loopback port to start one on, and waiting for it to come up."""

from __future__ import annotations

import socket
import time
import urllib.request
from collections.abc import Callable


def wait_http(url: str, timeout_s: float, alive: Callable[[], bool] | None = None, ok_below: int = 500,
              ready: Callable[[bytes], bool] | None = None) -> bool:
    """True once `url` answers below `ok_below` (and `ready(body)` holds, when given); False on timeout or
    when `alive()` says the process died."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status < ok_below and (ready is None or ready(r.read())):
                    return True
        except OSError:
            pass
        if alive is not None and not alive():
            return False
        time.sleep(0.3)
    return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_free(port: int) -> bool:
    """Whether a service could listen on this loopback port now. SO_REUSEADDR, as servers set it: connections
    of a stopped one lingering in TIME_WAIT do not hold the port."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False
