"""Audit (session 36) of the speed / soak / live method: aggregation on hand-made timings, the
warm-up, frame types and the report's wording (no real timing is asserted)."""
from __future__ import annotations

import numpy as np
import pytest

from bench import live, soak, speed
from bench.methods import FrameOutput
from bench.run import Bench, BenchConfig, machine_info, speed_table, write_report
from bench.temporal import PredHand
from tracker.timing import percentiles


def _rec(ms, hands=1, detector_ran=False, landmarks=2.0, method="handtrack", threads=2):
    stages = {} if landmarks is None else {"detector": 3.0 if detector_ran else 0.0, "landmarks": landmarks}
    return speed.SpeedRecord(method, (640, 480), threads, "v", float(ms), hands, detector_ran, stages)


def _idx(rows):
    return {(r["method"], r["threads"], r["frames"], r["hands"]): r for r in rows}


def test_percentiles_are_numpy_linear_over_all_samples():
    ms = [10.0, 1.0, 4.0, 2.0, 3.0]
    assert percentiles(ms) == pytest.approx((3.0, 8.8))      # 95th: 4 + 0.8 * (10 - 4)
    assert all(np.isnan(v) for v in percentiles([]))


def test_idle_frames_are_not_tracking_frames():
    # no detector run and no landmark run: nothing was tracked (hand-free stretch between the
    # detector's back-off runs); such ~0.05 ms frames pulled the "tracking frames" p50 down
    recs = [_rec(10.0 + i) for i in range(4)]                              # tracking: 10..13
    recs += [_rec(0.05, hands=0, landmarks=0.0) for _ in range(3)]         # idle
    recs += [_rec(30.0, detector_ran=True, landmarks=0.0, hands=0)]        # detector, found nothing
    idx = _idx(speed.summarize(recs))
    assert idx[("handtrack", 2, "tracking", "all")]["n"] == 4
    assert idx[("handtrack", 2, "tracking", "all")]["p50"] == pytest.approx(11.5)
    assert idx[("handtrack", 2, "idle", "all")]["n"] == 3
    assert idx[("handtrack", 2, "detector", "all")]["n"] == 1
    assert idx[("handtrack", 2, "all", "all")]["n"] == 8                    # every frame still counted
    # without stage timing nothing tells idle from tracking: the frame stays a tracking frame; so
    # does a frame with a hand reported (something was tracked)
    idx = _idx(speed.summarize([_rec(0.05, hands=0, landmarks=None), _rec(5.0, hands=1, landmarks=0.0)]))
    assert idx[("handtrack", 2, "tracking", "all")]["n"] == 2 and ("handtrack", 2, "idle", "all") not in idx
    # the table's column order is unchanged (one row per configuration)
    assert speed_table(speed.summarize(recs)).count("\n") == 2


class _FakeMethod:
    def __init__(self):
        self.calls = 0

    def __call__(self, frame, ts):
        self.calls += 1
        # the call's number as its time: which frames were recorded is then visible
        return FrameOutput({"smoothed": [PredHand(np.zeros((17, 2), np.float32), "left", 1, 0.9)]},
                           float(self.calls), detector_ran=False)

    def reset(self):
        pass


def _frames(n):
    return [np.zeros((4, 4, 3), np.uint8)] * n


@pytest.mark.parametrize("first_clip", [0, 2])
def test_warmup_counts_frames_of_the_configuration_not_only_of_its_first_clip(first_clip):
    clips = {"short": (_frames(first_clip), 30.0), "long": (_frames(10), 30.0)}
    recs = speed.time_method(_FakeMethod(), "handtrack", clips, (4, 4), 2, warmup=5)
    # the sessions' first 5 runs are never timed, whichever clip they fall in
    assert [r.ms for r in recs] == [float(c) for c in range(6, first_clip + 11)]


def test_warmup_still_applies_to_the_first_clip_only_when_it_is_long_enough():
    clips = {"a": (_frames(8), 30.0), "b": (_frames(3), 30.0)}
    recs = speed.time_method(_FakeMethod(), "handtrack", clips, (4, 4), 2, warmup=5)
    assert [r.ms for r in recs] == [6.0, 7.0, 8.0, 9.0, 10.0, 11.0]
    assert [r.source for r in recs] == ["a"] * 3 + ["b"] * 3


def _report(tmp_path, rows):
    b = Bench(BenchConfig(shared=tmp_path, out=tmp_path, plots=False))
    b.results.update({"machine": machine_info(), "seconds": {"total": 1.0},
                      "speed": {"rows": rows, "load_average": 1.0, "videos": ["v.mp4"], "stages": []}})
    write_report(b, tmp_path)
    return (tmp_path / "REPORT.md").read_text(encoding="utf-8")


def test_report_names_the_frames_its_speed_ratios_are_on(tmp_path):
    recs = [_rec(10.0), _rec(20.0, hands=0, detector_ran=True, landmarks=0.0)]
    recs += [speed.SpeedRecord("mediapipe", (640, 480), None, "v", 40.0, 1, None),
             speed.SpeedRecord("mediapipe", (640, 480), None, "v", 40.0, 0, None)]
    text = _report(tmp_path, speed.summarize(recs))
    line = next(x for x in text.splitlines() if x.startswith("handtrack / MediaPipe p50"))
    assert "1-hand frames 0.25" in line
    assert "(all frames)" not in line           # the ratio is on 1-hand frames, not all frames


def test_report_says_what_the_thread_count_covers(tmp_path):
    text = _report(tmp_path, speed.summarize([_rec(10.0)]))
    speed_part = text[text.index("## Speed"):]
    assert "intra-op" in speed_part and "OpenCV" in speed_part


class _FakeTracker:
    def __init__(self, **options):
        pass

    def process(self, frame, timestamp_ms):
        return None

    def close(self):
        pass


def test_soak_run_refuses_no_frames_before_writing(tmp_path, monkeypatch):
    monkeypatch.setattr(soak, "looped_video", lambda *a, **k: iter(lambda: np.zeros((4, 4, 3), np.uint8), 1))
    (tmp_path / "soak.json").write_text("{}", encoding="utf-8")
    for kw, name in ((dict(n_frames=0), "n_frames"), (dict(n_frames=5, sample_every=0), "sample_every")):
        with pytest.raises(ValueError, match=name):
            soak.run(tmp_path / "v.mp4", out=tmp_path, tracker_factory=_FakeTracker, **kw)
    assert (tmp_path / "soak.json").read_text(encoding="utf-8") == "{}"   # the last soak is kept


def test_live_run_refuses_no_seconds():
    with pytest.raises(ValueError, match="seconds"):
        live.run(None, fps_list=(30.0,), seconds=0.0)
