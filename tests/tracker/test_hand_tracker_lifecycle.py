"""HandTracker as an application embeds it: its options after construction, a second video on
one tracker, several trackers in one process, results as plain data, close/with/reuse, and
what keeps a closed tracker alive."""
from __future__ import annotations

import copy
import dataclasses
import gc
import pickle
import weakref

import numpy as np
import pytest

from tracker import HandTracker, HandTrackerOptions, HandTrackerResult
from .tracker_fakes import SceneHand, blank, fake_tracker, hand_keypoints
from ..conftest import VIDEOS, require_shared


def _two_hands(scene, dx: float = 0.0) -> None:
    scene.hands = [SceneHand(hand_keypoints(90 + dx, 130), True),
                   SceneHand(hand_keypoints(230 - dx, 130, right=False), False)]


# -- options ----------------------------------------------------------------------------------
@pytest.mark.parametrize("name, value", [
    ("max_hands", 1),             # read by the associator at construction: was half applied
    ("max_hands", 0),             # invalid: was taken without a word
    ("smoothing_strength", 2.0),  # read at construction/reset(): was silently ignored until reset()
    ("static_image_mode", True),  # read per frame: the mode switched mid-stream on old tracks
    ("device", "cuda"),           # read at construction only: was silently ignored
])
def test_a_trackers_options_cannot_be_changed_after_construction(name, value):
    t, scene, _, _ = fake_tracker()
    _two_hands(scene)
    for i in range(3):
        assert len(t.process(blank(), i * 33).hands) == 2
    before = getattr(t.options, name)
    with pytest.raises(AttributeError, match=rf"{name}.*HandTracker\(tracker.options, {name}="):
        setattr(t.options, name, value)
    assert getattr(t.options, name) == before
    assert len(t.process(blank(), 99).hands) == 2          # the tracker goes on as built


def test_options_passed_in_are_copied_and_stay_the_callers():
    opts = HandTrackerOptions(max_hands=2)
    t, scene, _, _ = fake_tracker()
    t2 = HandTracker(opts, detector=t.detector, landmark_model=t.landmarks)
    opts.max_hands = 1                                     # the caller's object: still theirs to change
    assert t2.options.max_hands == 2 and t2.options is not opts


def test_new_options_from_a_trackers_options():
    t, _, _, _ = fake_tracker(max_hands=2, mirrored=True)
    t1 = HandTracker(t.options, detector=t.detector, landmark_model=t.landmarks, max_hands=1)
    assert (t1.options.max_hands, t1.options.mirrored, t.options.max_hands) == (1, True, 2)
    # copies of a tracker's options are ordinary, changeable options equal to it
    for c in (dataclasses.replace(t.options), copy.copy(t.options), copy.deepcopy(t.options),
              pickle.loads(pickle.dumps(t.options))):
        assert c == t.options and type(c) is HandTrackerOptions
        c.max_hands = 1
        assert c.max_hands == 1 and t.options.max_hands == 2
    t.options.validate()                                   # validating it again changes nothing: no error
    assert dataclasses.asdict(t.options)["max_hands"] == 2


# -- a second video on one tracker ------------------------------------------------------------
def test_timestamps_going_back_point_to_reset_and_reset_starts_a_new_video():
    t, scene, _, _ = fake_tracker()
    _two_hands(scene)
    for i in range(30):
        first = t.process(blank(), i * 33.3)
    assert {h.track_id for h in first.hands} == {0, 1}
    with pytest.raises(ValueError, match=r"timestamp_ms must not decrease.*reset\(\)"):
        t.process(blank(), 0.0)                            # the second video's first frame
    t.reset()
    scene.hands = [SceneHand(hand_keypoints(160, 120), True)]
    r = t.process(blank(), 0.0)
    # nothing of the first video: frame count, ids and tracks start again
    assert r.frame_index == 0 and [h.track_id for h in r.hands] == [0] and len(t.associator.tracks) == 1
    np.testing.assert_allclose(r.hands[0].keypoints, hand_keypoints(160, 120), atol=1e-3)


