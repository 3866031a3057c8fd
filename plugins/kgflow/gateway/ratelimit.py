"""Admission: a per-worker concurrency limit and a per-caller rate limit (shared through `limits` storage)."""

from __future__ import annotations

import logging
import time

log = logging.getLogger("kgflow.gateway")


class ConcurrencyLimit:
    """At most `limit` generation requests at once in this worker; one more is refused at once (TGI's
    "overloaded"), never queued without bound. Used from the event loop only, so no lock."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.active = 0

    def try_acquire(self) -> bool:
        if self.active >= self.limit:
            return False
        self.active += 1
        return True

    def release(self) -> None:
        self.active = max(0, self.active - 1)


class RateLimiter:
    """Per-caller limit: `rate` requests a second on average, bursts up to `burst` (a moving window of
    `burst` requests per burst/rate seconds), kept by the `limits` library in `storage`: memory:// counts
    in this process only (one worker), redis:// is shared by every worker and replica using that Redis.
    A storage that fails lets the request through, logged: the limit protects capacity, not access."""

    def __init__(self, rate: float, burst: int, storage: str = "memory://") -> None:
        from limits import RateLimitItemPerSecond
        from limits.storage import storage_from_string
        from limits.strategies import MovingWindowRateLimiter

        self.rate, self.burst = rate, burst
        self.item = RateLimitItemPerSecond(burst, max(1, round(burst / rate)))
        self._limiter = MovingWindowRateLimiter(storage_from_string(storage))

    def acquire(self, key: str) -> float:
        """0.0 when allowed; otherwise seconds until the caller may try again."""
        try:
            if self._limiter.hit(self.item, "kgflow", key):
                return 0.0
            reset, _ = self._limiter.get_window_stats(self.item, "kgflow", key)
        except Exception as e:  # noqa: BLE001 - any storage failure: serve rather than refuse everyone
            log.warning("rate-limit storage unavailable (%s): request allowed", e)
            return 0.0
        return max(0.05, reset - time.time())
