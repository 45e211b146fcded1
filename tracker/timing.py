"""Latency measurement shared by the benchmarks and the export tools: p50 and p95 of repeated
calls after a warm-up (percentiles, never means: a few slow calls are what a user feels)."""
from __future__ import annotations

import time
from typing import Callable

import numpy as np


def percentiles(ms) -> tuple[float, float]:
    """(p50, p95) of a sequence of durations; (nan, nan) when it is empty."""
    a = np.asarray(ms, np.float64)
    if not a.size:
        return float("nan"), float("nan")
    return float(np.percentile(a, 50)), float(np.percentile(a, 95))


def time_call(fn: Callable[[], object], reps: int = 200, warmup: int = 20) -> tuple[float, float]:
    """Call ``fn`` ``warmup`` times untimed, then ``reps`` times timed; (p50, p95) in ms."""
    if reps < 1 or warmup < 0:
        raise ValueError(f"need reps >= 1 and warmup >= 0, got reps={reps}, warmup={warmup}")
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        ts.append((time.perf_counter() - t) * 1000.0)
    return percentiles(ts)
