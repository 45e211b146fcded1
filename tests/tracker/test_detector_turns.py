"""Looking for hands in the frame turned by quarter turns (``HandDetector(..., turns=...)``,
``HandTrackerOptions.detector_turns``): the pixel mapping of a turn, what the tracker asks the
detector for in video and static mode, and hands pointing down or sideways found by a detector
that only sees upright hands."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from tests.conftest import HANDS21, require_shared, require_torch
from tracker import HandTracker
from tracker.detector import Detection, HandDetector, unturn_detection
from tracker.geometry import hand_angle, invert_affine, quarter_turn, quarter_turn_matrix, transform_points
from tracker.hand_tracker import DETECTOR_TURNS, HandTrackerOptions
from tracker.keypoints import HandKeypoint as K

from .tracker_fakes import FakeDetection, FakeDetector, FakeLandmarks, Scene, SceneHand, blank, hand_keypoints


@pytest.mark.parametrize("k", [0, 1, 2, 3, 5, -1])
def test_quarter_turn_moves_pixels_where_its_matrix_says(k):
    h, w = 5, 8
    img = np.arange(h * w * 3, dtype=np.uint8).reshape(h, w, 3)
    turned, a = quarter_turn(img, k)
    assert turned.shape == ((h, w, 3) if k % 2 == 0 else (w, h, 3))
    np.testing.assert_array_equal(a, quarter_turn_matrix(k, w, h))
    for x, y in [(0, 0), (7, 0), (3, 4), (7, 4)]:
        u, v = np.rint(transform_points(np.array([x, y], np.float64), a)).astype(int)
        np.testing.assert_array_equal(turned[v, u], img[y, x])


@pytest.mark.parametrize("k", [1, 2, 3])
def test_unturn_detection_maps_a_turned_detection_back(k):
    w, h = 320, 240
    box = np.array([40, 60, 100, 150], np.float32)
    wrist, mcp = np.array([70, 145], np.float32), np.array([70, 90], np.float32)
    a = quarter_turn_matrix(k, w, h)
    corners = transform_points(np.array([box[:2], box[2:]], np.float64), a)
    seen = Detection(np.concatenate([corners.min(0), corners.max(0)]), 0.8,
                     transform_points(wrist, a), transform_points(mcp, a), turn=k)
    back = unturn_detection(seen, invert_affine(a))
    np.testing.assert_allclose(back.box, box, atol=1e-4)
    np.testing.assert_allclose(back.wrist, wrist, atol=1e-4)
    np.testing.assert_allclose(back.middle_mcp, mcp, atol=1e-4)
    assert back.turn == k and back.score == 0.8
    assert back.angle == pytest.approx(0.0, abs=1e-6)       # the crop is upright again


@pytest.mark.parametrize("frame_hw, turn, input_hw", [
    ((480, 640), 0, (240, 320)), ((480, 640), 2, (240, 320)),
    ((480, 640), 1, (320, 240)), ((480, 640), 3, (320, 240)),    # sideways: the canvas turns too
    # a portrait clip: upright as before, each canvas its picture rounded up to 32 px (135x240 ->
    # 160x240; turned, 320x180 -> 320x192) since session 50
    ((852, 480), 0, (240, 160)), ((852, 480), 1, (192, 320)),
])
def test_a_sideways_look_keeps_the_scale_of_the_upright_one(frame_hw, turn, input_hw):
    d = HandDetector(threads=1, large_hands=False)   # the first pass alone (its half-size pass: test_detector_large_hands)
    seen = []
    run = d.inference
    d.inference = lambda batch: (seen.append(batch.shape), run(batch))[1]
    d(np.zeros((*frame_hw, 3), np.uint8), turns=(turn,))
    assert seen == [(1, 3, *input_hw)]


@pytest.mark.parametrize("turn, input_hw", [(0, (480, 640)), (1, (640, 480))])
def test_the_small_hand_pass_of_a_sideways_look_keeps_its_scale_too(turn, input_hw):
    d = HandDetector(threads=1, small_hands=True)
    seen = []
    run = d.inference
    d.inference = lambda batch: (seen.append(batch.shape), run(batch))[1]
    d(np.zeros((480, 640, 3), np.uint8), turns=(turn,))
    assert seen[1] == (1, 3, *input_hw)


def test_a_turn_named_twice_is_looked_at_once():
    d = HandDetector(threads=1, large_hands=False)   # one run per look
    calls = []
    run = d.inference
    d.inference = lambda batch: (calls.append(1), run(batch))[1]
    d(np.zeros((240, 320, 3), np.uint8), turns=(2, 6, -2))
    assert len(calls) == 1


def test_detector_refuses_no_turns():
    with pytest.raises(ValueError, match="turns"):
        HandDetector(threads=1)(blank(), turns=())


# -- the tracker, on fake models --------------------------------------------------------------------

def tilted_hand(cx, cy, degrees: float, palm: float = 30.0, right: bool = True) -> np.ndarray:
    """(17, 2) keypoints of an upright hand turned clockwise by ``degrees`` about its palm."""
    k = hand_keypoints(cx, cy, palm, right).astype(np.float64)
    c = k[K.PALM]
    t = np.radians(degrees)
    rot = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])   # clockwise on screen (y down)
    return ((k - c) @ rot.T + c).astype(np.float32)


def turned_hand(cx, cy, quarter_turns: int, palm: float = 30.0, right: bool = True) -> np.ndarray:
    """(17, 2) keypoints of a hand turned clockwise by ``quarter_turns`` x 90 degrees about its palm."""
    return tilted_hand(cx, cy, 90.0 * quarter_turns, palm, right)


@dataclass
class TurnedDetection(FakeDetection):
    turn: int = 0


class UprightOnlyDetector(FakeDetector):
    """Sees a hand only when it is within 45 degrees of upright in the frame turned as asked (the
    real detector learned from mostly upright hands); records the ``turns`` of each call."""

    def __init__(self, scene: Scene, extra_turn: int | None = None) -> None:
        super().__init__(scene)
        self.turns_asked: list[tuple[int, ...]] = []
        self.extra_turn = extra_turn

    def __call__(self, frame_bgr, score_threshold=None, max_detections=4, turns=(0,)):
        self.turns_asked.append(tuple(turns))
        out = []
        for d in super().__call__(frame_bgr, score_threshold, max_detections):
            k = np.zeros((17, 2), np.float32)
            k[K.WRIST], k[K.MIDDLE_MCP] = d.wrist, d.middle_mcp
            for t in turns:
                a = hand_angle(k) + t * np.pi / 2
                if abs((a + np.pi) % (2 * np.pi) - np.pi) < np.pi / 4:
                    turn = self.extra_turn if self.extra_turn is not None else t
                    out.append(TurnedDetection(d.box, d.score, d.wrist, d.middle_mcp, turn))
                    break
        return out


def _tracker(hands, **options):
    scene = Scene()
    scene.hands = [SceneHand(k, right=True) for k in hands]
    det, lm = UprightOnlyDetector(scene), FakeLandmarks(scene)
    return HandTracker(detector=det, landmark_model=lm, smoothing=False, **options), scene, det


def test_the_option_maps_to_quarter_turns():
    assert DETECTOR_TURNS == {1: (0,), 2: (0, 2), 4: (0, 1, 2, 3)}
    assert HandTrackerOptions().detector_turns is None


class KeywordsWrapper:
    """A detector object of one's own passing its keywords on to another (``**kwargs``)."""

    def __init__(self, inner) -> None:
        self.inner = inner

    def __call__(self, frame, *args, **kwargs):
        return self.inner(frame, *args, **kwargs)


