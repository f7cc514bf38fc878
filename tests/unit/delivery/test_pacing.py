"""The pacing budget's arithmetic (delivery/pacing.py): slots, the bound in any one-second window
over long simulated runs with several instances taking batches in random interleavings, and the
pace after a 429/503 (halving, recovery)."""

from __future__ import annotations

import bisect
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import pytest

from webhook_resend.aws.dynamodb import BudgetAnswer
from webhook_resend.delivery import pacing

US = 1_000_000
KEY = {"pk": "tn#RATE#w", "sk": "U#0"}


class FakeBudgets:
    """The store's two conditional writes, over a dict, with the same conditions as DynamoDB's
    (tests/integration/test_pacing.py checks the store against them). `before_write`, when set,
    runs before each write: another instance's write landing first."""

    def __init__(self) -> None:
        self.tat: dict[tuple[str, str], int] = {}
        self.writes = 0
        self.before_write: Callable[[], None] | None = None

    def _interleave(self) -> None:
        hook, self.before_write = self.before_write, None
        if hook is not None:
            hook()
        self.before_write = hook

    def restart_budget(
        self, key: Mapping[str, str], tat_us: int, now_us: int, expires_at: int
    ) -> BudgetAnswer:
        self._interleave()
        self.writes += 1
        k = (key["pk"], key["sk"])
        current = self.tat.get(k)
        if current is None or current < now_us:
            self.tat[k] = tat_us
            return BudgetAnswer(True, tat_us)
        return BudgetAnswer(False, current)

    def extend_budget(
        self, key: Mapping[str, str], add_us: int, now_us: int, latest_us: int, expires_at: int
    ) -> BudgetAnswer:
        self._interleave()
        self.writes += 1
        k = (key["pk"], key["sk"])
        current = self.tat.get(k)
        if current is not None and now_us <= current <= latest_us:
            self.tat[k] = current + add_us
            return BudgetAnswer(True, current + add_us)
        return BudgetAnswer(False, current)

    def pull_budget(self, key: Mapping[str, str], tat_us: int) -> bool:
        k = (key["pk"], key["sk"])
        if k in self.tat and self.tat[k] > tat_us:
            self.tat[k] = tat_us
            return True
        return False


def most_in_one_second(times: list[float]) -> int:
    """The most of `times` (seconds) in any half-open window [a, a + 1): a window holding the most
    can always be slid right until it starts at one of them, so each start is tried."""
    ordered = sorted(times)
    return max((bisect.bisect_left(ordered, t + 1.0) - i for i, t in enumerate(ordered)), default=0)


# -- the spacing and what one window may hold -----------------------------------------------------------
@pytest.mark.parametrize(
    ("per_second", "allowed"), [(1, 1), (2, 2), (5, 5), (9, 9), (10, 11), (19, 20), (100, 110), (1000, 1100)]
)
def test_pacing_allowed_per_window_is_the_limit_plus_ten_percent_rounded_down(
    per_second: int, allowed: int
) -> None:
    assert pacing.allowed_per_window(per_second) == allowed


def test_pacing_spacing_never_exceeds_the_limit_and_fits_the_allowed_count_in_a_widened_window() -> None:
    for per_second in range(1, 1001):
        spacing = pacing.spacing_us(per_second)
        allowed = pacing.allowed_per_window(per_second)
        # never faster than the limit itself
        assert spacing * per_second >= US, per_second
        # allowed + 1 slots span allowed spacings, longer than a window widened by the tolerance
        assert allowed * spacing > US * (1 + pacing.TOLERANCE), per_second


@pytest.mark.parametrize(
    ("per_second", "lowest"), [(1, 0.9), (5, 4.5), (9, 8.1), (10, 9.9), (100, 99), (1000, 990)]
)
def test_pacing_pace_is_within_ten_percent_below_the_limit(per_second: int, lowest: float) -> None:
    pace = pacing.pace_per_second(per_second)

    assert lowest <= pace <= per_second


