"""Tracker options of ``python -m bench`` reach the trackers it builds."""
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