@pytest.mark.parametrize("detector, static, given, in_use", [
    (UprightOnlyDetector, False, None, 4),     # video mode's default: every quarter turn
    (UprightOnlyDetector, True, None, 1),      # static mode's: upright only (each turn a run per image)
    (FakeDetector, False, None, 1),            # a detector object that takes no turns: as before
    (lambda scene: KeywordsWrapper(FakeDetector(scene)), False, None, 1),   # nor one that may not
    (lambda scene: KeywordsWrapper(UprightOnlyDetector(scene)), False, 4, 4),   # unless asked for
    (UprightOnlyDetector, False, 1, 1),
    (UprightOnlyDetector, True, 4, 4),
    (UprightOnlyDetector, False, 2, 2),
])
def test_the_turns_in_use(detector, static, given, in_use):
    scene = Scene()
    with HandTracker(detector=detector(scene), landmark_model=FakeLandmarks(scene), static_image_mode=static,
                     detector_turns=given) as t:
        assert t.detector_turns == in_use
        assert t.options.detector_turns == given


def test_a_detector_object_that_takes_no_turns_is_refused_with_turns():
    scene = Scene()
    with pytest.raises(ValueError, match="detector_turns=2 with a detector object"):
        HandTracker(detector=FakeDetector(scene), landmark_model=FakeLandmarks(scene), detector_turns=2)
    # detector_turns=1 never passes turns, so such objects work as before
    HandTracker(detector=FakeDetector(scene), landmark_model=FakeLandmarks(scene)).close()


