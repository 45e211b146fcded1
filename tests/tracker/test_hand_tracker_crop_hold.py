"""``HandTrackerOptions.crop_hold`` (session 52; 0.05 by default since session 54): a tracked hand
keeps the crop it was last measured in while the crop its keypoints frame now is within the hold
(centre and side within ``crop_hold`` of the crop's side, angle within ``100 * crop_hold``
degrees). Fake models: the crops the landmark stage is handed are recorded."""
from __future__ import annotations

import math

import numpy as np
import pytest

from tracker import cli
from tracker.geometry import Roi

from tracker import HandTracker

from .tracker_fakes import FakeDetector, FakeLandmarks, Scene, SceneHand, blank, hand_keypoints


class _Recording(FakeLandmarks):
    """The fake landmark stage, keeping the crops it is handed in ``seen``."""

    def __init__(self, scene: Scene, seen: list) -> None:
        super().__init__(scene)
        self.seen = seen

    def __call__(self, frame_bgr, rois):
        self.seen.extend(rois)
        return super().__call__(frame_bgr, rois)


def _crops(hold: float, step_px: float = 0.0, noise_px: float = 0.0, frames: int = 20, turn_deg: float = 0.0,
           static: bool = False) -> list[tuple[float, float, float, float]]:
    """The crop of each landmark call after the first frame, for one hand moving ``step_px`` a
    frame to the right (and turning ``turn_deg`` a frame about its palm centre)."""
    scene = Scene(noise_px=noise_px, seed=3)
    seen: list[Roi] = []
    lm = _Recording(scene, seen)
    tracker = HandTracker(detector=FakeDetector(scene), landmark_model=lm, max_hands=1, crop_hold=hold,
                          static_image_mode=static)
    crops = []
    for i in range(frames):
        kps = hand_keypoints(200 + step_px * i, 240, palm=60)
        if turn_deg:
            a = math.radians(turn_deg * i)
            c = kps[1]
            rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]], np.float32)
            kps = (kps - c) @ rot.T + c
        scene.hands = [SceneHand(kps.astype(np.float32), right=True)]
        seen.clear()
        r = tracker.process(blank(480, 480), timestamp_ms=33.0 * i)
        assert len(r.hands) == 1
        if i:
            crops.append(tuple(round(v, 6) for v in (seen[0].cx, seen[0].cy, seen[0].size, seen[0].angle)))
    tracker.close()
    return crops


def test_a_still_hand_keeps_its_crop():
    """Keypoints that shake by a pixel frame a new crop every frame without the hold, the same
    crop with it (the hand stays measured in the same pixels)."""
    assert len(set(_crops(0.0, noise_px=1.0))) == 19
    assert len(set(_crops(0.05, noise_px=1.0))) <= 2


@pytest.mark.parametrize("hold, step_px, fewest, most", [
    (0.0, 2.0, 19, 19),        # off: a new crop every frame
    (0.05, 2.0, 3, 12),        # a slow hand: held for a few frames at a time, then moved on
    (0.05, 40.0, 19, 19),      # a fast one: every frame's crop is beyond the hold
    (0.5, 2.0, 1, 2),          # a wide hold: the first tracked crop all along
])
def test_a_moving_hand_moves_its_crop_beyond_the_hold(hold, step_px, fewest, most):
    crops = _crops(hold, step_px=step_px)
    assert fewest <= len(set(crops)) <= most, crops


def test_a_held_crop_moves_on_only_beyond_the_hold():
    """A hand gliding 2 px a frame (the crop's side ~180 px, the hold 9 px): between two crops
    it is either the same crop or one whose centre moved at least the hold (the side and angle
    stay within theirs here)."""
    crops = _crops(0.05, step_px=2.0)
    moves = [math.hypot(x1 - x0, y1 - y0) / s0 for (x0, y0, s0, _), (x1, y1, _, _) in zip(crops, crops[1:])]
    assert all(m == 0.0 or m >= 0.05 - 1e-6 for m in moves), moves
    assert 0 < sum(m > 0 for m in moves) < len(moves)


def test_a_turning_hand_turns_its_crop_beyond_100_hold_degrees():
    """3 degrees a frame: with a 0.05 hold (5 degrees) the crop turns every second frame or so,
    with a 0.2 hold (20 degrees) seldom."""
    few = len(set(_crops(0.2, turn_deg=3.0)))
    many = len(set(_crops(0.05, turn_deg=3.0)))
    assert few < many <= 19 and many >= 6, (few, many)


def test_static_mode_ignores_the_hold():
    """Static mode measures every photo in its detector crop; the hold never applies."""
    assert len(set(_crops(0.5, step_px=2.0, static=True))) == 19


@pytest.mark.parametrize("argv, expected", [
    ([], 0.05),
    (["--crop-hold", "0.05"], 0.05),
    (["--crop-hold", "0"], 0.0),
])
def test_cli_passes_the_hold(argv, expected):
    args = cli.make_parser().parse_args(["video", "in.mp4", *argv])
    assert args.crop_hold == expected


@pytest.mark.parametrize("value", ["-0.1", "1.5", "x", "nan"])
def test_cli_refuses_a_hold_outside_0_1(value, capsys):
    with pytest.raises(SystemExit) as e:
        cli.make_parser().parse_args(["video", "in.mp4", "--crop-hold", value])
    assert e.value.code == 2 and "--crop-hold" in capsys.readouterr().err
