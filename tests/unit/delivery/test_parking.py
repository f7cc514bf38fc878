"""The parking decision, and the keys that find a parked pair again (SPEC §10)."""

from __future__ import annotations

import pytest

from webhook_resend import clock
from webhook_resend.aws import keys
from webhook_resend.delivery import parking

THRESHOLD = 900


@pytest.mark.parametrize("delay", [0, 1, 5, 600, 899, 900])
def test_should_park_a_wait_up_to_the_threshold_is_a_visibility_timeout(delay: int) -> None:
    assert parking.should_park(delay, THRESHOLD) is False


@pytest.mark.parametrize("delay", [901, 3600, 14_400, 43_200])
def test_should_park_a_wait_beyond_the_threshold_is_parked(delay: int) -> None:
    assert parking.should_park(delay, THRESHOLD) is True


def test_should_park_with_a_zero_threshold_parks_any_wait_longer_than_none() -> None:
    assert [parking.should_park(delay, 0) for delay in (0, 1)] == [False, True]


def test_parked_shard_is_stable_and_within_the_shards() -> None:
    ids = ("tn1", "job", "item", "hook")

    shards = {keys.parked_shard(*ids) for _ in range(3)}

    assert len(shards) == 1
    assert 0 <= shards.pop() < keys.PARK_SHARDS


def test_parked_shard_spreads_pairs_over_every_shard() -> None:
    counts = [0] * keys.PARK_SHARDS
    for n in range(8000):
        counts[keys.parked_shard("tn1", "job", f"item-{n}", "hook")] += 1

    # 1,000 a shard on average: none is hot, none is empty
    assert min(counts) > 850
    assert max(counts) < 1150


def test_parked_due_bound_takes_what_is_due_at_or_before_now() -> None:
    now = clock.canonical(clock.parse("2026-05-01T12:00:00Z"))
    before = keys.parked_index_sk("2026-05-01T11:59:59.999Z", "tn1", "job", "item", "hook")
    at = keys.parked_index_sk(now, "tn1", "job", "item", "hook")
    after = keys.parked_index_sk("2026-05-01T12:00:00.001Z", "tn1", "job", "item", "hook")

    bound = keys.parked_due_bound(now)

    assert before < bound
    assert at < bound
    assert after > bound


def test_parked_item_of_a_pair_is_one_key_whatever_its_due_time() -> None:
    assert keys.parked("tn1", "job", "item", "hook") == keys.parked("tn1", "job", "item", "hook")
    assert keys.parked("tn1", "job", "item", "hook")["pk"].startswith("tn1#")
    assert keys.parked("tn1", "job", "item", "hook") != keys.parked("tn1", "job", "item", "other")
