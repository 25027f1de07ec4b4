"""Reliability fixtures: one random seed per test run, printed so a failure can be replayed.

    NAVBILL_RELIABILITY_SEED=1234 pytest tests/reliability      # replay a run
"""

from __future__ import annotations

import os
import random

import pytest


@pytest.fixture(scope="session")
def reliability_seed() -> int:
    seed = int(os.environ.get("NAVBILL_RELIABILITY_SEED") or random.SystemRandom().randrange(1, 1_000_000))
    print(f"\nreliability seed: {seed} (replay with NAVBILL_RELIABILITY_SEED={seed})")
    return seed


@pytest.fixture
def rng(reliability_seed, request) -> random.Random:
    """A generator seeded from the run's seed and the test's name (tests do not disturb each other)."""
    print(f"\nreliability seed: {reliability_seed} (replay with NAVBILL_RELIABILITY_SEED={reliability_seed})")
    return random.Random(f"{reliability_seed}:{request.node.nodeid}")
