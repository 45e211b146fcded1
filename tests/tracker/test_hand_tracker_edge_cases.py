"""Edge cases of the tracking core found by an audit: each test failed before its fix."""
from __future__ import annotations

import numpy as np
import pytest

from tracker import HandTrackerOptions
from tracker.codec import HeatmapCodec
from tracker.smoothing import KalmanKeypointFilter
from .tracker_fakes import SceneHand, blank, fake_tracker, hand_keypoints


def test_mirrored_video_mode_reports_left_first():
    """``HandTrackerResult.hands`` is "left first" whatever ``mirrored`` says: in video mode the
    hands were ordered by their sides before the mirrored labels were swapped (right first)."""
    tr, scene, _, _ = fake_tracker(mirrored=True)
    scene.hands = [SceneHand(hand_keypoints(90, 130), True),
                   SceneHand(hand_keypoints(230, 130, right=False), False)]
    for i in range(3):
        r = tr.process(blank(), i * 33)
        assert [h.side for h in r.hands] == ["left", "right"]


def _nan_cell(k: int = 17) -> np.ndarray:
    hm = np.full((k, 32, 32), 1 / 1024, np.float32)
    hm[:, 20, 7] = np.nan
    return hm


@pytest.mark.parametrize("heatmaps", [np.full((17, 32, 32), np.nan, np.float32), _nan_cell()],
                         ids=["all-nan", "one-nan-cell"])
def test_codec_decode_of_non_finite_heatmaps_scores_zero(heatmaps):
    """A heatmap holding NaN (a broken model or a half-precision overflow) gave NaN scores with
    finite keypoints, which passed the tracker's confidence checks (NaN compares False); its
    keypoints cannot be trusted: score 0."""
    kps, scores = HeatmapCodec().decode(heatmaps)
    assert np.isfinite(kps).all()
    assert np.isfinite(scores).all() and (scores == 0).all()


def test_kalman_filter_survives_nan_scores():
    """Non-finite scores made the measurement noise NaN and with it the filter's state, for good:
    every later update of the track returned NaN keypoints."""
    k = hand_keypoints(100, 100)
    f = KalmanKeypointFilter()
    f.update(k, np.full(17, 0.9), t_s=0.0)
    assert np.isfinite(f.update(k, np.full(17, np.nan), t_s=1 / 30)).all()
    out = f.update(k + 2, np.full(17, 0.9), t_s=2 / 30)
    assert np.isfinite(out).all() and np.abs(out - (k + 2)).max() < 3


def test_numpy_floats_are_taken_as_python_floats():
    """Options computed with numpy (np.float32 from a config array, say) were rejected with a
    message that contradicted itself ("must be in [0, 1], got np.float32(0.4)"), while numpy
    integers are taken for the integer options."""
    opts = HandTrackerOptions(min_detection_confidence=np.float32(0.4), min_tracking_confidence=np.float16(0.5),
                              smoothing_strength=np.float32(1.5), min_hand_size=np.float32(0.05),
                              side_lock=np.float32(20), refine_score=np.float64(0.6)).validate()
    for name, want in (("min_detection_confidence", 0.4), ("min_tracking_confidence", 0.5), ("smoothing_strength", 1.5),
                       ("min_hand_size", 0.05), ("side_lock", 20.0), ("refine_score", 0.6)):
        v = getattr(opts, name)
        assert type(v) is float and v == pytest.approx(want, abs=1e-3), (name, v)
    for name, bad in (("min_tracking_confidence", np.float32(1.5)), ("smoothing_strength", np.float32(0)),
                      ("side_lock", np.float32(np.inf)), ("min_hand_size", np.float32(np.nan))):
        with pytest.raises(ValueError, match=name):
            HandTrackerOptions(**{name: bad}).validate()


def test_numpy_integer_detector_turns():
    """``detector_turns`` rejected numpy integers ("must be one of [1, 2, 4], got np.int64(2)"),
    which every other integer option takes."""
    opts = HandTrackerOptions(detector_turns=np.int64(2)).validate()
    assert opts.detector_turns == 2 and type(opts.detector_turns) is int
    for bad in (np.int64(3), np.bool_(True), np.float64(2.0)):
        with pytest.raises(ValueError, match="detector_turns"):
            HandTrackerOptions(detector_turns=bad).validate()


@pytest.mark.parametrize("clock, static, warning, fast", [
    (lambda i: 0.0, False, "has stayed at 0 for 10 frames", False),                 # a webcam's POS_MSEC
    (lambda i: i / 30.0, False, "ms per frame over 10 frames (over 1000 fps)", False),  # seconds, not ms
    (lambda i: i * 1000.0 / 30.0, False, None, False),                             # milliseconds at 30 fps
    (lambda i: i * 1000.0 / 240.0, False, None, True),                             # a 240 fps camera
    (lambda i: 0.0, True, None, False),                                            # photos: no smoothing
], ids=["zeros", "seconds", "ms-30fps", "ms-240fps", "static"])
def test_a_clock_that_is_not_milliseconds_is_warned_of_once(clock, static, warning, fast, caplog):
    """Timestamps that do not advance, or advance in seconds, give the smoothing a wrong dt
    (keypoints a median 13 px off on a real clip): one warning after 10 frames says so."""
    tr, scene, _, _ = fake_tracker(static_image_mode=static)
    scene.hands = [SceneHand(hand_keypoints(90, 130), True)]
    with caplog.at_level("WARNING", logger="tracker.hand_tracker"):
        for i in range(25):
            tr.process(blank(), clock(i))
    said = [r.getMessage() for r in caplog.records]
    # the frame-rate hint (a stream of 45 fps or more without frame_rate: test_hand_tracker_frame_rate.py) is
    # not about the clock's units
    rate_hint = [m for m in said if m.startswith("the frames come at about")]
    found = [m for m in said if "timestamp_ms" in m and m not in rate_hint]
    if warning is None:
        assert found == []
    else:
        assert len(found) == 1 and warning in found[0]
    assert len(rate_hint) == int(fast)


@pytest.mark.parametrize("name", ["min_detection_confidence", "min_tracking_confidence", "refine_score",
                                  "low_detection_confidence", "smoothing_strength", "min_hand_size"])
def test_a_bool_is_no_number_option(name):
    """``True`` passed for a number (a slip between positional options) was taken as 1.0:
    ``min_detection_confidence=True`` found no hand at all, without a word."""
    with pytest.raises(ValueError, match=f"{name} must be .*got True"):
        HandTrackerOptions(**{name: True}).validate()
