from kgflow.gateway.ratelimit import RateLimiter


def test_burst_is_allowed_then_limited():
    rl = RateLimiter(rate=10, burst=20)
    assert [rl.acquire("k") for _ in range(20)] == [0.0] * 20
    assert rl.acquire("k") > 0


def test_callers_have_separate_buckets():
    rl = RateLimiter(rate=1, burst=1)
    assert rl.acquire("a") == 0.0 and rl.acquire("b") == 0.0
    assert rl.acquire("a") > 0
