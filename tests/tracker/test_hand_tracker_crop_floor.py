"""A tracked hand's crop is at least ``HandTrackerOptions.min_crop_palms`` palm sizes on a side,
grown toward the fingers, so that a finger the last fit folded is in view when it is raised again
(the fold otherwise feeds itself: huytung_volctl's L-shaped hand read as a pinch for 90 frames)."""
from __future__ import annotations

import numpy as np
import pytest

from tracker import HandTracker
from tracker.geometry import crop_matrix, grow_roi, transform_points
from tracker.keypoints import HandKeypoint as K
from tracker.landmarks import LandmarkResult

from .tracker_fakes import FakeDetector, FakeLandmarks, Scene, SceneHand, blank, hand_keypoints

#: (mcp, pip, tip) of the four fingers
FINGERS = [(K.INDEX_MCP, K.INDEX_PIP, K.INDEX_TIP), (K.MIDDLE_MCP, K.MIDDLE_PIP, K.MIDDLE_TIP),
           (K.RING_MCP, K.RING_PIP, K.RING_TIP), (K.PINKY_MCP, K.PINKY_PIP, K.PINKY_TIP)]


def fist(k: np.ndarray, keep: tuple[int, ...] = ()) -> np.ndarray:
    """``k`` with every finger but those in ``keep`` (indices into FINGERS) folded onto its MCP."""
    k = k.copy()
    for n, (mcp, pip, tip) in enumerate(FINGERS):
        if n not in keep:
            k[pip] = k[tip] = k[mcp]
    return k


def inside(points: np.ndarray, roi) -> np.ndarray:
    u = transform_points(np.asarray(points, np.float64), crop_matrix(roi, 1.0))
    return np.all((u >= 0) & (u <= 1), axis=1)


class FoldingLandmarks(FakeLandmarks):
    """As the real model on a raised finger cut off by the crop: a finger whose tip lies outside
    the crop is reported folded onto its MCP; the rest of the hand as it is."""

    def __call__(self, frame_bgr, rois):
        out = []
        for r in super().__call__(frame_bgr, rois):
            k = r.keypoints.copy()
            for mcp, pip, tip in FINGERS:
                if not inside(k[[tip]], r.roi)[0]:
                    k[pip] = k[tip] = k[mcp]
            out.append(LandmarkResult(k, r.scores, r.presence, r.right_prob, r.roi))
        return out


def run(frames: list[list[np.ndarray]], **options):
    """Track ``frames`` (per frame, the true hands' keypoints; right, left alternately) on fake
    models; returns (last frame's hands by track id, landmark fake)."""
    scene = Scene()
    lm = FoldingLandmarks(scene)
    t = HandTracker(detector=FakeDetector(scene), landmark_model=lm, smoothing=False, **options)
    hands = []
    for i, kps in enumerate(frames):
        scene.hands = [SceneHand(k, right=n % 2 == 0) for n, k in enumerate(kps)]
        hands = t.process(blank(640, 480), timestamp_ms=33.0 * i).hands
    return {h.track_id: h for h in hands}, lm


def index_raised(h) -> bool:
    k = h.raw_keypoints
    return float(np.hypot(*(k[K.INDEX_TIP] - k[K.INDEX_MCP]))) > 20.0


@pytest.mark.parametrize("min_crop_palms, raised", [
    (2.8, True),     # default: the crop of the fist reaches the raised finger
    (0.0, False),    # crops framed by the keypoints alone: the fold feeds itself
])
def test_a_finger_raised_from_a_fist_comes_back_into_view(min_crop_palms, raised):
    hand = hand_keypoints(320, 300, palm=40)
    frames = [[fist(hand)]] * 3 + [[fist(hand, keep=(0,))]] * 5
    hands, _ = run(frames, min_crop_palms=min_crop_palms)
    assert len(hands) == 1
    assert index_raised(next(iter(hands.values()))) is raised


def tracked_crops(hands: list[np.ndarray], min_crop_palms: float, frames: int = 3):
    """The crops the tracker makes for the next frame after tracking still ``hands`` (right,
    left, ...) for ``frames`` frames: [(roi, track palm size in pixels)] from the top of the
    image down (by wrist height)."""
    scene = Scene()
    scene.hands = [SceneHand(k, right=n % 2 == 0) for n, k in enumerate(hands)]
    t = HandTracker(detector=FakeDetector(scene), landmark_model=FoldingLandmarks(scene), smoothing=False,
                    min_crop_palms=min_crop_palms, crop_hold=0.0)      # the crops as framed, not held
    for i in range(frames):
        assert len(t.process(blank(640, 480), timestamp_ms=33.0 * i).hands) == len(hands)
    tracks = sorted(t.associator.active_tracks, key=lambda tr: tr.raw_keypoints[K.WRIST, 1])
    return [(t._track_roi(tr, None), tr.palm) for tr in tracks]


