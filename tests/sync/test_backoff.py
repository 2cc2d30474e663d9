"""Webhook retry schedule: growing jittered waits, a cap, a three-day horizon, then give up."""

import random

import pytest

from app.sync.backoff import (
    DISABLE_AFTER_CONSECUTIVE_FAILURES,
    MAX_ATTEMPTS,
    MAX_STEP,
    MAX_TOTAL_DELAY,
    RETRY_BASE,
    next_retry_delay,
    retry_step,
    should_disable_endpoint,
)

THREE_DAYS = 3 * 24 * 60 * 60
TWELVE_HOURS = 12 * 60 * 60
RETRIES = range(1, MAX_ATTEMPTS)  # the failed-attempt counts that still get a retry


def test_constants_match_the_documented_schedule():
    assert RETRY_BASE == 60
    assert MAX_STEP == TWELVE_HOURS
    assert MAX_TOTAL_DELAY == THREE_DAYS
    assert MAX_ATTEMPTS == 15
    assert DISABLE_AFTER_CONSECUTIVE_FAILURES == 50


def test_first_step_is_one_minute_and_steps_double():
    assert retry_step(1) == 60
    assert retry_step(2) == 120
    assert retry_step(3) == 240
    assert retry_step(10) == 60 * 2**9


def test_expected_steps_never_decrease():
    steps = [retry_step(n) for n in range(1, 100)]
    assert steps == sorted(steps)


def test_steps_are_capped_at_twelve_hours():
    assert max(retry_step(n) for n in range(1, 100)) == TWELVE_HOURS
    assert retry_step(11) == TWELVE_HOURS  # 60 * 2**10 would be ~17 hours
    assert retry_step(10**9) == TWELVE_HOURS


def test_every_delay_lies_within_half_and_all_of_its_step():
    rng = random.Random(1)
    for _ in range(200):
        for n in RETRIES:
            delay = next_retry_delay(n, rng)
            assert delay is not None
            assert 0.5 * retry_step(n) <= delay <= retry_step(n)


def test_jitter_actually_varies():
    rng = random.Random(2)
    delays = {next_retry_delay(5, rng) for _ in range(50)}
    assert len(delays) > 40
    assert min(delays) < 0.6 * retry_step(5)
    assert max(delays) > 0.9 * retry_step(5)


def test_jitter_bounds_are_inclusive_of_the_extremes():
    class Extremes(random.Random):
        def __init__(self, value):
            super().__init__()
            self.value = value

        def random(self):
            return self.value

    assert next_retry_delay(3, Extremes(0.0)) == 0.5 * 240
    assert next_retry_delay(3, Extremes(1.0)) == 240


def test_total_wait_stays_within_three_days():
    assert sum(retry_step(n) for n in RETRIES) <= THREE_DAYS
    rng = random.Random(3)
    for _ in range(100):
        assert sum(next_retry_delay(n, rng) for n in RETRIES) <= THREE_DAYS


def test_max_attempts_is_the_last_attempt_that_fits_in_three_days():
    # One more retry would push the nominal total past three days.
    assert sum(retry_step(n) for n in range(1, MAX_ATTEMPTS + 1)) > THREE_DAYS


def test_gives_up_after_max_attempts():
    assert next_retry_delay(MAX_ATTEMPTS - 1) is not None
    assert next_retry_delay(MAX_ATTEMPTS) is None
    assert next_retry_delay(MAX_ATTEMPTS + 1) is None
    assert next_retry_delay(10**6) is None


def test_a_seeded_rng_gives_the_same_schedule():
    first = [next_retry_delay(n, random.Random(42)) for n in RETRIES]
    second = [next_retry_delay(n, random.Random(42)) for n in RETRIES]
    assert first == second
    rng_a, rng_b = random.Random(7), random.Random(7)
    assert [next_retry_delay(n, rng_a) for n in RETRIES] == [
        next_retry_delay(n, rng_b) for n in RETRIES
    ]


def test_without_an_rng_the_default_one_is_used():
    delay = next_retry_delay(1)
    assert delay is not None
    assert 30 <= delay <= 60


@pytest.mark.parametrize("attempt", [0, -1])
def test_attempts_count_from_one(attempt):
    with pytest.raises(ValueError):
        next_retry_delay(attempt)
    with pytest.raises(ValueError):
        retry_step(attempt)


def test_endpoint_is_disabled_at_fifty_consecutive_failures():
    assert not should_disable_endpoint(0)
    assert not should_disable_endpoint(DISABLE_AFTER_CONSECUTIVE_FAILURES - 1)
    assert should_disable_endpoint(DISABLE_AFTER_CONSECUTIVE_FAILURES)
    assert should_disable_endpoint(DISABLE_AFTER_CONSECUTIVE_FAILURES + 10)
