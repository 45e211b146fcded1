"""Benchmark figures are what their labels say: hand-made sequences and fake methods, no timing
asserted against the machine (clocks are faked where a duration is checked)."""
from __future__ import annotations

import numpy as np
import pytest

from bench import methods, speed, temporal
from bench.temporal import PredHand


# ---------------------------------------------------------------------------------------------
# speed: MediaPipe's per-clip restart is not timed as a frame


class _FakeRunner:
    """A MediaPipe runner whose first call in a fresh process loads its models (slow)."""

    starts = 0

    def __init__(self, **kw):
        type(self).starts += 1
        self.calls = 0

    def process(self, frame, timestamp_ms=None):
        self.calls += 1
        ms = 100.0 if self.calls == 1 else 10.0
        hands = [] if not frame.any() else [PredHand(np.zeros((17, 2), np.float32), "left")]
        return hands, ms

    def close(self):
        pass


def test_speed_mediapipe_restart_per_clip_is_not_a_timed_frame(monkeypatch):
    """speed.time_method restarts MediaPipe for every clip (a fresh graph): its first call there
    loads the models (~70 ms on the 2-core VM, measured), which is no frame's work; before the
    fix it was timed as the first frame of every clip but the first (whose warm-up frames are
    dropped) and inflated MediaPipe's p95."""
    from bench import mediapipe_runner
    monkeypatch.setattr(mediapipe_runner, "MediaPipeHands", _FakeRunner)
    mp = methods.MediaPipeMethod("unused-venv")
    clips = {f"clip{i}": ([np.full((48, 64, 3), 1 + i, np.uint8)] * 6, 30.0) for i in range(3)}
    recs = speed.time_method(mp, "mediapipe", clips, (64, 48), None, warmup=2)
    assert len(recs) == 6 - 2 + 6 + 6
    assert [r.ms for r in recs] == [10.0] * len(recs)
    assert all(r.hands == 1 for r in recs)   # the warm-up frame's (no) hands are not recorded


# ---------------------------------------------------------------------------------------------
# speed: the "detector" stage column is the whole detector call (letterbox + network + decode)


class _FakeClock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def test_stage_timer_detector_includes_letterbox(monkeypatch):
    """The report's stage columns say detector = letterbox + network + decode and rest = what
    the tracker does around the models. HandDetector letterboxes in ``_canvas`` (not through
    ``preprocess``), so before the fix the letterbox time went to ``rest``. A fake clock advances
    only inside ``letterbox`` (2 ms a call): all of it must land in ``detector``."""
    import tracker.detector as td
    from tracker.detector import HandDetector
    clock = _FakeClock()
    monkeypatch.setattr(methods.time, "perf_counter", clock)
    real = td.letterbox
    calls = []

    def slow_letterbox(*a, **k):
        calls.append(1)
        clock.t += 0.002
        return real(*a, **k)

    monkeypatch.setattr(td, "letterbox", slow_letterbox)

    class OneModelTracker:
        def __init__(self):
            self.detector = HandDetector(threads=1)

        def process(self, frame, ts=None):
            self.detector(frame)
            return type("R", (), {"hands": []})()

        def close(self):
            self.detector.close()

    m = methods.TrackerMethod(OneModelTracker(), time_stages=True)
    try:
        out = m(np.zeros((480, 640, 3), np.uint8), 0.0)
    finally:
        m.close()
    assert calls, "the detector letterboxed nothing"
    assert out.ms == pytest.approx(2.0 * len(calls))
    assert out.stages["detector"] == pytest.approx(2.0 * len(calls))
    assert out.stages["rest"] == pytest.approx(0.0)


def test_stage_timer_counts_nested_calls_once(monkeypatch):
    """A timed method that calls another timed method of the same stage adds its time once."""
    clock = _FakeClock()
    monkeypatch.setattr(methods.time, "perf_counter", clock)

    class Det:
        def _detect_turned(self, frame, *a):
            clock.t += 0.001
            self.inference(frame)
            return self.postprocess(None)

        def inference(self, x):
            clock.t += 0.004

        def postprocess(self, x):
            clock.t += 0.001
            return []

    class Tr:
        detector = Det()

        def process(self, frame, ts=None):
            self.detector._detect_turned(frame)
            clock.t += 0.003  # association, smoothing
            return type("R", (), {"hands": []})()

    out = methods.TrackerMethod(Tr(), time_stages=True)(np.zeros((4, 4, 3), np.uint8))
    assert out.ms == pytest.approx(9.0)
    assert out.stages["detector"] == pytest.approx(6.0)
    assert out.stages["rest"] == pytest.approx(3.0)


# ---------------------------------------------------------------------------------------------
# temporal figures on hand-computable sequences


def _hand(cx=100.0, cy=100.0, s=50.0):
    rng = np.random.default_rng(0)
    k = rng.uniform(-0.5, 0.5, (17, 2)) * s + (cx, cy)
    k[0] = (cx, cy + s / 2)
    k[5] = (cx - s / 4, cy - s / 4)
    k[14] = (cx + s / 4, cy - s / 4)
    return k


