"""``python -m bench train-step``: every net and allocator timed in its own process (no timing
asserted); its bad options are in test_bench_options."""
import subprocess

import pytest

import bench.train_step as ts
from bench.__main__ import main
from bench.train_step import run
from tests.conftest import require_torch


def test_train_step_rows_for_each_allocator():
    require_torch()
    rows = run(("landmarks-cpu",), ("default", "keep"), rounds=1, steps=3, warmup=1, threads=1, batch=2)
    assert [(r["net"], r["allocator"], r["steps"]) for r in rows] == [("landmarks-cpu", "default", 2),
                                                                      ("landmarks-cpu", "keep", 2)]
    assert all(r["p95"] >= r["p50"] > 0 for r in rows)


def test_a_failing_step_process_is_one_error_with_its_own_message(monkeypatch, capsys):
    # a child that failed (no torch, say) was a CalledProcessError traceback hiding its message
    def failing(cmd, **kwargs):
        return subprocess.CompletedProcess(cmd, 1, "", "Traceback (most recent call last):\n  ...\n"
                                           "ModuleNotFoundError: No module named 'torch'\n")

    monkeypatch.setattr(ts.subprocess, "run", failing)
    with pytest.raises(SystemExit) as e:
        main(["train-step", "--rounds", "1", "--allocators", "default"])
    assert str(e.value) == ("error: the landmarks / default training-step process failed: "
                            "ModuleNotFoundError: No module named 'torch'")