def test_the_tracked_crop_is_grown_toward_the_fingers():
    """The fist's own framing is ~2.3 palm sizes; with 2.8 it is raised to 2.8 (the track's palm
    size, pixels), the middle of its wrist-side edge where it was."""
    hand = fist(hand_keypoints(320, 300, palm=40))
    [(r0, palm)] = tracked_crops([hand], 0.0)
    [(r1, _)] = tracked_crops([hand], 2.8)
    assert r0.size / palm < 2.5
    assert r1.size == pytest.approx(2.8 * palm, rel=1e-5)
    assert r1.angle == r0.angle
    # the centre moved by half the growth along the crop's up axis (wrist -> middle MCP)
    up = np.array([np.sin(r0.angle), -np.cos(r0.angle)])
    np.testing.assert_allclose([r1.cx - r0.cx, r1.cy - r0.cy], up * (r1.size - r0.size) / 2, atol=1e-3)
    assert abs(r0.angle) < 0.1                       # the hand points up: the crop grew upward


def test_a_crop_is_not_grown_over_another_tracked_hand():
    """Two fists, the left one just above the right one's fingers: the right hand's crop, grown,
    would reach the other hand's keypoints, so it stays as its keypoints frame it; the left hand's,
    grown up into empty space, is grown."""
    right = fist(hand_keypoints(320, 300, palm=40))
    left = fist(hand_keypoints(330, 230, palm=40, right=False))
    (up0, _), (low0, low_palm) = tracked_crops([right, left], 0.0)
    (up1, _), (low1, _) = tracked_crops([right, left], 2.8)
    assert up1.size > up0.size * 1.1                          # the upper (left) hand's crop grew
    assert low1 == low0                                        # the lower one's did not ...
    assert not inside(left, low0).any()                        # ... because grown it would reach
    assert inside(left, grow_roi(low0, 2.8 * low_palm)).any()  # the left hand's keypoints


@pytest.mark.parametrize("value, error", [
    (0.0, None), (2.8, None), (10, None), (np.float32(3.0), None),
    (-0.1, "min_crop_palms must be in \\[0, 10\\], got -0.1"),
    (10.5, "min_crop_palms must be in \\[0, 10\\], got 10.5"),
    (float("nan"), "min_crop_palms must be in \\[0, 10\\], got nan"),
    (float("inf"), "min_crop_palms must be in \\[0, 10\\], got inf"),
    ("3", "min_crop_palms must be in \\[0, 10\\], got '3'"),
    (None, "min_crop_palms must be in \\[0, 10\\], got None"),
])
def test_min_crop_palms_is_checked(value, error):
    scene = Scene()
    make = lambda: HandTracker(detector=FakeDetector(scene), landmark_model=FakeLandmarks(scene),  # noqa: E731
                               min_crop_palms=value)
    if error is None:
        assert make().options.min_crop_palms == float(value)
    else:
        with pytest.raises(ValueError, match=error):
            make()


@pytest.mark.parametrize("min_crop_palms", [2.8, 10.0])
def test_a_collapsed_fit_is_not_grown_off_the_frame(min_crop_palms):
    """A track kept on an empty crop (min_tracking_confidence 0 keeps the fake's no-hand answer:
    every keypoint at the crop's centre) has no fingers to keep in view: once its fit has
    collapsed its crop is not grown any more (grown "toward the fingers" on every frame, it
    walked off the frame, 33 px a frame at 2.8)."""
    hand = hand_keypoints(320, 240, palm=40)
    frames = [[hand]] * 3 + [[]] * 12
    scene = Scene()
    t = HandTracker(detector=FakeDetector(scene), landmark_model=FakeLandmarks(scene), smoothing=False,
                    min_crop_palms=min_crop_palms, min_tracking_confidence=0.0, min_hand_size=0.0,
                    min_edge_keypoint_score=0.0)
    ys = []
    for i, kps in enumerate(frames):
        scene.hands = [SceneHand(k, right=True) for k in kps]
        hands = t.process(blank(640, 480), timestamp_ms=33.0 * i).hands
        if i >= 3:
            assert len(hands) == 1, "the empty crop's track was kept (the case under test)"
            ys.append(float(hands[0].raw_keypoints[0, 1]))
    # the first empty crop came from the real hand's fit (grown as any); after that it stays put
    assert max(ys[1:]) - min(ys[1:]) < 1.0, ys