def test_upright_only_calls_the_detector_as_before():
    """detector_turns=1 passes no ``turns`` (detector objects of one's own need not take it)."""
    t, _, det = _tracker([], detector_interval=1, detector_turns=1)
    for i in range(3):
        t.process(blank(), timestamp_ms=i * 33)
    assert det.turns_asked == [(0,)] * 3          # the fake's default: nothing was passed


def test_video_mode_looks_turned_by_default():
    """With the default (None) a detector that takes turns is asked for all four in video mode,
    one per run, and for the upright look alone in static mode."""
    t, _, det = _tracker([], detector_interval=1)
    for i in range(8):
        t.process(blank(), timestamp_ms=i * 33)
    assert sorted(set(det.turns_asked)) == [(0,), (1,), (2,), (3,)]
    t, _, det = _tracker([], static_image_mode=True)
    for _ in range(3):
        t.process(blank())
    assert det.turns_asked == [(0,)] * 3


@pytest.mark.parametrize("turns, expected", [(2, [(0,), (2,), (0,), (2,), (0,), (2,), (0,)]),
                                             (4, [(0,), (1,), (0,), (2,), (0,), (3,), (0,)])])
def test_video_mode_looks_in_one_turn_per_run_in_rotation_while_no_hand_is_tracked(turns, expected):
    """Every other run upright (the camera's turn until a hand says otherwise), the others between."""
    t, _, det = _tracker([], detector_interval=1, detector_turns=turns)
    for i in range(7):
        t.process(blank(), timestamp_ms=i * 33)
    assert det.turns_asked == expected


def _looks_per_frame(tracker, det, frames: int, start: int = 0) -> list[tuple[int, ...] | None]:
    """The turn the detector looked in on each frame (None: it did not run)."""
    out = []
    for i in range(start, start + frames):
        n = len(det.turns_asked)
        tracker.process(blank(), timestamp_ms=i * 33)
        asked = det.turns_asked[n:]
        assert len(asked) <= 1                       # at most one look per frame
        out.append(asked[0] if asked else None)
    return out


@pytest.mark.parametrize("turns, between", [(2, [(2,)] * 4), (4, [(1,), (2,), (3,), (1,)])])
def test_with_the_back_off_the_upright_looks_run_on_the_default_schedule(turns, between):
    """With the detector's back-off (``detector_interval`` 3) and no hand in view, the upright
    looks (the camera's turn) run on exactly the frames the detector runs on without turns; the
    other turns get one look each on the first frame after them that the back-off skips."""
    default, _, det1 = _tracker([], detector_turns=1)
    ran_default = [a is not None for a in _looks_per_frame(default, det1, 12)]
    t, _, det = _tracker([], detector_turns=turns)
    looks = _looks_per_frame(t, det, 12)
    assert [a == (0,) for a in looks] == ran_default
    assert ran_default == [True, True, False, False, True, False, False, True, False, False, True, False]
    assert [a for a in looks if a not in (None, (0,))] == between
    assert [i for i, a in enumerate(looks) if a not in (None, (0,))] == [2, 5, 8, 11]


@pytest.mark.parametrize("turns", [1, 2, 4])
@pytest.mark.parametrize("enters", [0, 3, 6, 8])
def test_an_upright_hand_coming_into_view_is_found_on_the_frame_it_is_without_turns(turns, enters):
    found = {}
    for n in (1, turns):
        t, scene, _ = _tracker([], detector_turns=n)
        for i in range(14):
            scene.hands = [SceneHand(hand_keypoints(160, 120, palm=30), right=True)] if i >= enters else []
            if t.process(blank(), timestamp_ms=i * 33).hands:
                found[n] = i
                break
    assert found[turns] == found[1] >= enters


