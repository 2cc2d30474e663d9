"""Webhook retry schedule: exponential backoff with jitter, when to give up, when to disable.

Failed attempt n (counting from 1) waits a step of `RETRY_BASE * 2**(n-1)` seconds, capped at
`MAX_STEP`, scaled by a random factor in [0.5, 1.0]. The jitter spreads retries out so that a
receiver coming back after an outage is not hit by every queued delivery in the same second;
the lower bound of one half keeps the schedule recognisably exponential.

Nominal steps (before jitter): 1m, 2m, 4m, 8m, 16m, 32m, 64m, ~2.1h, ~4.3h, ~8.5h, then 12h
each. Retries continue while the sum of nominal steps stays within `MAX_TOTAL_DELAY` (3 days):
ten growing steps add up to ~17h, four 12h steps bring it to ~65h, a fifth would pass 72h. So
there are 14 retries, and `MAX_ATTEMPTS` = 15 attempts in all (the first delivery included)
spread over at most 65 hours. Jitter only shortens steps, so the real total never exceeds the
nominal one.
"""

import random

RETRY_BASE = 60
MAX_STEP = 12 * 60 * 60
MAX_TOTAL_DELAY = 3 * 24 * 60 * 60
JITTER_MIN = 0.5
JITTER_MAX = 1.0

# An endpoint whose deliveries failed this many times in a row, counted across events (a
# success resets the count), is disabled: it is most likely gone for good, and retrying every
# event against it for three days would only fill the queue. Its owner re-enables it.
DISABLE_AFTER_CONSECUTIVE_FAILURES = 50

# Jitter needs no unpredictability, only spread; one process-wide generator is enough.
_default_rng = random.Random()  # noqa: S311


def retry_step(attempt: int) -> int:
    """The nominal (pre-jitter) wait in seconds after failed attempt number `attempt`."""
    if attempt < 1:
        raise ValueError("attempt counts failed attempts and starts at 1")
    # Compare exponents rather than computing 2**attempt for large attempts.
    if attempt - 1 >= (MAX_STEP // RETRY_BASE).bit_length():
        return MAX_STEP
    return min(RETRY_BASE * 2 ** (attempt - 1), MAX_STEP)


def _max_attempts() -> int:
    retries, total = 0, 0
    while total + retry_step(retries + 1) <= MAX_TOTAL_DELAY:
        retries += 1
        total += retry_step(retries)
    return retries + 1


# Total delivery attempts for one event, the first one included (15; see the module docstring).
MAX_ATTEMPTS = _max_attempts()


def next_retry_delay(attempt: int, rng: random.Random | None = None) -> float | None:
    """Seconds to wait before retrying after `attempt` failed attempts, or None to give up.

    `attempt` is the number of failed attempts so far, starting at 1. None from
    `MAX_ATTEMPTS` on: the delivery is then marked failed.
    """
    if attempt < 1:
        raise ValueError("attempt counts failed attempts and starts at 1")
    if attempt >= MAX_ATTEMPTS:
        return None
    factor = (rng or _default_rng).uniform(JITTER_MIN, JITTER_MAX)
    return factor * retry_step(attempt)


def should_disable_endpoint(consecutive_failures: int) -> bool:
    """True when an endpoint has failed often enough in a row to be disabled."""
    return consecutive_failures >= DISABLE_AFTER_CONSECUTIVE_FAILURES
