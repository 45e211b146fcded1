"""``python -m bench models``: every stage timed, for each thread count (no timing asserted)."""
import numpy as np

from bench.__main__ import main
from bench.models import run


def test_models_rows():
    rows = run(np.full((120, 160, 3), 127, np.uint8), threads=(1,), reps=3)
    assert [r["stage"] for r in rows][:4] == ["detector 160x120", "detector first pass only 160x120",
                                              "detector + small-hand pass 160x120", "landmarks, 1 crop"]
    assert len(rows) == 10 and all(r["p95"] >= r["p50"] > 0 for r in rows)
    assert rows[-1]["stage"] == "Kalman update, 1 hand"


def test_models_cli(tmp_path, capsys):
    assert main(["models", "--shared", str(tmp_path), "--threads", "1", "--reps", "2", "--size", "96x64"]) == 0
    out = capsys.readouterr().out
    assert "| 1 | detector 96x64 |" in out and out.count("\n| 1 |") == 10
