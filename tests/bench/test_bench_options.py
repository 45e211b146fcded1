"""Tracker options of ``python -m bench`` reach the trackers it builds."""
import pytest

from bench.run import Bench, BenchConfig
from tracker.detector import HandDetector


def test_small_hands_reaches_the_tracker_but_not_the_ground_truth_detector_run(tmp_path):
    made = []

    def factory(**opts):
        made.append(opts)
        return object()

    cfg = BenchConfig(shared=tmp_path, out=tmp_path / "out", tracker_factory=factory)
    cfg.tracker_options["small_hands"] = True
    bench = Bench(cfg)
    bench.tracker(static=False)
    oracle = object()   # the motion part's ground-truth detector: no second pass to run
    bench.tracker(static=False, detector=oracle)
    assert made[0]["small_hands"] is True and "detector" not in made[0]
    assert "small_hands" not in made[1] and made[1]["detector"] is oracle


def test_small_hands_with_the_real_tracker(tmp_path):
    cfg = BenchConfig(shared=tmp_path, out=tmp_path / "out", threads=1)
    cfg.tracker_options["small_hands"] = True
    bench = Bench(cfg)
    assert bench.tracker(static=False).tracker.detector.small_hands
    assert not bench.tracker(static=False, detector=HandDetector(threads=1)).tracker.detector.small_hands


@pytest.mark.parametrize("argv, want", [
    ([], {}),
    (["--refine-score", "0"], {"refine_score": 0.0}),
    (["--refine-score", "1", "--side-lock", "none", "--small-hands"],
     {"refine_score": 1.0, "side_lock": None, "small_hands": True}),
])
def test_command_line_tracker_options(tmp_path, argv, want):
    from bench.__main__ import config_from_args
    cfg = config_from_args(["--shared", str(tmp_path), "--only", "videos", *argv])
    got = {k: v for k, v in cfg.tracker_options.items() if k in ("refine_score", "side_lock", "small_hands")}
    assert got == want


def test_command_line_refine_score_out_of_range(tmp_path, capsys):
    from bench.__main__ import config_from_args
    with pytest.raises(SystemExit) as e:
        config_from_args(["--shared", str(tmp_path), "--only", "videos", "--refine-score", "2"])
    assert e.value.code == 2 and "--refine-score must be in [0, 1]" in capsys.readouterr().err