# -- close, with, reuse -------------------------------------------------------------------------
def test_close_twice_reset_after_close_and_models_passed_in_stay_open():
    t, _, det, lm = fake_tracker()
    with t:
        t.process(blank(), 0)
    t.close()                                              # a second close: no error
    t.reset()                                              # harmless on a closed tracker ...
    with pytest.raises(RuntimeError, match="closed"):
        t.process(blank(), 0)                              # ... which stays closed
    assert not getattr(lm, "closed", False)                # the caller's own models are the caller's


def test_a_dropped_tracker_is_freed_without_the_cycle_collector():
    t, scene, _, _ = fake_tracker()
    _two_hands(scene)
    for i in range(5):
        t.process(blank(), i * 33)
    ref = weakref.ref(t)
    gc.disable()
    try:
        del t
        assert ref() is None, "a reference cycle keeps the tracker (and its models) alive"
    finally:
        gc.enable()


# -- results are plain data -------------------------------------------------------------------
@pytest.mark.parametrize("static", [False, True])
def test_results_pickle_and_deepcopy(static):
    t, scene, _, _ = fake_tracker(static_image_mode=static)
    _two_hands(scene)
    r = [t.process(blank(), i * 33) for i in range(3)][-1]
    for c in (pickle.loads(pickle.dumps(r)), copy.deepcopy(r)):
        assert isinstance(c, HandTrackerResult) and c.to_dict() == r.to_dict()
        np.testing.assert_array_equal(c.as_array(), r.as_array())


# -- real models ------------------------------------------------------------------------------
def _clip(name: str, n: int) -> list[np.ndarray]:
    import cv2
    cap = cv2.VideoCapture(str(require_shared(VIDEOS) / name))
    frames = []
    while len(frames) < n:
        ok, f = cap.read()
        if not ok:
            break
        frames.append(cv2.resize(f, None, fx=0.5, fy=0.5))
    cap.release()
    assert len(frames) == n
    return frames


def _run(tracker: HandTracker, frames) -> list[HandTrackerResult]:
    return [tracker.process(f, i * 33.3) for i, f in enumerate(frames)]


def test_trackers_in_one_process_are_independent():
    """One tracker per camera: two trackers fed frame by frame in turn give what each gives alone."""
    a_frames, b_frames = _clip("huytung_2hand.mp4", 25), _clip("ali_hand.mp4", 25)
    with HandTracker(threads=1) as a:
        alone_a = [r.as_array() for r in _run(a, a_frames)]
    with HandTracker(threads=1) as b:
        alone_b = [r.as_array() for r in _run(b, b_frames)]
    assert any(np.isfinite(x).any() for x in alone_a) and any(np.isfinite(x).any() for x in alone_b)
    with HandTracker(threads=1) as a, HandTracker(threads=1) as b:
        for i, (fa, fb) in enumerate(zip(a_frames, b_frames)):
            np.testing.assert_array_equal(a.process(fa, i * 33.3).as_array(), alone_a[i])
            np.testing.assert_array_equal(b.process(fb, i * 33.3).as_array(), alone_b[i])


@pytest.mark.parametrize("static", [False, True])
def test_later_frames_do_not_change_earlier_results(static):
    """Results are kept (a recording, a queue to another thread): no array of one may be a buffer
    that a later frame's processing writes into."""
    frames = _clip("huytung_2hand.mp4", 20)
    results, kept = [], []
    with HandTracker(threads=1, static_image_mode=static) as t:
        for i, f in enumerate(frames + frames[::-1]):
            r = t.process(f, i * 33.3)
            results.append(r)
            kept.append(copy.deepcopy(r))        # as it was when returned
    assert sum(len(r.hands) for r in results) > 20
    for r, k in zip(results, kept):
        assert [h.track_id for h in r.hands] == [h.track_id for h in k.hands]
        for h, hk in zip(r.hands, k.hands):
            for name in ("keypoints", "raw_keypoints", "scores", "box"):
                np.testing.assert_array_equal(getattr(h, name), getattr(hk, name), err_msg=name)


def test_a_closed_real_tracker_frees_its_sessions():
    with HandTracker(threads=1) as t:
        t.process(_clip("huytung_2hand.mp4", 1)[0], 0.0)
        refs = [weakref.ref(t), weakref.ref(t.landmarks), weakref.ref(t.detector)]
    gc.disable()
    try:
        del t
        assert [r() for r in refs] == [None, None, None]
    finally:
        gc.enable()