@pytest.mark.parametrize("hand_turn, turns, first", [
    (2, 2, 2), (2, 4, 5),          # pointing down: the 2-turn option looks there on every between frame
    (1, 4, 8), (3, 4, 2),          # sideways: turned 3 quarter turns back (1) or one on (3)
    (0, 4, 0),
])
def test_with_the_back_off_a_turned_hand_is_found_on_its_between_frame(hand_turn, turns, first):
    t, _, _ = _tracker([turned_hand(160, 120, hand_turn)], detector_turns=turns)
    res = [t.process(blank(), timestamp_ms=i * 33) for i in range(12)]
    assert next(i for i, r in enumerate(res) if r.hands) == first
    assert t._camera_turn == (-hand_turn) % 4         # the camera's turn is the look that found it


def test_a_lost_hand_is_looked_for_in_its_own_turn_every_other_frame():
    """A hand found upright (the camera's turn stays upright) that turned to point down before it
    was lost: while it is remembered, the looks alternate between the camera's turn and the turn
    that makes its last keypoints upright; once it is forgotten (``max_missed``), the back-off
    schedule in the camera's turn resumes."""
    t, scene, det = _tracker([hand_keypoints(160, 120, palm=30)], detector_turns=4, max_missed=4)
    _looks_per_frame(t, det, 4)
    scene.hands = [SceneHand(turned_hand(160, 120, 2), right=True)]     # tracked while it turns
    tracked = _looks_per_frame(t, det, 4, start=4)
    assert t._camera_turn == 0 and len(t.associator.active_tracks) == 1
    assert tracked == [None, (2,), None, None]        # tracked: the turn that makes it upright
    scene.hands = []
    looks = _looks_per_frame(t, det, 12, start=8)
    assert looks[0] == (0,)                           # then, every other run, the camera's turn
    assert looks[1:5] == [(0,), (2,), (0,), (2,)]     # remembered for max_missed = 4 frames
    assert not t.associator.tracks
    # forgotten: the back-off schedule, the camera's turn with the others between
    assert looks[5:] == [(1,), None, (0,), (2,), None, (0,), (3,)]


@pytest.mark.parametrize("hand_turn, turns, expected", [
    (2, 4, [(2,), (0,), (2,), (1,), (2,), (3,)]),      # a camera turned upside down
    (1, 4, [(3,), (0,), (3,), (1,), (3,), (2,)]),
    (2, 2, [(2,), (0,), (2,), (0,)]),
])
def test_after_the_hands_leave_the_turn_they_were_found_in_comes_every_other_run(hand_turn, turns, expected):
    """The camera's turn is remembered from the tracked hands: a hand coming back into a turned
    view is looked for in that turn first and at least every second run."""
    t, scene, det = _tracker([turned_hand(160, 120, hand_turn)], detector_interval=1, detector_turns=turns)
    for i in range(6):
        t.process(blank(), timestamp_ms=i * 33)
    assert t.associator.active_tracks
    scene.hands = []
    t.process(blank(), timestamp_ms=6 * 33)      # the hand is looked for where it was, and is gone
    assert not t.associator.active_tracks
    n = len(det.turns_asked)
    for i in range(len(expected)):
        t.process(blank(), timestamp_ms=(7 + i) * 33)
    assert det.turns_asked[n:] == expected


@pytest.mark.parametrize("static", [False, True])
@pytest.mark.parametrize("hand_turn, turns, found", [
    (2, 1, False), (2, 2, True), (2, 4, True),          # pointing down
    (1, 2, False), (1, 4, True), (3, 4, True),           # pointing sideways
    (0, 1, True), (0, 2, True), (0, 4, True),            # upright: found as before
])
def test_hands_pointing_down_or_sideways_are_found_with_turns(static, hand_turn, turns, found):
    kps = turned_hand(160, 120, hand_turn)
    t, _, det = _tracker([kps], detector_interval=1, detector_turns=turns, static_image_mode=static)
    res = [t.process(blank(), timestamp_ms=i * 33) for i in range(8)]
    assert (len(res[-1].hands) == 1) is found
    if found:
        np.testing.assert_allclose(res[-1].hands[0].keypoints, kps, atol=1e-3)
        # video: one turn per run, upright every other run, so found within 2 x (turns - 1)
        # runs; static: at once
        first = next(i for i, r in enumerate(res) if r.hands)
        assert first == 0 if static else first < max(2 * (turns - 1), 1)
    if static:
        assert all(a == DETECTOR_TURNS[turns] for a in det.turns_asked)