# -- taking slots ---------------------------------------------------------------------------------------
def test_pacing_take_slots_from_an_idle_budget_starts_now() -> None:
    budgets = FakeBudgets()

    slots = pacing.take_slots(budgets, KEY, 3, 200_000, 10 * US, 5 * US, 0)

    assert [slots.at(i) for i in range(slots.count)] == [10 * US, 10_200_000, 10_400_000]
    assert (slots.next_free_us, budgets.tat[("tn#RATE#w", "U#0")], budgets.writes) == (
        10_600_000,
        10_600_000,
        1,
    )


def test_pacing_take_slots_from_a_busy_budget_starts_at_its_next_free_slot() -> None:
    budgets = FakeBudgets()
    pacing.take_slots(budgets, KEY, 3, 200_000, 10 * US, 5 * US, 0)

    # a second batch a tenth of a second later, guessing right: one write
    slots = pacing.take_slots(budgets, KEY, 2, 200_000, 10_100_000, 5 * US, 0, guess=10_600_000)

    assert [slots.at(i) for i in range(slots.count)] == [10_600_000, 10_800_000]
    assert (slots.next_free_us, budgets.writes) == (11 * US, 2)


def test_pacing_take_slots_with_a_wrong_guess_costs_one_write_more_never_a_wrong_slot() -> None:
    budgets = FakeBudgets()
    pacing.take_slots(budgets, KEY, 3, 200_000, 10 * US, 5 * US, 0)

    slots = pacing.take_slots(budgets, KEY, 1, 200_000, 10_100_000, 5 * US, 0, guess=None)

    assert (slots.first_us, slots.count, budgets.writes) == (10_600_000, 1, 3)


def test_pacing_take_slots_takes_only_what_fits_the_horizon() -> None:
    budgets = FakeBudgets()

    slots = pacing.take_slots(budgets, KEY, 25, 1_100_001, 10 * US, 5 * US, 0)

    # slots at 0, 1.1, 2.2, 3.3, 4.4 s: a sixth would be past the 5 s horizon
    assert slots.count == 5
    assert slots.at(4) <= 15 * US < slots.next_free_us + 1


def test_pacing_take_slots_from_a_budget_taken_for_the_whole_horizon_takes_none() -> None:
    budgets = FakeBudgets()
    budgets.tat[("tn#RATE#w", "U#0")] = 20 * US

    slots = pacing.take_slots(budgets, KEY, 4, 200_000, 10 * US, 5 * US, 0, guess=20 * US)

    assert (slots.count, slots.next_free_us, budgets.writes, budgets.tat[("tn#RATE#w", "U#0")]) == (
        0,
        20 * US,
        0,
        20 * US,
    )


def test_pacing_take_slots_when_another_instance_writes_first_gets_the_slots_after_its() -> None:
    budgets = FakeBudgets()
    pacing.take_slots(budgets, KEY, 1, 200_000, 10 * US, 5 * US, 0)  # next free: 10.2 s
    other: list[pacing.Slots] = []
    budgets.before_write = lambda: other.append(
        pacing.take_slots(budgets, KEY, 2, 200_000, 10 * US, 5 * US, 0)
    )

    mine = pacing.take_slots(budgets, KEY, 2, 200_000, 10 * US, 5 * US, 0, guess=10_200_000)

    budgets.before_write = None
    assert [other[0].at(i) for i in range(2)] == [10_200_000, 10_400_000]
    assert [mine.at(i) for i in range(2)] == [10_600_000, 10_800_000]


# -- the bound over long runs with several instances --------------------------------------------------------
@dataclass
class Instance:
    """A consumer instance of the simulation: its clock's offset, and the pairs it holds."""

    skew_us: int
    held: list[int] = field(default_factory=list)  # slots reserved beyond the inline wait


