"""``HandTrackerOptions.frame_rate``: the frame-count options (``max_missed``,
``detector_interval``, ``redetection_frames``) read as counts at 30 fps and scaled to the stream's
frame rate; None (default) uses them as given. Also the CLI's ``--frame-rate FPS|auto``."""
from __future__ import annotations

import logging
import math

import numpy as np
import pytest

from tracker import HandTrackerOptions, cli
from tracker import hand_tracker as ht
from tracker.video import VideoSink

from .tracker_fakes import FakeDetector, FakeLandmarks, Scene, SceneHand, blank, fake_tracker, hand_keypoints


def _scenario(**options) -> list[tuple]:
    """Per-frame outcome of a two-hand clip on fake models: hands move, one is hidden for 12
    frames, both leave for 40 frames (the detector backs off) and come back."""
    t, scene, det, lm = fake_tracker(Scene(noise_px=1.5, seed=3), **options)
    right = lambda i: SceneHand(hand_keypoints(80 + i, 120, 30.0), True)                  # noqa: E731
    left = lambda i: SceneHand(hand_keypoints(240 - i, 110, 30.0, right=False), False)   # noqa: E731
    out = []
    for i in range(120):
        if i < 30 or i >= 85:
            scene.hands = [right(i % 40), left(i % 40)]
        elif i < 42:
            scene.hands = [right(i % 40)]
        elif i < 45:
            scene.hands = [right(i % 40), left(i % 40)]
        else:
            scene.hands = []
        r = t.process(blank(), i * 1000 / 60)
        out.append((r.detector_ran, tuple((h.track_id, h.side, h.keypoints.tobytes(), h.handedness)
                                          for h in r.hands)))
    out.append((det.calls, lm.crops))
    return out


def test_frame_rate_none_is_the_default_and_30_changes_nothing():
    base = _scenario()
    assert sum(ran for ran, _ in base[:-1]) < 110          # the back-off did skip frames
    assert _scenario(frame_rate=None) == base
    assert _scenario(frame_rate=30) == base
    assert _scenario(frame_rate=30.0) == base


def test_effective_counts_scale_with_frame_rate():
    t, *_ = fake_tracker()
    assert t.effective_counts == {"max_missed": 15, "detector_interval": 3, "redetection_frames": 60, "side_wait": 3}
    t, *_ = fake_tracker(frame_rate=60, side_wait=3)
    assert t.effective_counts == {"max_missed": 30, "detector_interval": 6, "redetection_frames": 120, "side_wait": 6}
    # the options keep the user's values
    assert (t.options.frame_rate, t.options.max_missed, t.options.detector_interval,
            t.options.redetection_frames, t.options.side_wait) == (60, 15, 3, 60, 3)
    assert t.associator.max_missed == 30
    assert t._recent_counts.maxlen == 120
    t.reset()                                           # rebuilt from the effective counts too
    assert t.associator.max_missed == 30 and t._recent_counts.maxlen == 120
    # low rates: the interval stays >= 1, a 0 stays 0
    t, *_ = fake_tracker(frame_rate=5, detector_interval=1, redetection_frames=0, max_missed=2, side_wait=2)
    assert t.effective_counts == {"max_missed": 0, "detector_interval": 1, "redetection_frames": 0, "side_wait": 0}
    t, *_ = fake_tracker(frame_rate=np.float32(15.0))
    assert t.effective_counts == {"max_missed": 8, "detector_interval": 2, "redetection_frames": 30, "side_wait": 2}
    assert type(t.options.frame_rate) is float
    with pytest.raises(AttributeError):
        t.effective_counts = {}


def test_detector_back_off_uses_the_scaled_interval():
    runs = {}
    for fr in (None, 60):
        t, scene, det, _ = fake_tracker(frame_rate=fr)
        for i in range(120):                         # no hand at all: the detector backs off
            t.process(blank(), i * 1000 / 60)
        runs[fr] = det.calls
    assert runs[None] > 1.7 * runs[60]               # every 3rd frame against every 6th


