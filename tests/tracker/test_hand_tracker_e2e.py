"""End to end with the shipped ONNX models: a blank frame, a shared video, the CLI, bad model
files. Skipped when the models are not in assets/ yet (a failure under CI=true)."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest

from tracker import HandTracker
from tracker import cli
from tracker.backend import default_model_path
from tracker.video import iter_frames

MODELS = ("landmarks.onnx", "detector.onnx")


def require_models(names=MODELS) -> None:
    missing = [m for m in names if not default_model_path(m).is_file()]
    if missing:
        msg = f"needs the shipped models {missing} in assets/"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(msg + " but CI=true")
        pytest.skip(msg)


@pytest.fixture(scope="module")
def tracker_factory():
    require_models()
    made = []

    def make(**kw):
        t = HandTracker(threads=1, **kw)
        made.append(t)
        return t

    yield make
    for t in made:
        t.close()


def test_blank_frame_has_no_hands(tracker_factory):
    for static in (False, True):
        r = tracker_factory(static_image_mode=static).process(np.zeros((480, 640, 3), np.uint8), 0)
        assert r.hands == [] and np.isnan(r.as_array()).all()


def test_hands_found_on_shared_video(tracker_factory, videos):
    """huytung_2hand.mp4 shows two raised hands for most of its 138 frames (checked by eye).
    With the shipped models the tracker reports a hand in 97% of the frames and both hands in
    about a third (the detector misses the blurred second hand early on); assert the hand is
    found in most frames, with sane output, and that both hands are seen at some point."""
    tr = tracker_factory()
    frames_with_hands = frames_with_two = n = 0
    for i, t_ms, frame in iter_frames(videos / "huytung_2hand.mp4"):
        n += 1
        r = tr.process(frame, t_ms)
        h, w = frame.shape[:2]
        assert r.image_size == (w, h) == (480, 852)       # portrait clip, rotated upright
        assert len(r.hands) <= 2 and len({x.side for x in r.hands}) == len(r.hands)
        for hand in r.hands:
            assert hand.side in ("left", "right") and hand.keypoints.shape == (17, 2)
            assert np.isfinite(hand.keypoints).all()
            c = hand.keypoints.mean(0)
            assert -0.2 * w < c[0] < 1.2 * w and -0.2 * h < c[1] < 1.2 * h
        frames_with_hands += bool(r.hands)
        frames_with_two += len(r.hands) == 2
    assert frames_with_hands >= 0.8 * n, f"a hand in only {frames_with_hands} of {n} frames"
    assert frames_with_two >= 10, f"both hands in only {frames_with_two} frames"


def test_rgb_frames_with_color_order_rgb_match_bgr(tracker_factory, videos):
    """The same frames as RGB with ``color_order="rgb"`` give exactly the hands of the BGR frames."""
    bgr, rgb = tracker_factory(), tracker_factory(color_order="rgb")
    n_hands = 0
    for i, t_ms, frame in iter_frames(videos / "huytung_2hand.mp4"):
        if i >= 20:
            break
        a, b = bgr.process(frame, t_ms), rgb.process(np.ascontiguousarray(frame[:, :, ::-1]), t_ms)
        np.testing.assert_array_equal(a.as_array(), b.as_array())
        n_hands += len(a.hands)
    assert n_hands >= 10


def test_cli_on_shared_video(tracker_factory, videos, tmp_path, capsys):
    js = tmp_path / "t.jsonl"
    rc = cli.main(["video", str(videos / "huytung_2hand.mp4"), "--json", str(js), "--max-frames", "12",
                   "--threads", "1", "--no-progress"])
    assert rc == 0
    recs = [json.loads(x) for x in js.read_text().splitlines()]
    assert len(recs) == 12 and "12 frames" in capsys.readouterr().out


def test_bad_model_files(tmp_path):
    require_models(("landmarks.onnx",))
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x08\x01garbage")
    with pytest.raises(ValueError, match="bad.onnx"):
        HandTracker(landmark_model_path=bad)
    with pytest.raises(FileNotFoundError, match="none.onnx"):
        HandTracker(detector_model_path=tmp_path / "none.onnx")
    with pytest.raises(ValueError, match="landmarks"):       # a model of the wrong kind
        HandTracker(detector_model_path=default_model_path("landmarks.onnx"))


def test_cuda_without_provider_is_a_clear_error(tmp_path, capsys):
    require_models(("landmarks.onnx",))
    import onnxruntime as ort
    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("this onnxruntime has CUDA")
    with pytest.raises(ValueError, match="CPUExecutionProvider"):     # lists what is available
        HandTracker(device="cuda")
    from tracker.video import VideoSink
    with VideoSink(tmp_path / "v.mp4") as sink:
        sink.write(np.zeros((48, 64, 3), np.uint8))
    assert cli.main(["video", str(tmp_path / "v.mp4"), "--device", "cuda", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "CUDAExecutionProvider" in err and "Traceback" not in err


def _side_changes(tracker, path, max_frames):
    """Side changes per track id over the first ``max_frames`` frames (a physical hand has one
    side, so each is an error while its track lasts)."""
    last, changes = {}, 0
    for i, t_ms, frame in iter_frames(path):
        if i >= max_frames:
            break
        for h in tracker.process(frame, t_ms).hands:
            changes += last.get(h.track_id, h.side) != h.side
            last[h.track_id] = h.side
    return changes, len(last)


@pytest.mark.parametrize("options, steady", [({}, True), ({"side_lock": None, "flip_test": False}, False)])
def test_piano_hands_keep_their_sides(tracker_factory, videos, options, steady):
    """mohanad_piano30.mp4: two hands seen from above, backs up, never crossing. The landmark
    model calls both "right" for long stretches (docs/model_history.md, session 13); with the
    defaults (side lock, flip test) neither track changes side in the first 300 frames; with
    neither, the pair swaps (the flip alone kept them too in session 70: it steadies the model's
    handedness on these hands, which the lock was first built for)."""
    changes, tracks = _side_changes(tracker_factory(**options), videos / "mohanad_piano30.mp4", 300)
    assert tracks >= 2
    assert (changes == 0) == steady, f"{changes} side changes in {tracks} tracks"