def simulate(
    per_second: int,
    seconds: int,
    seed: int,
    *,
    instances: int = 4,
    halvings: tuple[int, ...] = (),
) -> tuple[list[float], float]:
    """Instances take batches of 1-25 pairs for one URL at random moments, in random interleavings
    (another instance's reservation may land between a refused write and the next), and send each
    pair at its slot plus a random lateness (at most LATE_SECONDS, plus up to the rest of the
    tolerance on the wire), each by its own clock (skewed by up to SKEW_SECONDS). A reservation
    beyond the inline wait is held and sent at its slot later; at each time in `halvings` the pace
    is halved and the budget pulled back, and held slots of the old pace are given up. Answers the
    true send times (seconds) and the run's end."""
    rng = random.Random(seed)
    budgets = FakeBudgets()
    skew = int(pacing.SKEW_SECONDS * US)
    fleet = [Instance(rng.randint(-skew, skew)) for _ in range(instances)]
    wire = int((pacing.TOLERANCE - pacing.LATE_SECONDS - 2 * pacing.SKEW_SECONDS) * US)
    inline = int(pacing.INLINE_SECONDS * US)
    horizon = 60 * US
    sent: list[float] = []
    rate = float(per_second)
    slowed_at = 0
    pending_halvings = [h * US for h in halvings]

    def send(instance: Instance, slot: int) -> None:
        late = rng.randint(0, int(pacing.LATE_SECONDS * US)) + rng.randint(0, wire)
        sent.append((slot + late - instance.skew_us) / US)

    def take(instance: Instance, true_now: int, wanted: int) -> None:
        now = true_now + instance.skew_us
        slots = pacing.take_slots(budgets, KEY, wanted, pacing.spacing_us(rate), now, horizon, 0)
        for i in range(slots.count):
            slot = slots.at(i)
            if slot <= now + inline:
                send(instance, slot)
            else:
                instance.held.append(slot)

    true_now = 0
    end = seconds * US
    while true_now < end:
        # batches of 13 pairs on average, coming in at about twice the pace: the budget is the limit
        true_now += rng.randint(100, min(400_000, 12 * US // per_second))
        if pending_halvings and true_now >= pending_halvings[0]:
            pending_halvings.pop(0)
            rate = pacing.halved(rate, rate)
            slowed_at = true_now
            budgets.pull_budget(KEY, pacing.reset_point(true_now))
            for instance in fleet:
                instance.held.clear()  # reserved at the old pace: given up, taken again later
        elif slowed_at:
            rate = pacing.effective_rate(per_second, rate, slowed_at // 1000, true_now // 1000) or per_second
        instance = rng.choice(fleet)
        # held slots come back and are sent at their time
        due = [s for s in instance.held if s <= true_now + instance.skew_us + inline]
        instance.held = [s for s in instance.held if s not in due]
        for slot in due:
            send(instance, slot)
        # another instance may write between this one's refused write and its next
        others = [i for i in fleet if i is not instance]
        if rng.random() < 0.3:

            def interleaved(others: list[Instance] = others, at: int = true_now) -> None:
                take(rng.choice(others), at, rng.randint(1, 25))

            budgets.before_write = interleaved
        take(instance, true_now, rng.randint(1, 25))
        budgets.before_write = None
    return [t for t in sent if t <= seconds], seconds


@pytest.mark.parametrize("per_second", [1, 2, 5, 9, 10, 37, 100])
def test_pacing_bound_holds_in_every_one_second_window_with_four_instances(per_second: int) -> None:
    for seed in range(3):
        sent, seconds = simulate(per_second, 600 if per_second <= 10 else 120, seed)

        # Then no window of one second has more than the limit + 10 % (rounded down)
        assert most_in_one_second(sent) <= pacing.allowed_per_window(per_second), (per_second, seed)
        # And the budget is used: with demand well over the limit, the pace is kept
        assert len(sent) >= 0.97 * pacing.pace_per_second(per_second) * seconds, (per_second, seed, len(sent))


def test_pacing_bound_holds_at_a_thousand_a_second_with_eight_instances() -> None:
    sent, seconds = simulate(1000, 30, 7, instances=8)

    assert most_in_one_second(sent) <= 1100
    assert len(sent) >= 0.97 * pacing.pace_per_second(1000) * seconds


@pytest.mark.parametrize("per_second", [5, 40])
def test_pacing_bound_holds_through_halvings_and_recovery(per_second: int) -> None:
    sent, _ = simulate(per_second, 900, 11, halvings=(60, 90, 400))

    assert most_in_one_second(sent) <= pacing.allowed_per_window(per_second)
    # the halvings show: right after the second one, a quarter of the pace
    after = [t for t in sent if 95 <= t < 155]
    assert len(after) <= 60 * per_second / 4 * 1.1 + 1, len(after)


def test_pacing_most_in_one_second_counts_half_open_windows() -> None:
    assert most_in_one_second([0.0, 0.5, 0.999, 1.0, 1.5]) == 3
    assert most_in_one_second([0.0, 1.0, 2.0]) == 1
    assert most_in_one_second([]) == 0


# -- the pace after a 429/503 -----------------------------------------------------------------------------
MINUTE_MS = 60_000


def test_pacing_halved_takes_half_the_effective_rate() -> None:
    assert pacing.halved(40.0, observed=500.0) == 20.0


def test_pacing_halved_without_a_limit_takes_half_the_observed_rate() -> None:
    assert pacing.halved(None, observed=30.0) == 15.0


def test_pacing_halved_never_goes_below_one_a_second() -> None:
    assert pacing.halved(1.5, observed=1.0) == pacing.MIN_RATE == 1.0


def test_pacing_recovery_grows_ten_percent_per_whole_minute_up_to_the_limit() -> None:
    rates = [pacing.effective_rate(40, 20.0, 0, minutes * MINUTE_MS + 30_000) for minutes in range(10)]

    assert rates[0] == 20.0
    assert rates[1] == pytest.approx(22.0)
    assert rates[7] == pytest.approx(20 * 1.1**7)
    # 1.1^8 > 2: the limit again, for good
    assert rates[8] == rates[9] == 40


def test_pacing_recovery_without_a_limit_lifts_it_once_the_observed_rate_is_back() -> None:
    assert pacing.effective_rate(None, 15.0, 0, 7 * MINUTE_MS) == pytest.approx(15 * 1.1**7)
    assert pacing.effective_rate(None, 15.0, 0, 8 * MINUTE_MS) is None


def test_pacing_rate_of_a_webhook_uses_its_own_limit_then_the_default() -> None:
    assert pacing.rate_of({"rate_limit": {"per_second": 7}}, 50, 0) == 7
    assert pacing.rate_of({}, 50, 0) == 50
    assert pacing.rate_of({}, 0, 0) is None


def test_pacing_rate_of_a_slowed_webhook_is_the_slowed_rate() -> None:
    webhook = {"rate_limit": {"per_second": 10}, "paced_per_second": 5.0, "paced_on": 1_000}

    assert pacing.rate_of(webhook, 0, 1_000 + MINUTE_MS) == pytest.approx(5.5)


def test_pacing_observed_rate_counts_at_least_a_second() -> None:
    assert pacing.observed_rate([10.0, 10.01, 10.02]) == 3.0
    assert pacing.observed_rate([10.0, 12.0, 14.0, 14.0]) == 1.0
    assert pacing.observed_rate([]) == pacing.MIN_RATE


# -- slots as records keep them -----------------------------------------------------------------------------
def test_pacing_slot_text_rounds_up_to_the_millisecond_never_early() -> None:
    slot = 1_700_000_000_123_401

    text = pacing.slot_text(slot)

    assert text == "2023-11-14T22:13:20.124Z"
    assert pacing.slot_of(text) == 1_700_000_000_124_000 >= slot


def test_pacing_reset_point_is_past_every_inline_slot_by_more_than_any_spacing() -> None:
    now = 50 * US

    point = pacing.reset_point(now)

    assert point - (now + pacing.INLINE_SECONDS * US) > pacing.spacing_us(pacing.MIN_RATE) - 1
