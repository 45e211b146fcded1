"""Session 43 mutation audit of the speed figures and the handtrack / MediaPipe ratio
(bench/speed.py's time_method, summarize and the "both reported one hand" rows; bench/run.py's
speed_ratios): tests for the hand-made bugs the rest of the suite let through
(docs/model_history.md, Session 43). Records are made by hand; every expected figure is worked out
from them."""
from __future__ import annotations

import numpy as np
import pytest

from bench import speed
from bench.methods import FrameOutput
from bench.run import speed_ratios

SIZE = (640, 480)


def _rec(method, ms, hands, frame, threads=None, detector_ran=None, source="clip"):
    return speed.SpeedRecord(method, SIZE, threads, source, ms, hands, detector_ran, {}, frame)


def test_time_method_passes_timestamps_in_milliseconds():
    """A frame's timestamp is its index over the clip's frame rate, in ms (30 fps: 0, 33.3, 66.7 ...)."""
    seen = []

    def method(frame, t_ms):
        seen.append(t_ms)
        return FrameOutput({"smoothed": []}, 1.0)
    speed.time_method(method, "m", {"c": ([np.zeros((4, 4, 3), np.uint8)] * 4, 30.0)}, SIZE, 2, warmup=0)
    assert seen == pytest.approx([0.0, 1000 / 30, 2000 / 30, 3000 / 30])


def test_mediapipe_rows_have_no_frame_types_it_does_not_report():
    """MediaPipe records carry no detector flag (None): they are "all" frames only; "tracking" and
    "idle" are the tracker's own frame types."""
    rows = speed.summarize([_rec("mediapipe", 10.0, 1, 0), _rec("mediapipe", 20.0, 0, 1)])
    assert {r["frames"] for r in rows} == {"all"}


def _pair(ht_ms, ht_hands, mp_ms, mp_hands):
    recs = []
    for i, (h, hn, m, mn) in enumerate(zip(ht_ms, ht_hands, mp_ms, mp_hands)):
        recs += [_rec("handtrack", h, hn, i, threads=2, detector_ran=False), _rec("mediapipe", m, mn, i)]
    return recs


def test_the_common_frames_are_those_where_each_reported_exactly_one_hand():
    """Frames 0-3: handtrack 1, 2, 1, 1 hands, MediaPipe 1, 1, 2, 1: frames 0 and 3 are common."""
    recs = _pair([1.0, 2.0, 3.0, 4.0], [1, 2, 1, 1], [10.0, 20.0, 30.0, 40.0], [1, 1, 2, 1])
    (row,) = [r for r in speed.summarize(recs) if r["hands"] == speed.BOTH_ONE_HAND]
    assert row["n"] == 2
    assert row["p50"] == pytest.approx(2.5) and row["mediapipe_p50"] == pytest.approx(25.0)
    # np.percentile's linear interpolation between the two: 1 + 0.95 * 3, 10 + 0.95 * 30
    assert row["p95"] == pytest.approx(3.85) and row["mediapipe_p95"] == pytest.approx(38.5)


def test_without_a_common_frame_the_ratio_is_over_all_frames_of_both():
    """No frame where both reported one hand: the ratio falls back to handtrack's p50 over all its
    frames against MediaPipe's over all of its frames (not its 1-hand frames only)."""
    recs = _pair([2.0, 2.0, 2.0], [2, 2, 2], [10.0, 10.0, 40.0], [1, 1, 2])
    lines = speed_ratios(speed.summarize(recs))
    # MediaPipe over all frames: p50 10 ms; handtrack 2 ms: 0.20 (its 1-hand frames alone: also 10)
    assert lines == ["640x480 2 thread(s), all frames 0.20 (handtrack reported no hand: mostly idle frames)"]
    recs = _pair([2.0, 2.0, 2.0], [2, 2, 2], [10.0, 40.0, 40.0], [1, 2, 2])
    lines = speed_ratios(speed.summarize(recs))
    assert lines[0].startswith("640x480 2 thread(s), all frames 0.05 ")   # 2 / 40, not 2 / 10