@pytest.mark.parametrize("hand_turn, turns, expected", [(2, 2, (2,)), (2, 4, (2,)), (1, 4, (3,)), (3, 4, (1,)),
                                                        (0, 4, (0,)), (0, 2, (0,))])
def test_the_second_hand_is_looked_for_in_the_turn_that_makes_the_tracked_one_upright(hand_turn, turns, expected):
    """Both hands in a view mostly point the way the camera is turned; a hand turned clockwise by
    k quarter turns is upright in the frame turned by -k."""
    kps = turned_hand(160, 120, hand_turn)
    t, _, det = _tracker([kps], detector_interval=1, detector_turns=turns, max_hands=2)
    for i in range(10):
        t.process(blank(), timestamp_ms=i * 33)
    assert len(t.associator.active_tracks) == 1
    assert det.turns_asked[-2:] == [expected, expected]


@pytest.mark.parametrize("turn, hands", [(0, 2), (2, 1)])
def test_a_turned_detection_inside_a_tracked_hand_is_not_a_new_hand(turn, hands):
    """A turned look sees a raised finger of a tracked hand as a hand pointing down (huytung_volctl):
    such a detection centred inside a tracked hand's crop starts no hand, an upright sure one does
    (two hands close together)."""
    first, second = hand_keypoints(120, 120, palm=30), hand_keypoints(150, 125, palm=20)
    scene = Scene()
    scene.hands = [SceneHand(first, right=True)]
    det, lm = UprightOnlyDetector(scene), FakeLandmarks(scene)
    t = HandTracker(detector=det, landmark_model=lm, smoothing=False, detector_interval=1, max_hands=2,
                    detector_turns=2)
    t.process(blank(), timestamp_ms=0)
    assert len(t.associator.active_tracks) == 1
    scene.hands.append(SceneHand(second, right=False))
    det.extra_turn = turn
    # Hands this close are in contact, where side votes are not counted: a new hand is reported
    # once it has waited side_wait frames, so the frames run past that wait.
    res = [t.process(blank(), timestamp_ms=(i + 1) * 33) for i in range(3 + t.options.side_wait)]
    assert len(res[-1].hands) == hands


# -- the shipped detector on composed val scenes ------------------------------------------------------

@pytest.fixture(scope="module")
def turned_scenes():
    require_shared(HANDS21)
    require_torch()
    from train.data import ImageCache, load_records
    from train.scenes import SceneConfig
    from train.train_detector import group_by_image, make_val_scenes
    recs = load_records(HANDS21, "val")[:600]
    scenes = make_val_scenes(group_by_image(recs), ImageCache(recs), SceneConfig(320, 240), 60, seed=3)
    return scenes


def _found(det, scenes, quarter_turns, turns):
    from tracker.metrics import match_detections
    tp = fp = n = 0
    for img, gt, ign in scenes:
        turned, a = quarter_turn(img, quarter_turns)
        dets = det(turned, turns=turns)
        g = np.asarray(gt, np.float64).reshape(-1, 4)
        # the labelled boxes in the turned frame's pixels
        c = [transform_points(np.array([b[:2], b[2:]]), a) for b in g]
        g = np.array([np.r_[p.min(0), p.max(0)] for p in c], np.float32).reshape(-1, 4)
        ig = [np.r_[q.min(0), q.max(0)] for q in (transform_points(np.array([b[:2], b[2:]]), a)
                                                  for b in np.asarray(ign, np.float64).reshape(-1, 4))]
        t, _, k = match_detections(np.array([d.box for d in dets], np.float32).reshape(-1, 4),
                                   np.array([d.score for d in dets]), g, 0.5, np.array(ig).reshape(-1, 4))
        tp, fp, n = tp + int(t.sum()), fp + int((~t).sum()), n + k
    return tp, fp, n


def test_shipped_detector_finds_upside_down_hands_when_it_looks_turned(turned_scenes):
    """60 composed val scenes (74 hands) at the shipped threshold. Measured when written: turned
    upside down, 53 hands found looking upright only, 63 looking upright and turned (false positives
    1 -> 3); the scenes as they are: 63 found both ways (false positives 2 -> 3)."""
    det = HandDetector(threads=2)
    tp0, fp0, n = _found(det, turned_scenes, 2, (0,))
    tp1, fp1, _ = _found(det, turned_scenes, 2, (0, 2))
    assert n >= 60 and tp1 >= tp0 + 6 and fp1 <= fp0 + 3, (tp0, tp1, fp0, fp1, n)
    up0, upfp0, _ = _found(det, turned_scenes, 0, (0,))
    up1, upfp1, _ = _found(det, turned_scenes, 0, (0, 2))
    assert up1 >= up0 - 1 and upfp1 <= upfp0 + 3, (up0, up1, upfp0, upfp1)


