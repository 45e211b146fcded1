"""``python -m bench train-step``: every net and allocator timed in its own process (no timing
asserted), bad options one error."""
import pytest

from bench.__main__ import main
from bench.train_step import run


def test_train_step_rows_for_each_allocator():
    rows = run(("landmarks-cpu",), ("default", "keep"), rounds=1, steps=3, warmup=1, threads=1, batch=2)
    assert [(r["net"], r["allocator"], r["steps"]) for r in rows] == [("landmarks-cpu", "default", 2),
                                                                      ("landmarks-cpu", "keep", 2)]
    assert all(r["p95"] >= r["p50"] > 0 for r in rows)


@pytest.mark.parametrize("args, message", [
    (["--nets", "resnet"], "unknown net(s)/allocator(s) ['resnet']"),
    (["--allocators", "jemalloc"], "unknown net(s)/allocator(s) ['jemalloc']"),
    (["--steps", "2"], "--steps 2: must be more than the 2 warm-up steps"),
])
def test_train_step_cli_bad_options(args, message, capsys):
    with pytest.raises(SystemExit) as e:
        main(["train-step", *args])
    assert e.value.code == 2 and message in capsys.readouterr().err
