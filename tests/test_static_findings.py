"""Findings of a static-analysis pass (ruff, mypy) that a user could hit."""
from __future__ import annotations

import pytest

pytest.importorskip("matplotlib")


def test_plot_runs_refuses_fewer_labels_than_histories(tmp_path):
    """``zip(histories, labels)`` dropped the runs past the last label: a picture missing a run,
    with no word said (the CLI checks the counts; the Python function did not)."""
    from train.curves import plot_runs
    run = [{"minutes": m, "step": 10 * m, "pck10": 0.5 + 0.1 * m} for m in (0, 1, 2)]
    out = tmp_path / "curves.png"
    with pytest.raises(ValueError, match="3 histories.*2 labels"):
        plot_runs([run, run, run], ["a", "b"], out)
    assert not out.exists()
