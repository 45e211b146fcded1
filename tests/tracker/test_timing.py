"""The shared latency helpers: percentiles and a warm-up-then-time loop."""
import math

import pytest

from tracker.timing import percentiles, time_call


@pytest.mark.parametrize("ms, want", [
    ([1.0, 2.0, 3.0, 4.0, 5.0], (3.0, 4.8)),
    ([7.0], (7.0, 7.0)),
])
def test_percentiles(ms, want):
    assert percentiles(ms) == pytest.approx(want)


def test_percentiles_of_nothing_are_nan():
    assert all(math.isnan(v) for v in percentiles([]))


def test_time_call_warms_up_then_times():
    calls = []
    p50, p95 = time_call(lambda: calls.append(1), reps=30, warmup=5)
    assert len(calls) == 35 and 0 <= p50 <= p95
    with pytest.raises(ValueError, match="reps >= 1"):
        time_call(lambda: None, reps=0)
