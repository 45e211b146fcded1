"""Side stability on unlabelled videos: linking hands into tracks, counting side changes,
totals over clips, and a run over a generated video with a scripted method."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from bench import videos
from bench.methods import FrameOutput
from bench.temporal import PredHand

PALM = 60.0


def hand(cx: float, cy: float, side: str | None = "right", size: float = PALM) -> PredHand:
    """A hand whose keypoints span ``size`` px around the palm centre (keypoint 1) at (cx, cy)."""
    k = np.stack([np.linspace(-0.5, 0.5, 17), np.cos(np.arange(17)) * 0.5], 1) * size
    k[1] = 0.0
    return PredHand((k + (cx, cy)).astype(np.float32), side)


def test_two_hands_keep_their_labels_while_moving():
    frames = [[hand(100 + 3 * t, 200, "left"), hand(400 - 3 * t, 200, "right")] for t in range(30)]
    labels = videos.link_tracks(frames)
    assert all(lab == labels[0] for lab in labels) and sorted(labels[0]) == [0, 1]


@pytest.mark.parametrize("gap, jump, same", [
    (3, 0.0, True),         # a short gap: the same track
    (8, 0.0, False),        # longer than max_gap (5): a new track
    (0, 0.8 * PALM, True),  # a move under one hand size
    (0, 1.5 * PALM, False),  # a jump of 1.5 hand sizes: another hand
])
def test_gap_and_jump(gap, jump, same):
    frames = [[hand(200, 200)] for _ in range(5)] + [[] for _ in range(gap)] + [[hand(200 + jump, 200)]]
    labels = videos.link_tracks(frames)
    assert (labels[-1] == labels[0]) == same


def test_nearest_pairs_are_linked_first():
    """A hand appears right next to a tracked one: the tracked label goes to the nearer hand."""
    frames = [[hand(200, 200)], [hand(250, 200), hand(205, 200)]]
    labels = videos.link_tracks(frames)
    assert labels[1] == [1, 0]


@pytest.mark.parametrize("sides, changes, consistency", [
    (["right"] * 10, 0, 1.0),
    (["right"] * 6 + ["left"] * 4, 1, 0.6),
    (["right", "left"] * 5, 9, 0.5),
    (["right", None, "right", "left", "left"], 1, 0.5),   # an unreported side counts as nothing
])
def test_side_changes_and_consistency(sides, changes, consistency):
    frames = [[hand(200, 200, s)] for s in sides]
    s = videos.side_stability(frames, fps=30.0)
    assert s["side_changes"] == changes and s["tracks"] == 1
    assert s["side_consistency"] == pytest.approx(consistency)
    assert s["side_changes_per_min"] == pytest.approx(changes / (len(sides) / 30.0 / 60.0))


@pytest.mark.parametrize("sides, where, young", [
    (["right"] * 12, [], 0),
    (["left"] * 3 + ["right"] * 9, [[3, 3]], 1),                        # a new hand's side settling
    (["right"] * 10 + ["left"] * 2, [[10, 10]], 0),                     # its 11th frame: no longer young
    (["right"] * 11 + ["left"] + ["right"] * 3, [[11, 11], [12, 12]], 0),
    (["left", None, None, "right"] + ["right"] * 8, [[3, 3]], 1),        # unknown sides pass over
])
def test_where_the_side_changes_are(sides, where, young):
    """Each change's frame and how many frames its track had been reported before it; those
    within the first ``YOUNG_FRAMES`` (10) reported frames are also counted as young."""
    frames = [[hand(200, 200, s)] for s in sides]
    s = videos.side_stability(frames, fps=30.0)
    assert s["side_change_frames"] == where
    assert (s["side_changes"], s["young_side_changes"]) == (len(where), young)


def test_a_track_starting_later_counts_its_own_frames():
    """The age is counted in the track's own reported frames: a second hand found at frame 20,
    missed at 21, whose side turns on its third reported frame is a young change at frame 23
    (age 2, not 3), beside a first hand steady since frame 0."""
    frames = [[hand(100, 200, "left")] for _ in range(20)]
    frames += [[hand(100, 200, "left"), hand(400, 200, s)] for s in ["left", None, "left", "right", "right"]]
    frames[21] = [hand(100, 200, "left")]
    s = videos.side_stability(frames, fps=30.0)
    assert s["side_change_frames"] == [[23, 2]] and s["young_side_changes"] == 1
    total = videos.combine({"a.mp4": {"smoothed": {**s, "fps": 30.0}}, "b.mp4": {"smoothed": {**s, "fps": 30.0}}})
    assert (total["smoothed"]["side_changes"], total["smoothed"]["young_side_changes"]) == (2, 2)


def test_a_new_track_with_the_other_side_is_not_a_change():
    """A hand leaves and another (the other hand) comes in elsewhere: two tracks, no change."""
    frames = [[hand(100, 200, "right")] for _ in range(10)] + [[] for _ in range(10)] + \
        [[hand(500, 200, "left")] for _ in range(10)]
    s = videos.side_stability(frames, fps=30.0)
    assert s["tracks"] == 2 and s["side_changes"] == 0 and s["hands_per_frame"] == pytest.approx(20 / 30)


def test_combine_weights_by_time_and_hand_frames():
    per = {"a.mp4": {"x": {**videos.side_stability([[hand(0, 0, "right")], [hand(0, 0, "left")]], 30.0), "fps": 30.0}},
           "b.mp4": {"x": {**videos.side_stability([[hand(0, 0, "left")]] * 4, 15.0), "fps": 15.0}}}
    t = videos.combine(per)["x"]
    assert t["frames"] == 6 and t["side_changes"] == 1 and t["videos_with_changes"] == 1
    assert t["minutes"] == pytest.approx((2 / 30 + 4 / 15) / 60)
    assert t["side_consistency"] == pytest.approx((2 * 0.5 + 4 * 1.0) / 6)


class Scripted:
    """A method that reports, per frame index since its last reset, the hands of a script."""

    def __init__(self, script):
        self.script, self.t, self.resets = script, 0, 0

    def __call__(self, frame, timestamp_ms=None):
        hands = self.script(self.t, frame)
        self.t += 1
        return FrameOutput({"smoothed": hands, "raw": hands}, 0.0)

    def reset(self):
        self.t, self.resets = 0, self.resets + 1


def _video(path, n, w=160, h=120):
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25.0, (w, h))
    for i in range(n):
        vw.write(np.full((h, w, 3), 10 * i % 255, np.uint8))
    vw.release()
    return path


def test_run_over_videos(tmp_path):
    a, b = _video(tmp_path / "a.mp4", 20), _video(tmp_path / "b.mp4", 12)
    m = Scripted(lambda t, f: [hand(40, 60, "right" if t < 15 else "left")])
    res = videos.run([a, b], {"scripted": m})
    assert m.resets == 2                               # a fresh state for every video
    assert set(res["videos"]) == {"a.mp4", "b.mp4"}
    ra, rb = res["videos"]["a.mp4"]["smoothed"], res["videos"]["b.mp4"]["smoothed"]
    assert "raw" not in res["videos"]["a.mp4"]         # same sides as smoothed: left out
    assert (ra["frames"], ra["side_changes"], rb["side_changes"]) == (20, 1, 0)
    assert ra["fps"] == pytest.approx(25.0)
    # a hand held still: every frame with its whole window picked, no jitter in either view
    assert ra["still_hand_frames"] == 20 - 2 * videos.STILL_WINDOW
    assert ra["still_jitter"] == 0.0 and ra["still_jitter_raw"] == 0.0
    assert res["total"]["smoothed"]["side_changes"] == 1
    capped = videos.run([a], {"scripted": m}, max_frames=10)
    assert capped["videos"]["a.mp4"]["smoothed"]["frames"] == 10


def test_missing_video_names_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.mp4"):
        videos.run([tmp_path / "nope.mp4"], {"scripted": Scripted(lambda t, f: [])})


# == still hands' jitter (session 69) ==============================================================
def _wobble(n: int, amp: float, drift: float = 0.0, point: int = 8) -> list[list[PredHand]]:
    """One hand over ``n`` frames drifting ``drift`` palm sizes per frame in x, keypoint ``point``
    moved by +-``amp`` palm sizes on alternate frames (a flicker: second difference 4 amp)."""
    out = []
    for t in range(n):
        h = hand(200 + drift * PALM_SIZE * t, 200)
        k = h.keypoints.copy()
        k[point, 1] += amp * PALM_SIZE * (1 if t % 2 else -1)
        out.append([PredHand(k, "right")])
    return out


PALM_SIZE = float(videos.palm_size(hand(0, 0).keypoints))


@pytest.mark.parametrize("drift, amp, expected_frames, expected_jitter", [
    (0.0, 0.0, 20 - 2 * videos.STILL_WINDOW, 0.0),               # still and steady
    (0.0, 0.01, 20 - 2 * videos.STILL_WINDOW, 4 * 0.01 / 17),    # one point flickers
    (0.005, 0.01, 20 - 2 * videos.STILL_WINDOW, 4 * 0.01 / 17),  # a slow drift: still, no second difference
    (0.02, 0.01, 0, float("nan")),                               # moving: nothing picked
])
def test_still_jitter_on_a_scripted_hand(drift, amp, expected_frames, expected_jitter):
    frames = _wobble(20, amp, drift)
    picked = videos.still_frames(frames, videos.link_tracks(frames))
    assert len(picked) == expected_frames
    # the window's first and last frames are never picked: the move is measured across them
    assert all(videos.STILL_WINDOW <= t < 20 - videos.STILL_WINDOW for t, *_ in picked)
    j = videos.still_jitter(frames, picked)
    if np.isnan(expected_jitter):
        assert np.isnan(j)
    else:
        assert j == pytest.approx(expected_jitter, rel=1e-4, abs=1e-9)


def test_still_frames_need_the_whole_window():
    """A gap inside the window leaves the frames around it out (no move can be measured there)."""
    frames = _wobble(20, 0.0)
    frames[10] = []
    picked = videos.still_frames(frames, videos.link_tracks(frames))
    assert {t for t, *_ in picked} == set(range(3, 17)) - set(range(7, 14))


def test_raw_twin_is_measured_on_the_smoothed_views_frames():
    """still_jitter_raw: the raw view's hands on the hand-frames the smoothed view picked, even
    where the raw view moves too much to pick them itself."""
    smooth = _wobble(20, 0.0)
    raw = _wobble(20, 0.05)                      # 4 x 0.05 on one point of 17
    raw = [[PredHand(h.keypoints + np.float32(t * 0.03 * PALM_SIZE), h.side) for h in hs] for t, hs in enumerate(raw)]
    s = videos._steadiness({"smoothed": smooth, "raw": raw}, "smoothed", videos.link_tracks(smooth))
    assert s["still_hand_frames"] == 20 - 2 * videos.STILL_WINDOW
    assert s["still_jitter"] == pytest.approx(0.0, abs=1e-9)
    assert s["still_jitter_raw"] == pytest.approx(4 * 0.05 / 17, rel=1e-3)
    assert "still_jitter_raw" not in videos._steadiness({"mediapipe": smooth}, "mediapipe", videos.link_tracks(smooth))


def test_still_jitter_totals_are_weighted_by_still_hand_frames():
    per = {"a.mp4": {"x": {**videos.side_stability([[hand(0, 0)]] * 4, 30.0), "fps": 30.0,
                           "still_hand_frames": 30, "still_jitter": 0.01, "still_jitter_raw": 0.03}},
           "b.mp4": {"x": {**videos.side_stability([[hand(0, 0)]] * 4, 30.0), "fps": 30.0,
                           "still_hand_frames": 10, "still_jitter": 0.03, "still_jitter_raw": 0.05}},
           "c.mp4": {"x": {**videos.side_stability([[hand(0, 0)]] * 4, 30.0), "fps": 30.0,
                           "still_hand_frames": 0, "still_jitter": float("nan"), "still_jitter_raw": float("nan")}}}
    t = videos.combine(per)["x"]
    assert t["still_hand_frames"] == 40
    assert t["still_jitter"] == pytest.approx((30 * 0.01 + 10 * 0.03) / 40)
    assert t["still_jitter_raw"] == pytest.approx((30 * 0.03 + 10 * 0.05) / 40)
