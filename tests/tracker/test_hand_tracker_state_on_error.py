"""Session 41 review of the tracker's per-frame state: a ``process`` call that raises part-way,
frames without timestamps between timestamped ones, and the rounding of the frame counts that
``frame_rate`` scales.

1. A call that raised (a model failing on one frame) had already moved the detector's schedule on
   (``_frames_since_detector`` set to 0 for the run that failed, the turn rotation, the unsure-hand
   check's last frame, the clock checks' last timestamp): the next frames skipped the detector, or
   the unsure-hand check, as if the failed frame had been processed.
2. A frame with ``timestamp_ms=None`` advanced the smoothing by one frame time (1/frame_rate s)
   but left the filter's clock at the last timestamp given, so the next timestamped frame's dt
   counted that frame time a second time.
3. ``_frames_at`` rounded halves to even (Python's ``round``): 2.5 -> 2 but 3.5 -> 4.
"""
from __future__ import annotations

import numpy as np
import pytest

from tracker.hand_tracker import _frames_at
from tracker.smoothing import make_filter

from .test_detector_turns import UprightOnlyDetector
from .tracker_fakes import FakeLandmarks, Scene, SceneHand, blank, hand_keypoints

FRAME_MS = 1000.0 / 30


class _FailsOnce:
    """A fake model that raises on its ``n``-th call after ``arm(n)`` (once); otherwise the model."""

    def __init__(self, model) -> None:
        self.model, self.countdown = model, 0

    def arm(self, n: int = 1) -> None:
        self.countdown = n

    def __getattr__(self, name):
        return getattr(self.__dict__["model"], name)

    def __call__(self, *args, **kwargs):
        if self.countdown:
            self.countdown -= 1
            if not self.countdown:
                raise RuntimeError("the model failed on this frame")
        return self.model(*args, **kwargs)


class _CropsLandmarks(FakeLandmarks):
    """FakeLandmarks that records the centres of the crops of each call."""

    def __init__(self, scene: Scene) -> None:
        super().__init__(scene)
        self.crops_seen: list[list[tuple[float, float]]] = []

    def __call__(self, frame_bgr, rois):
        self.crops_seen.append([(round(r.cx, 3), round(r.cy, 3)) for r in rois])
        return super().__call__(frame_bgr, rois)


def _hands(scene: Scene, i: int, n_hands: int, keypoint_score: float | None) -> None:
    """The scene's hands on frame ``i``: up to one right hand moving 2 px per frame."""
    scene.hands = [SceneHand(hand_keypoints(100 + 2 * i, 130, 30.0), True, keypoint_score=keypoint_score)
                   ][:n_hands]


def _run(n: int, fail: int | None, skip: int | None, which: str, call: int, n_hands: int,
         keypoint_score: float | None = None, **options) -> tuple[list, list]:
    """Frames 0..n-1 on fake models; on frame ``fail`` the ``which`` model ("detector" or
    "landmarks") raises on its ``call``-th call of the frame; frame ``skip`` is never offered.
    Returns, for the frames after ``fail`` / ``skip`` (all frames when neither is given), per frame
    (detector_ran, frame_index, hands), and the detector's and landmark model's calls after them
    (the turns asked, the crops' centres)."""
    from tracker import HandTracker
    scene = Scene()
    det, lm = _FailsOnce(UprightOnlyDetector(scene)), _FailsOnce(_CropsLandmarks(scene))
    crops = lm.model.crops_seen
    frames, after = [], ((0, 0) if fail is None and skip is None else None)
    with HandTracker(detector=det, landmark_model=lm, **options) as tr:
        for i in range(n):
            if i == skip:
                after = (len(det.model.turns_asked), len(crops))
                continue
            _hands(scene, i, n_hands, keypoint_score)
            if i == fail:
                (det if which == "detector" else lm).arm(call)
                with pytest.raises(RuntimeError, match="model failed"):
                    tr.process(blank(), i * FRAME_MS)
                assert not det.countdown and not lm.countdown, "the model was not called as often as armed"
                after = (len(det.model.turns_asked), len(crops))
                continue
            r = tr.process(blank(), i * FRAME_MS)
            if after is not None:
                frames.append((r.detector_ran, r.frame_index,
                               [(h.track_id, h.side, h.keypoints.round(4).tolist()) for h in r.hands]))
    return frames, [det.model.turns_asked[after[0]:], crops[after[1]:]]


