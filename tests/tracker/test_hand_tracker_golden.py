"""The shipped tracker against its golden outputs (tests/tracker/golden.json; golden.py says what
is compared and why the clips only loosely): 48 val photos in static mode give the same hands,
keypoints within 1 px; three shared clips in video mode the same hands on 97% of the frames,
keypoints within 4% of the hand's size at the median. A change meant to move the results rewrites
the file (``python -m tests.tracker.golden --write``) in its own commit, saying why."""
from __future__ import annotations

import copy
import json

import pytest

from tests.conftest import HANDS21, VIDEOS, require_shared
from tests.tracker import golden
from tests.tracker.test_hand_tracker_e2e import require_models

GOLDEN = json.loads(golden.GOLDEN.read_text(encoding="utf-8"))


@pytest.mark.shared
@pytest.mark.parametrize("clip, frames", golden.CLIPS)
def test_clip_gives_the_golden_tracks(clip, frames):
    require_models()
    path = require_shared(VIDEOS) / clip
    problems = golden.compare_clip(clip, GOLDEN["clips"][clip], golden.run_clip(path, frames))
    assert not problems, "\n".join(problems[:10])


@pytest.mark.shared
def test_photos_give_the_golden_hands():
    require_models()
    problems = golden.compare_photos("photo", GOLDEN["photos"],
                                     golden.run_photos(golden.val_photos(require_shared(HANDS21))))
    assert not problems, "\n".join(problems[:10])


def test_golden_file_holds_hands_to_compare():
    """A golden file of empty frames would pass whatever the tracker did."""
    hands = {clip: sum(len(f) for f in frames) for clip, frames in GOLDEN["clips"].items()}
    assert set(hands) == {c for c, _ in golden.CLIPS}
    assert all(n >= 100 for n in hands.values()), hands
    assert {h["side"] for f in GOLDEN["clips"]["huytung_2hand.mp4"] for h in f} == {"left", "right"}
    assert len(GOLDEN["photos"]) == golden.PHOTOS and sum(len(f) for f in GOLDEN["photos"]) >= 40


def _says(problems: list[str], expected: str | None) -> None:
    """No problem when ``expected`` is None, else exactly one, containing ``expected``."""
    if expected is None:
        assert problems == []
    else:
        assert len(problems) == 1 and expected in problems[0], problems


def _frames():
    def kps(x0):
        return [[x0 + i, 50.0 + 2 * i] for i in range(17)]
    return [[{"side": "left", "track_id": 0, "score": 0.9, "keypoints": kps(100.0)},
              {"side": "right", "track_id": 1, "score": 0.8, "keypoints": kps(300.0)}]]


def _moved(dx=0.0, score=0.0, side=None, track_id=None, drop=False, extra_frame=False):
    f = copy.deepcopy(_frames())
    h = f[0][1]
    h["keypoints"][7][0] += dx
    h["score"] += score
    if side:
        h["side"] = side
    if track_id is not None:
        h["track_id"] = track_id
    if drop:
        f[0].pop()
    if extra_frame:
        f.append([])
    return f


@pytest.mark.parametrize("got, expected", [
    (_moved(), None),
    (_moved(dx=0.9), None),                                    # within 1 px
    (_moved(dx=1.5), "keypoints moved up to 1.50 px"),
    (_moved(dx=float("nan")), "keypoints moved up to nan px"),
    (_moved(score=0.015), None),
    (_moved(score=-0.05), "presence 0.7500"),
    (_moved(side="left"), "hands (side, track id)"),
    (_moved(track_id=2), "hands (side, track id)"),
    (_moved(drop=True), "hands (side, track id)"),
    (_moved(extra_frame=True), "2 frames, golden 1"),
])
def test_photo_comparison_tells_what_moved(got, expected):
    _says(golden.compare_photos("photo", _frames(), got), expected)


def _clip(n_frames=100, dx=0.0, differing=0, dx_frames=None):
    """A clip of ``n_frames`` frames of the two hands of _frames() (each 32 px across), both
    hands' keypoints moved by ``dx`` px on the first ``dx_frames`` frames (default all), the right
    hand gone on the first ``differing`` frames."""
    frames = [copy.deepcopy(_frames()[0]) for _ in range(n_frames)]
    for i, f in enumerate(frames):
        if dx_frames is None or i < dx_frames:
            for hand in f:
                for k in hand["keypoints"]:
                    k[0] += dx
        if i < differing:
            f.pop()
    return frames


@pytest.mark.parametrize("got, expected", [
    (_clip(), None),
    (_clip(differing=3), None),                                  # 3% of the frames
    (_clip(differing=4), "differ on 4 of 100 frames"),
    (_clip(dx=1.2), None),                                       # 1.2 / 32 = 0.0375 hand sizes
    (_clip(dx=1.6), "keypoints 0.050 hand sizes"),
    (_clip(dx=4.0, dx_frames=49), None),                         # under half the hands far off
    (_clip(dx=4.0, dx_frames=51), "keypoints 0.125 hand sizes"),  # over half
    (_clip(dx=float("nan")), "keypoints nan hand sizes"),
    (_clip(n_frames=99), "99 frames, golden 100"),
])
def test_clip_comparison_tells_what_moved(got, expected):
    _says(golden.compare_clip("clip", _clip(), got), expected)