@pytest.mark.parametrize("lag_frames", [0.0, 1.0, 2.0, 1.5, 0.25, -1.0])
def test_lag_of_a_constant_velocity_track_is_exact(lag_frames):
    """pred(t) = gt(t - L) on a 3 px/frame ramp: the MSE curve is 9 (d - L)^2, a parabola, so the
    sub-frame refinement returns L exactly (for |L - round(L)| <= 0.5)."""
    t_len = 120
    t = np.arange(t_len, dtype=np.float64)
    g = _hand(0, 200)[None] + np.stack([3.0 * t, 0 * t], 1)[:, None, :]
    pred = g - np.array([3.0 * lag_frames, 0.0])
    r = temporal.lag(pred, g, np.ones(t_len, bool), max_lag=4)
    assert r.lag == pytest.approx(lag_frames, abs=1e-9)
    assert r.curve[2] == pytest.approx(9.0 * (2 - lag_frames) ** 2)


def test_summarize_hand_made_sequence():
    """One hand, 60 frames at 30 fps: still for 20 frames (prediction alternates +-0.5 px in x),
    then moves 4 px/frame (from frame 20) with a prediction 2 frames late; gone from view 40-49 (the method
    reports it again at 52); a side flip at 30; one false hand at frames 0-5."""
    t_len = 60
    t = np.arange(t_len, dtype=np.float64)
    x = np.where(t < 20, 0.0, 4.0 * (t - 19))
    g = (_hand(100, 200)[None] + np.stack([x, 0 * x], 1)[:, None, :])[:, None]   # (T, 1, 17, 2)
    vis = np.ones((t_len, 1, 17), bool)
    vis[40:50] = False
    present = vis.sum(-1) >= 12
    preds = []
    for i in range(t_len):
        if 40 <= i < 52:
            preds.append([])
            continue
        k = g[i, 0].copy() if i < 20 else g[max(i - 2, 0), 0].copy()
        if i < 20:
            k[:, 0] += 0.5 * (1 if i % 2 == 0 else -1)
        side = "right" if i < 30 else "left"
        hands = [PredHand(k, side, 3)]
        if i < 6:
            hands.append(PredHand(_hand(600, 50), "left", 4))
        preds.append(hands)
    tr = temporal.align(preds, g, vis)
    s = temporal.summarize(tr, g, vis, present, ["right"], fps=30.0, max_lag=4)
    palm = float(temporal.palm_size(g[0, 0]))
    # still frames 1..18 (truth identical at t-1, t, t+1); |second difference| = 2 px per keypoint
    assert s["jitter_frames"] == 18
    assert s["jitter"] == pytest.approx(2.0 / palm)
    assert min(s["lag_curve"], key=s["lag_curve"].get) == 2
    assert s["lag"] == pytest.approx(2.0, abs=0.02)   # frame 19 (moving by the central difference) is not late
    assert (s["side_swaps"], s["id_swaps"]) == (1, 0)
    assert s["swaps_per_min"] == pytest.approx(1 / (60 / 30 / 60))
    assert s["reacq_frames"] == [2.0]           # back in view at 50, reported at 52
    assert s["found_rate"] == pytest.approx(48 / 50)   # present 50 frames, reported on 48 of them
    assert s["side_accuracy"] == pytest.approx(30 / 48)   # right on frames 0-29
    assert s["false_pos_per_frame"] == pytest.approx(6 / 60)


# ---------------------------------------------------------------------------------------------
# soak: growth (MiB, after warm-up) and slope (MiB per 10k frames, second half) by hand


@pytest.mark.parametrize("samples, warmup, growth, slope", [
    # a 50 MiB start-up jump before frame 1000, then flat: no growth, no slope
    ([(0, 100.0), (1000, 150.0), (2000, 150.0), (3000, 150.0), (4000, 150.0)], 1000, 0.0, 0.0),
    # 1 MiB per 1000 frames throughout: 10 MiB per 10k; growth 3000..7000 = 4 MiB
    ([(f, 200.0 + f / 1000) for f in range(0, 8000, 1000)], 3000, 4.0, 10.0),
    # flat first half, then 2 MiB per 1000 frames: the slope reads the second half only
    ([(0, 10.0), (1000, 10.0), (2000, 10.0), (3000, 10.0), (4000, 12.0), (5000, 14.0), (6000, 16.0),
      (7000, 18.0)], 0, 8.0, 20.0),
])
def test_soak_growth_and_slope_by_hand(samples, warmup, growth, slope):
    from bench.soak import SoakResult
    r = SoakResult(frames=samples[-1][0] + 1, seconds=1.0, samples=samples, warmup=warmup)
    assert r.growth_mib == pytest.approx(growth)
    assert r.slope_mib_per_10k == pytest.approx(slope, abs=1e-9)
