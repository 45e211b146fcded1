"""``python -m bench train-step``: every net and allocator timed in its own process (no timing
asserted); its bad options are in test_bench_options."""
from bench.train_step import run


def test_train_step_rows_for_each_allocator():
    rows = run(("landmarks-cpu",), ("default", "keep"), rounds=1, steps=3, warmup=1, threads=1, batch=2)
    assert [(r["net"], r["allocator"], r["steps"]) for r in rows] == [("landmarks-cpu", "default", 2),
                                                                      ("landmarks-cpu", "keep", 2)]
    assert all(r["p95"] >= r["p50"] > 0 for r in rows)