def test_a_turned_look_gives_the_same_boxes_as_the_frame_turned_by_hand(turned_scenes):
    det = HandDetector(threads=1)
    img, plain = next((s[0], det(s[0], score_threshold=0.1)) for s in turned_scenes if len(s[1]))
    assert plain
    for k in (1, 2, 3):
        turned, a = quarter_turn(img, k)
        seen = det(turned, score_threshold=0.1, turns=(-k,))    # turned back: the net sees ``img``
        assert [d.turn for d in seen] == [(-k) % 4] * len(plain)
        for p, s in zip(plain, seen):
            c = transform_points(np.array([p.box[:2], p.box[2:]], np.float64), a)
            np.testing.assert_allclose(s.box, np.r_[c.min(0), c.max(0)], atol=1e-3)
            np.testing.assert_allclose(s.wrist, transform_points(p.wrist, a), atol=1e-3)
            assert s.score == pytest.approx(p.score)


def test_a_hand_turned_while_tracked_leaves_every_other_look_upright():
    """A hand found upright (the camera's turn stays 0) that is then held sideways: the second
    hand is looked for in the turn that makes the tracked one upright and, every other run, in
    the camera's turn, where an upright second hand is (session 66: looked for only sideways, the
    second hands of the synthetic motion clips were found in 7-16 fewer frames on three of
    them). Its first look after the hand turned is the tracked hand's turn."""
    t, scene, det = _tracker([hand_keypoints(160, 120, palm=30)], detector_interval=1, detector_turns=4,
                             max_hands=2)
    _looks_per_frame(t, det, 4)
    assert t._camera_turn == 0
    scene.hands = [SceneHand(turned_hand(160, 120, 1), right=True)]
    looks = _looks_per_frame(t, det, 8, start=4)
    assert len(t.associator.active_tracks) == 1
    first = looks.index((3,))
    assert first <= 1                                 # the frame it turned, or the next
    assert looks[first:] == [(3,), (0,)] * ((8 - first) // 2) + [(3,)] * ((8 - first) % 2)


# -- turn_fallback: static mode's turned looks only when the upright one needs them ----------------

class AnyAngleDetector(UprightOnlyDetector):
    """Sees every hand in any look (as the real detector sees some hands pointing down in the
    upright one); records the ``turns`` of each call."""

    def __call__(self, frame_bgr, score_threshold=None, max_detections=4, turns=(0,)):
        self.turns_asked.append(tuple(turns))
        return [TurnedDetection(d.box, d.score, d.wrist, d.middle_mcp, turns[0])
                for d in FakeDetector.__call__(self, frame_bgr, score_threshold, max_detections)]


@pytest.mark.parametrize("hand_turn, turns, asked", [
    (0, 4, [(0,)]),                      # an upright hand: one look, as with detector_turns=1
    (2, 4, [(0,), (1, 2, 3)]),           # pointing down: the upright look finds nothing
    (1, 4, [(0,), (1, 2, 3)]),
    (3, 4, [(0,), (1, 2, 3)]),
    (2, 2, [(0,), (2,)]),
    (None, 4, [(0,), (1, 2, 3)]),        # no hand: every look, as without the fallback
])
def test_turn_fallback_looks_turned_only_when_the_upright_look_finds_no_hand(hand_turn, turns, asked):
    hands = [] if hand_turn is None else [turned_hand(160, 120, hand_turn)]
    t, _, det = _tracker(hands, static_image_mode=True, detector_turns=turns, turn_fallback=True)
    res = t.process(blank())
    assert det.turns_asked == asked
    assert len(res.hands) == len(hands)
    if hands:
        np.testing.assert_allclose(res.hands[0].keypoints, hands[0], atol=1e-3)


@pytest.mark.parametrize("degrees", [0, 45, 100, 180, -120])
def test_turn_fallback_takes_a_hand_the_upright_look_finds_at_any_angle(degrees):
    """A hand the upright look finds, pointing any way, ends the search: no turned look (measured
    in session 68, looking turned also when that hand pointed down cost 2.4 looks per val photo
    for 3 more hands found in 1,011)."""
    kps = tilted_hand(160, 120, degrees)
    t, scene, _ = _tracker([kps], static_image_mode=True, detector_turns=4, turn_fallback=True)
    det = AnyAngleDetector(scene)
    t.detector = det
    res = t.process(blank())
    assert det.turns_asked == [(0,)]
    assert len(res.hands) == 1
    np.testing.assert_allclose(res.hands[0].keypoints, kps, atol=1e-3)


@pytest.mark.parametrize("options, asked", [
    ({"static_image_mode": True, "detector_turns": 4}, [(0, 1, 2, 3)]),     # every turn on every call
    ({"static_image_mode": True, "detector_turns": 1, "turn_fallback": True}, [(0,)]),
])
def test_without_turn_fallback_or_turns_static_mode_looks_as_before(options, asked):
    t, _, det = _tracker([], **options)
    t.process(blank())
    assert det.turns_asked == asked


def test_turn_fallback_is_ignored_in_video_mode():
    looks = []
    for fallback in (False, True):
        t, _, det = _tracker([turned_hand(160, 120, 2)], detector_interval=1, detector_turns=4,
                             turn_fallback=fallback)
        found = [len(t.process(blank(), timestamp_ms=i * 33).hands) for i in range(8)]
        looks.append((det.turns_asked, found))
    assert looks[0] == looks[1]


def test_turn_fallback_misses_a_turned_hand_beside_an_upright_one():
    """The price of the fallback: an upright hand found by the upright look ends the search, so a
    hand pointing down beside it, which only a turned look sees, is missed (every turn finds it)."""
    up, down = hand_keypoints(90, 120, palm=30), turned_hand(230, 120, 2)
    found = {}
    for fallback in (False, True):
        t, _, det = _tracker([up, down], static_image_mode=True, detector_turns=4, turn_fallback=fallback)
        found[fallback] = (len(t.process(blank()).hands), det.turns_asked)
    assert found == {False: (2, [(0, 1, 2, 3)]), True: (1, [(0,)])}


class _CountingDetector:
    """The shipped detector, counting the looks it is asked for (one per turn)."""

    def __init__(self, inner) -> None:
        self.inner, self.looks = inner, 0

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def __call__(self, frame, score_threshold=None, max_detections=4, turns=(0,)):
        self.looks += len(turns)
        return self.inner(frame, score_threshold=score_threshold, max_detections=max_detections, turns=turns)


# two val photos of one upright hand that the upright look alone misses turned by any quarter turn
# (found with runs/s68 scripts: 2 of 120 photos, seed 3, where the three turned copies all missed)
FALLBACK_PHOTOS = ["IMG_00010757.webp", "IMG_00023246.webp"]


@pytest.mark.parametrize("name", FALLBACK_PHOTOS)
def test_turn_fallback_finds_a_photos_hand_in_every_turn_and_looks_once_when_upright(hands21, name):
    """The shipped models: the photo upright costs one look; turned by 90, 180 or 270 degrees the
    upright look finds nothing (``detector_turns=1`` reports no hand) and the turned looks find
    the hand, the same fit as upright (mapped back, within 0.5 px on average: a quarter turn
    moves pixels exactly, and the look in the turn that undoes it sees the upright photo)."""
    import cv2
    from tracker.video import read_image_file
    photo = read_image_file(hands21 / "images" / "val" / name, cv2.IMREAD_COLOR)
    fallback = HandTracker(static_image_mode=True, detector_turns=4, turn_fallback=True, threads=2)
    upright = HandTracker(static_image_mode=True, detector_turns=1, threads=2)
    det = fallback.detector = _CountingDetector(fallback.detector)
    with fallback, upright:
        ref = fallback.process(photo).hands
        assert len(ref) == 1 and det.looks == 1
        for k in (1, 2, 3):
            turned, a = quarter_turn(photo, k)
            assert upright.process(turned).hands == []
            det.looks = 0
            got = fallback.process(turned).hands
            assert det.looks == 4 and len(got) == 1, (k, det.looks, len(got))
            back = transform_points(got[0].keypoints.astype(np.float64), invert_affine(a))
            assert np.linalg.norm(back - ref[0].keypoints, axis=1).mean() < 0.5, k