def _hidden_hand_ids(**options) -> tuple[int, int]:
    """Track id of one hand before and after it is hidden for 20 frames of a 60 fps stream."""
    t, scene, *_ = fake_tracker(Scene(noise_px=1.0), **options)
    hand = SceneHand(hand_keypoints(160, 120, 30.0), True)
    ids = []
    for i in range(60):
        scene.hands = [] if 20 <= i < 40 else [hand]
        r = t.process(blank(), i * 1000 / 60)
        if i in (19, 45):
            assert len(r.hands) == 1
            ids.append(r.hands[0].track_id)
    return tuple(ids)


def test_hand_hidden_for_a_third_of_a_second_at_60_fps_keeps_its_id():
    before, after = _hidden_hand_ids()
    assert before != after                           # default: 15 frames = a quarter second here
    before, after = _hidden_hand_ids(frame_rate=60)
    assert before == after


@pytest.mark.parametrize("bad", [0, -1, -0.5, float("nan"), float("inf"), 1e20, True, False, "60", [60]])
def test_bad_frame_rate_refused_by_name(bad):
    with pytest.raises(ValueError, match=r"frame_rate.*" + ("nan" if isinstance(bad, float) and math.isnan(bad)
                                                            else "")):
        HandTrackerOptions(frame_rate=bad).validate()
    with pytest.raises(ValueError, match="frame_rate"):
        fake_tracker(frame_rate=bad)


def test_frozen_options_refuse_frame_rate_change():
    t, *_ = fake_tracker(frame_rate=60)
    with pytest.raises(AttributeError, match="frame_rate"):
        t.options.frame_rate = 30


# -- CLI -----------------------------------------------------------------------------------------
@pytest.fixture
def built(monkeypatch):
    """Let cli.build_tracker (the real one) build on fake models; records the trackers built."""
    scene = Scene(noise_px=1.0)
    scene.hands = [SceneHand(hand_keypoints(60, 80, 30.0), True)]
    real = ht.HandTracker
    trackers = []

    def make(**kw):
        kw.pop("landmark_model_path"), kw.pop("detector_model_path")
        t = real(detector=FakeDetector(scene), landmark_model=FakeLandmarks(scene), **kw)
        trackers.append(t)
        return t

    monkeypatch.setattr(ht, "HandTracker", make)
    return trackers


def _video(path, fps):
    with VideoSink(path, fps=fps) as sink:
        for i in range(6):
            sink.write(np.full((120, 200, 3), 20 * i, np.uint8))
    return path


def test_cli_frame_rate_number(built, tmp_path, capsys):
    v = _video(tmp_path / "in.mp4", 30)
    assert cli.main(["video", str(v), "--no-progress", "--frame-rate", "60"]) == 0
    assert built[-1].options.frame_rate == 60
    assert built[-1].effective_counts["max_missed"] == 30
    assert "frame rate 60" in capsys.readouterr().out


def test_cli_without_frame_rate_passes_none(built, tmp_path, capsys):
    v = _video(tmp_path / "in.mp4", 30)
    assert cli.main(["video", str(v), "--no-progress"]) == 0
    assert built[-1].options.frame_rate is None
    assert "frame rate" not in capsys.readouterr().out


def test_cli_frame_rate_auto_reads_the_video(built, tmp_path, capsys):
    v = _video(tmp_path / "in.mp4", 50)
    assert cli.main(["video", str(v), "--no-progress", "--frame-rate", "auto", "--side-wait", "3"]) == 0
    assert built[-1].options.frame_rate == pytest.approx(50)
    assert built[-1].effective_counts == {"max_missed": 25, "detector_interval": 5, "redetection_frames": 100,
                                          "side_wait": 5}
    assert "frame rate 50" in capsys.readouterr().out


def test_cli_frame_rate_auto_with_inputs_of_different_rates_refused(built, tmp_path, capsys):
    a, b = _video(tmp_path / "a.mp4", 30), _video(tmp_path / "b.mp4", 60)
    assert cli.main(["video", str(a), str(b), "--no-progress", "--frame-rate", "auto"]) == 2
    err = capsys.readouterr().err
    assert "--frame-rate auto" in err and "a.mp4" in err and "b.mp4" in err
    assert not built


