"""Waiting for a local HTTP service to come up."""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Callable


def wait_http(url: str, timeout_s: float, alive: Callable[[], bool] | None = None, ok_below: int = 500) -> bool:
    """True once `url` answers below `ok_below`; False on timeout or when `alive()` says the process died."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status < ok_below:
                    return True
        except OSError:
            pass
        if alive is not None and not alive():
            return False
        time.sleep(0.3)
    return False