#: (which model fails, its call within the frame, hands in view, their keypoint confidence, options)
CASES = {
    # no hand: the detector backs off (every 3rd frame); it fails on a scheduled run
    "detector backing off": ("detector", 1, 0, None, {}),
    # ... with a look in another turn (one after another) on the frame after each run
    "detector with turns": ("detector", 1, 0, None, {"detector_turns": 4}),
    # one hand tracked, a slot free: the landmark model fails on the batch with the detector's crop
    "landmarks after a detector run": ("landmarks", 1, 1, None, {"max_hands": 2}),
    # an unsure hand (confidence 0.5) checked in a detector crop every 10 frames: the landmark
    # model fails on that crop (the frame's second call)
    "landmarks in the unsure-hand check": ("landmarks", 2, 1, 0.5, {"max_hands": 1}),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_failed_call_leaves_the_schedule_as_if_it_had_not_been_made(case):
    """After a call that raised, the next calls run the detector (and look in the same turns,
    measure the same crops, report the same hands) as when the failed frame was never offered.
    The failed frame is the first from frame 8 on where the detector runs (its default schedule,
    or the unsure hand's check)."""
    which, call, n_hands, score, options = CASES[case]
    clean, _ = _run(30, None, None, which, call, n_hands, score, **options)
    ran = [i for i, (r, *_rest) in enumerate(clean) if r]
    fail = next(i for i in ran if i >= 8)
    if case == "landmarks in the unsure-hand check":
        assert ran == [0, 1, 11, 21], ran          # the check's own schedule, at a frame after the start
    failed, failed_calls = _run(30, fail, None, which, call, n_hands, score, **options)
    skipped, skipped_calls = _run(30, None, fail, which, call, n_hands, score, **options)
    assert [r for r, *_ in failed] == [r for r, *_ in skipped], "detector runs after the failure"
    assert failed_calls == skipped_calls
    assert failed == skipped
    assert any(r for r, *_ in failed[:3])      # the comparison covers a detector run soon after


def test_a_failed_call_s_timestamp_is_not_kept():
    """A timestamp of a call that raised is not the last one given: the next call may be earlier
    (it raised "timestamp_ms must not decrease")."""
    from tracker import HandTracker
    scene = Scene()
    det, lm = _FailsOnce(UprightOnlyDetector(scene)), FakeLandmarks(scene)
    with HandTracker(detector=det, landmark_model=lm) as tr:
        tr.process(blank(), 0.0)
        det.arm()
        with pytest.raises(RuntimeError, match="model failed"):
            tr.process(blank(), 400.0)
        assert tr.process(blank(), 390.0).frame_index == 1


def test_a_failed_frame_of_a_new_size_still_ends_the_tracks():
    """The tracks a frame of a new size ends are not brought back when its call fails (the
    restart is the new frame size's, not the failed frame's work): the next frame of that size
    finds the hand under a new id, as without the failure."""
    from tracker import HandTracker
    scene = Scene()
    det, lm = _FailsOnce(UprightOnlyDetector(scene)), FakeLandmarks(scene)
    _hands(scene, 0, 1, None)
    with HandTracker(detector=det, landmark_model=lm) as tr:
        assert [h.track_id for h in tr.process(blank(), 0.0).hands] == [0]
        det.arm()
        with pytest.raises(RuntimeError, match="model failed"):
            tr.process(blank(400, 300), FRAME_MS)
        r = tr.process(blank(400, 300), 2 * FRAME_MS)
        assert r.detector_ran and [h.track_id for h in r.hands] == [1]


# -- frames without timestamps between timestamped ones -------------------------------------------

def _moving(i: int) -> np.ndarray:
    return hand_keypoints(100 + 6 * i, 130 + 2 * i, 40.0).astype(np.float64)


@pytest.mark.parametrize("step", ["update", "predict"])
def test_a_frame_without_timestamp_moves_the_filter_clock_on(step):
    """t=0, None (one frame time), t=2, 3 frames: the same filter as with t=0, 1, 2, 3 frames (the
    None frame's step was counted again in the next dt, two frames instead of one). ``step``: the
    None frame updates the filter or only predicts (the hand missed)."""
    dt = 1 / 30
    kept, timed = make_filter("kalman"), make_filter("kalman")
    for i in range(4):
        for f, t in ((kept, None if i == 1 else i * dt), (timed, i * dt)):
            if i == 1 and step == "predict":
                f.predict(t)
            else:
                f.update(_moving(i), np.full(17, 0.9), t_s=t)
        assert kept.t_s == pytest.approx(timed.t_s) and timed.t_s == pytest.approx(i * dt)
        assert np.allclose(kept.peek((i + 1) * dt), timed.peek((i + 1) * dt), atol=1e-4)
    assert np.allclose(kept.x, timed.x, atol=1e-6)
    assert np.allclose(kept.P, timed.P, rtol=1e-6)


def test_the_clock_a_frame_without_timestamp_assumes_is_the_filter_s_frame_time():
    """With ``default_dt`` (the tracker's 1/frame_rate) the None frame moves the clock by that."""
    f = make_filter("kalman", default_dt=1 / 60)
    f.update(_moving(0), None, t_s=1.0)
    f.update(_moving(1), None, t_s=None)
    assert f.t_s == pytest.approx(1.0 + 1 / 60)
    g = make_filter("kalman")
    g.update(_moving(0), None, t_s=None)          # no timestamp yet: the clock stays unknown
    g.update(_moving(1), None, t_s=None)
    assert g.t_s is None


def test_a_timestamp_before_the_assumed_frame_time_is_clamped_as_before():
    """A timestamp earlier than the None frame's assumed time gives the least dt (1 ms), as a
    repeated timestamp does, and sets the clock to itself."""
    f = make_filter("kalman")
    f.update(_moving(0), None, t_s=0.0)
    f.update(_moving(1), None, t_s=None)
    assert f._dt(0.01) == pytest.approx(1e-3)
    f.update(_moving(2), None, t_s=0.01)
    assert f.t_s == pytest.approx(0.01)


@pytest.mark.parametrize("frame_rate", [None, 60])
def test_tracker_mixing_timestamps_and_none_smooths_as_with_all_timestamps(frame_rate):
    """A moving hand at 0, None, 2, 3 frame times: the keypoints are those of the same frames
    all timestamped (a None frame is 1/frame_rate s after the one before)."""
    from .tracker_fakes import fake_tracker
    frame_ms = 1000.0 / (frame_rate or 30)
    out = []
    for times in ((0.0, None, 2 * frame_ms, 3 * frame_ms, None, 5 * frame_ms),
                  tuple(i * frame_ms for i in range(6))):
        t, scene, *_ = fake_tracker(frame_rate=frame_rate)
        kps = []
        for i, ts in enumerate(times):
            scene.hands = [SceneHand(_moving(i).astype(np.float32), True)]
            # at 60 fps a sure side vote weighs half: the hand is shown from its 2nd frame
            # (side_wait), NaN before
            kps.append([h.keypoints for h in t.process(blank(), ts).hands] or [np.full((17, 2), np.nan)])
        out.append(np.array(kps))
    assert out[0].shape == (6, 1, 17, 2)
    assert np.isfinite(out[0][1:]).all() and np.isfinite(out[1][1:]).all()
    assert np.allclose(out[0], out[1], atol=1e-3, equal_nan=True), np.nanmax(np.abs(out[0] - out[1]))


@pytest.mark.parametrize("frame_rate", [None, 60])
@pytest.mark.parametrize("times, expected", [
    # given times in ms; None: expected as (last given ms, frames after it)
    ((1000.0, None, None, 1100.0, None), (1000.0, (1000.0, 1), (1000.0, 2), 1100.0, (1100.0, 1))),
    ((None, None, 500.0, None), ((0.0, 0), (0.0, 1), 500.0, (500.0, 1))),
    ((None, None, None), ((0.0, 0), (0.0, 1), (0.0, 2))),
])
def test_a_frame_without_timestamp_reports_one_frame_time_after_the_frame_before(frame_rate, times, expected):
    """``result.timestamp_ms`` of a None frame was ``frame_index * 1000 / fps`` whatever had been
    given before: after 1000 ms it said 33.3 ms, going back in time in the JSONL and CSV. It is
    now one frame time (1000 / frame_rate ms, 30 fps when None) after the frame before, as the
    smoothing takes it."""
    from .tracker_fakes import fake_tracker
    frame_ms = 1000.0 / (frame_rate or 30)
    t, *_ = fake_tracker(frame_rate=frame_rate)
    got = [t.process(blank(), ts).timestamp_ms for ts in times]
    want = [e if isinstance(e, float) else e[0] + e[1] * frame_ms for e in expected]
    assert got == pytest.approx(want)
    assert got == sorted(got)


# -- frame counts scaled by frame_rate -------------------------------------------------------------

@pytest.mark.parametrize("count, frame_rate, expected", [
    (5, 15, 3),           # 2.5: round() gave 2
    (9, 15, 5),           # 4.5: round() gave 4
    (7, 15, 4),           # 3.5
    (1, 15, 1),           # 0.5: round() gave 0
    (3, 15, 2),           # 1.5
    (15, 15, 8),          # 7.5
    (15, 45, 23),         # 22.5: round() gave 22
    (3, 25, 3),           # 2.5: round() gave 2
    (10, 25, 8),          # 8.33
    (15, 60, 30),
    (0, 60, 0),
    (1, 1, 0),            # 0.03
    (60, 30.25, 61),      # 60.5: round() gave 60
    (15, None, 15),
    (0, None, 0),
])
def test_frames_at_rounds_halves_up(count, frame_rate, expected):
    assert _frames_at(count, frame_rate) == expected
    assert isinstance(_frames_at(count, frame_rate), int)


def test_scaled_options_round_halves_up_and_keep_their_least_values():
    """The counts in use: halves up, ``detector_interval`` at least 1, 0 stays 0."""
    from .tracker_fakes import fake_tracker
    t, *_ = fake_tracker(frame_rate=15, max_missed=5, detector_interval=1, redetection_frames=9, side_wait=3)
    assert t.effective_counts == {"max_missed": 3, "detector_interval": 1, "redetection_frames": 5, "side_wait": 2}
    t, *_ = fake_tracker(frame_rate=1, max_missed=0, detector_interval=5, redetection_frames=0, side_wait=0)
    assert t.effective_counts == {"max_missed": 0, "detector_interval": 1, "redetection_frames": 0, "side_wait": 0}