@pytest.mark.parametrize("bad", ["0", "-30", "nan", "inf", "1e20", "fast", ""])
def test_cli_bad_frame_rate_refused(built, tmp_path, capsys, bad):
    v = _video(tmp_path / "in.mp4", 30)
    with pytest.raises(SystemExit) as e:
        cli.main(["video", str(v), "--no-progress", "--frame-rate", bad])
    assert e.value.code == 2
    assert "--frame-rate must be" in capsys.readouterr().err
    assert not built


def test_cli_webcam_accepts_frame_rate():
    a = cli.make_parser().parse_args(["webcam", "--no-window", "--json", "x.jsonl", "--frame-rate", "auto"])
    assert a.frame_rate == "auto"
    a = cli.make_parser().parse_args(["webcam", "--frame-rate", "59.94"])
    assert a.frame_rate == pytest.approx(59.94)
    assert cli.make_parser().parse_args(["webcam"]).frame_rate is None


class _Camera:
    """A camera reporting ``fps`` for CAP_PROP_FPS, delivering ``n`` blank frames."""

    def __init__(self, fps: float, n: int = 5) -> None:
        self.fps, self.n, self.released = fps, n, 0

    def isOpened(self) -> bool:  # noqa: N802 - cv2.VideoCapture's name
        return True

    def get(self, prop) -> float:
        import cv2
        return self.fps if prop == cv2.CAP_PROP_FPS else 0.0

    def read(self):
        if self.n <= 0 or self.released:
            return False, None
        self.n -= 1
        return True, np.zeros((120, 200, 3), np.uint8)

    def release(self) -> None:
        self.released += 1


@pytest.mark.parametrize("reported, expect", [(60.0, 60.0), (0.0, None), (float("nan"), None)])
def test_cli_webcam_frame_rate_auto_uses_the_camera_rate(built, monkeypatch, tmp_path, capsys, reported, expect):
    import cv2
    cam = _Camera(reported)
    monkeypatch.setattr(cv2, "VideoCapture", lambda source: cam)
    rc = cli.main(["webcam", "--no-window", "--every-frame", "--json", str(tmp_path / "t.jsonl"),
                   "--frame-rate", "auto"])
    captured = capsys.readouterr()
    if expect is None:
        assert rc == 2 and not built
        assert "--frame-rate auto" in captured.err and "frame rate" in captured.err
    else:
        assert rc == 1 and built[-1].options.frame_rate == expect     # the camera's frames end
        assert "frame rate 60" in captured.out
    assert cam.released == 1


# 48 and 40 fps lie on either side of FAST_STREAM_FPS (45): with only 50 and 30 fps, a bar of 30
# passed (30 fps itself is not under it; session 78)
@pytest.mark.parametrize("fps, options, warned", [(60, {}, True), (50, {}, True), (48, {}, True), (40, {}, False),
                                                 (30, {}, False), (25, {}, False),
                                                 (60, {"frame_rate": 60}, False), (60, {"frame_rate": 30}, False)])
def test_a_fast_stream_without_frame_rate_is_warned_of_once(fps, options, warned, caplog):
    # at 60 fps the default counts keep a hidden hand's id for a quarter second: say how to keep 0.5 s
    t, scene, *_ = fake_tracker(Scene(noise_px=1.0), **options)
    scene.hands = [SceneHand(hand_keypoints(160, 120, 30.0), True)]
    with caplog.at_level(logging.WARNING, logger="tracker.hand_tracker"):
        for i in range(30):
            t.process(blank(), i * 1000 / fps)
    said = [r.getMessage() for r in caplog.records if "fps (timestamp_ms)" in r.getMessage()]
    assert len(said) == (1 if warned else 0)
    if warned:
        assert f"about {fps} fps" in said[0] and f"frame_rate={fps}" in said[0]
        assert f"for {15 / fps:.2f} s" in said[0]          # max_missed 15 frames at this rate
