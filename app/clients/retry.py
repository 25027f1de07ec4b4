"""Retry policy shared by both clients: which failures to retry, and how long to wait.

Exponential backoff with full jitter, a cap, and the server's Retry-After honoured (after
singer-sdk's request_decorator and stripe-python's _sleep_time_seconds). ``sleep`` and ``random``
are injectable so tests stay fast and deterministic.
"""

from __future__ import annotations

import random as _random
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class RetryPolicy:
    max_attempts: int = 6
    base_delay: float = 0.25
    max_delay: float = 20.0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)
    random: Callable[[], float] = field(default=_random.random, repr=False)

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before attempt number ``attempt + 1`` (attempt counts from 1)."""
        ceiling = min(self.max_delay, self.base_delay * (2 ** (attempt - 1)))
        wait = ceiling * (0.5 + self.random() / 2)  # jitter, never less than half the ceiling
        if retry_after is not None:
            wait = max(wait, min(retry_after, self.max_delay * 3))
        return wait

    def wait(self, attempt: int, retry_after: float | None = None) -> None:
        self.sleep(self.delay(attempt, retry_after))


NO_RETRY = RetryPolicy(max_attempts=1)