def test_a_fit_collapsed_onto_one_finger_is_not_grown():
    """A line-like fit (every keypoint along one finger, spread under COLLAPSED_SPREAD, its palm
    points still apart) is left to the collapse check: grown toward its "fingers" the crop grew
    along that finger (ali_hand's thumbs-up lost its track). Its crop is the one the keypoints frame."""
    from tracker.keypoints import spread_ratio
    hand = hand_keypoints(320, 300, palm=40)
    line = np.stack([np.full(17, 320.0), 322.0 - np.linspace(0.0, 50.0, 17)], 1).astype(np.float32)
    line[:, 0] += np.tile([0.0, 1.0], 9)[:17]                   # not exactly a line
    assert spread_ratio(line) < 0.15
    rois = []
    for floor in (0.0, 2.8):
        scene = Scene()
        t = HandTracker(detector=FakeDetector(scene), landmark_model=FakeLandmarks(scene),
                        smoothing=False, min_crop_palms=floor)
        blend = [(1 - a) * hand + a * line for a in np.linspace(0.2, 1.0, 9)]   # folding gradually
        for i, k in enumerate([hand] * 3 + blend):
            scene.hands = [SceneHand(k, right=True)]
            t.process(blank(640, 480), timestamp_ms=33.0 * i)
        (tr,) = t.associator.active_tracks
        rois.append(t._track_roi(tr, None))
        assert rois[-1].size < 2.8 * tr.palm                     # the floor would have applied
    assert rois[1] == rois[0]


@pytest.mark.parametrize("hold, most_tracks, noise_seed", [
    (0.0, 1, None), (None, 2, None),
    (None, 2, 1), (None, 2, 4),       # float noise (1e-6) on the models' outputs: other paths
])
def test_ali_hand_thumbs_up_keeps_one_right_track(videos, hold, most_tracks, noise_seed):
    """The real models on ali_hand.mp4 (a right thumbs-up) with timestamps from the frame index, as
    ``python -m bench frame-rate`` plays it: right on every frame a hand is reported. With the
    floor on line-like fits too, the fit folded onto the thumb (frame ~96) had its crop grown
    along the thumb; the track was lost at frame 100 and a new one on the thumb was called left
    for 18 frames (session 45). Without the crop hold one track; with it (the default since
    session 54) the fit flips at frame 148 on another path, and the hand, lost for a frame, comes
    back as a second track, right too.

    The model votes "left" for this right hand seen from behind (frames 23-100), and its lock
    keeps it right. Under float noise as small as 1e-6 (``bench.perturb``) the hand, lost at frame
    100, was back 1.54 palm sizes away (just past the gate) voting left, and was taken for a new
    hand (against the locked side) in 8 of 20 noise draws; since session 59 a lost locked track
    whose own evidence agrees with that vote takes it back (all 20 right)."""
    from bench.perturb import add_output_noise
    from tracker.video import FrameSource
    src = FrameSource(videos / "ali_hand.mp4")
    seen = []
    options = {} if hold is None else {"crop_hold": hold}
    with HandTracker(threads=1, **options) as t:
        if noise_seed is not None:
            add_output_noise(t, 1e-6, noise_seed)
        for i, _, frame in src:
            seen += [(h.track_id, h.side) for h in t.process(frame, timestamp_ms=i * 1000.0 / src.fps).hands]
    assert len(seen) > 150
    assert {side for _, side in seen} == {"right"} and len({tid for tid, _ in seen}) <= most_tracks, sorted(set(seen))


class TightDetector(FakeDetector):
    """Boxes each hand as if its fingers were all folded: a box that cuts off a raised finger, as
    a detector's box around a hand seen small can."""

    def __call__(self, frame_bgr, score_threshold=None, max_detections=4):
        hands = self.scene.hands
        self.scene.hands = [SceneHand(fist(h.keypoints), right=h.right) for h in hands]
        try:
            return super().__call__(frame_bgr, score_threshold, max_detections)
        finally:
            self.scene.hands = hands


@pytest.mark.parametrize("static, min_crop_palms, raised", [
    (False, 2.8, True),     # video: a new hand is refined in the crop tracking will cut, grown
    (False, 0.0, False),    # ... which without the floor frames the folded fit again
    (True, 2.8, False),     # static mode has no tracking crops: refined as the keypoints frame it
])
def test_a_new_hands_refined_crop_is_grown_as_a_tracked_one(static, min_crop_palms, raised):
    """A hand with its index raised, boxed by the detector as a fist and unsure in that crop (0.5,
    under the default refine_score): its first fit misses the finger. The refinement measures it
    again in the crop of its own keypoints, which in video mode is grown to ``min_crop_palms`` as
    the next frame's tracking crop would be, so the finger is found on the first frame (session 56:
    a first fit that missed the fingers settled over 3 frames, and the smoother took that for
    motion)."""
    scene = Scene()
    scene.keypoint_score = 0.5
    scene.hands = [SceneHand(fist(hand_keypoints(320, 300, palm=40), keep=(0,)), right=True)]
    lm = FoldingLandmarks(scene)
    # side_wait 0: shown on its first frame though its keypoints (and so its side votes) are unsure
    t = HandTracker(detector=TightDetector(scene), landmark_model=lm, smoothing=False,
                    static_image_mode=static, min_crop_palms=min_crop_palms, side_wait=0)
    [hand] = t.process(blank(640, 480), timestamp_ms=0.0).hands
    assert lm.crops == 2                   # the detector's crop, then the refinement's
    assert index_raised(hand) is raised
