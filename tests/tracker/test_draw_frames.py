"""Drawing as users see it: the side colours on BGR, RGB, grey and BGRA frames, views of a frame,
absent keypoints, bad images, and the annotated video the CLI writes."""
from __future__ import annotations

from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from tracker import cli
from tracker.draw import SIDE_COLORS, draw_fps, draw_hands, draw_label, draw_skeleton
from tracker.video import VideoSink

from .tracker_fakes import FakeDetector, FakeLandmarks, Scene, hand_keypoints


def hand(side: str, cx: float, track_id: int = 0, keypoints=None):
    k = hand_keypoints(cx, 130, 40.0, right=side == "right") if keypoints is None else keypoints
    box = np.array([*np.nanmin(k, 0), *np.nanmax(k, 0)], np.float32) if np.isfinite(k).any() \
        else np.full(4, np.nan, np.float32)
    return SimpleNamespace(side=side, keypoints=k, scores=np.full(17, 0.9, np.float32), score=0.87,
                           track_id=track_id, box=box, handedness=0.9)


HANDS = [hand("left", 90, 0), hand("right", 230, 1)]


def reference(h: int = 240, w: int = 320) -> np.ndarray:
    """Both hands (and an FPS label) drawn on a black HxWx3 BGR frame: what every other kind of frame
    has to show in its own channels."""
    ref = draw_hands(np.zeros((h, w, 3), np.uint8), HANDS)
    return draw_fps(ref, 29.7)


@pytest.mark.parametrize("shape", [(240, 320), (240, 320, 1)])
def test_a_grey_frame_shows_both_hands_and_their_labels_in_grey(shape):
    # BGR colours on one channel kept only blue: the left hand (orange, blue 0) was drawn black,
    # its label black on its black box (unreadable)
    img = np.zeros(shape, np.uint8)
    out = draw_fps(draw_hands(img, HANDS), 29.7)
    assert out is img and out.shape == shape
    want = cv2.cvtColor(reference(), cv2.COLOR_BGR2GRAY)
    assert np.abs(out.reshape(want.shape).astype(int) - want).max() <= 3


def test_a_bgra_frame_gets_opaque_skeletons_and_labels():
    # colours without alpha wrote alpha 0 under every line: a saved PNG showed holes, not skeletons
    img = np.zeros((240, 320, 4), np.uint8)
    img[..., 3] = 255
    out = draw_fps(draw_hands(img, HANDS), 29.7)
    assert out is img
    assert (out[..., 3] == 255).all()
    assert np.abs(out[..., :3].astype(int) - reference()).max() <= 1


def test_rgb_frames_keep_the_documented_side_colours():
    # SIDE_COLORS are BGR: on an RGB frame the left hand came out blue, the right one orange
    img = np.zeros((240, 320, 3), np.uint8)
    draw_fps(draw_hands(img, HANDS, color_order="rgb"), 29.7)
    assert np.abs(img[..., ::-1].astype(int) - reference()).max() <= 1
    same = draw_hands(np.zeros((240, 320, 3), np.uint8), HANDS, color_order="BGR")
    assert np.array_equal(same, draw_hands(np.zeros((240, 320, 3), np.uint8), HANDS))
    with pytest.raises(ValueError, match="color_order.*'hsv'"):
        draw_hands(np.zeros((240, 320, 3), np.uint8), HANDS, color_order="hsv")


def test_drawing_on_a_flipped_view_draws_into_the_callers_frame():
    # frame[:, ::-1] (a selfie view) or frame[..., ::-1] (RGB): OpenCV refused such views with
    # "Layout of the output array img is incompatible with cv::Mat"
    base = np.zeros((240, 320, 3), np.uint8)
    view = base[:, ::-1]
    out = draw_fps(draw_hands(view, HANDS), 29.7)
    assert out is view
    assert np.array_equal(view, reference())
    assert np.array_equal(base, reference()[:, ::-1])
    base = np.zeros((240, 320, 3), np.uint8)
    draw_skeleton(base[..., ::-1], HANDS[0].keypoints, color=(255, 0, 0))    # red of an RGB view
    assert np.array_equal(base, draw_skeleton(np.zeros((240, 320, 3), np.uint8), HANDS[0].keypoints,
                                              color=(0, 0, 255)))
    crop = np.zeros((240, 400, 3), np.uint8)
    draw_label(crop[:, 40:360], "x", (100, 100), (255, 255, 255))
    assert crop[:, 40:360].any() and not crop[:, :40].any() and not crop[:, 360:].any()


@pytest.mark.parametrize("image, fragment", [
    (np.zeros((240, 320, 3), np.float32), "float32"),
    (np.zeros((240, 320, 2), np.uint8), r"\(240, 320, 2\)"),
    (np.zeros((4, 240, 320, 3), np.uint8), r"\(4, 240, 320, 3\)"),
    ([[0, 0], [0, 0]], "list"),
])
def test_an_image_drawing_cannot_take_is_one_clear_error(image, fragment):
    for draw in (lambda: draw_hands(image, HANDS), lambda: draw_skeleton(image, HANDS[0].keypoints),
                 lambda: draw_label(image, "x", (0, 0), (255, 255, 255)), lambda: draw_fps(image, 30.0)):
        with pytest.raises(ValueError, match=f"image must be .*{fragment}"):
            draw()
    if isinstance(image, np.ndarray):
        assert not image.any()                                    # nothing half drawn


def test_a_read_only_frame_is_one_clear_error():
    img = np.zeros((240, 320, 3), np.uint8)
    img.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        draw_hands(img, HANDS)


def test_absent_and_off_frame_keypoints_draw_nothing_and_no_line_to_the_corner():
    img = np.zeros((240, 320, 3), np.uint8)
    draw_hands(img, [hand("left", 0, keypoints=np.full((17, 2), np.nan, np.float32))])
    assert not img.any()                                          # a hand with no keypoints: no label either
    k = hand_keypoints(160, 130, 40.0)
    k[[2, 3, 4]] = np.nan                                         # the thumb absent
    k[[14, 15, 16]] += 1000.0                                     # the pinky far off the frame
    h = hand("right", 0, keypoints=k)
    h.box = np.array([k[:, 0].min(), k[:, 1].min(), 200.0, 200.0], np.float32)
    draw_hands(img, [h])
    assert img.any() and not img[:40, :40].any()                  # no bone runs to (0, 0)
    low = hand("left", 160)
    low.scores[[4, 7, 10, 13, 16]] = 0.1                           # fingertips unsure: left out
    a = draw_skeleton(np.zeros((240, 320, 3), np.uint8), low.keypoints, low.scores)
    b = draw_skeleton(np.zeros((240, 320, 3), np.uint8), np.where(low.scores[:, None] >= 0.3, low.keypoints, np.nan))
    assert np.array_equal(a, b)


def test_line_width_and_text_grow_with_the_frame(monkeypatch):
    import tracker.draw as draw

    def inked(h, w):
        s = 240 / min(h, w)
        one = hand("left", 0, keypoints=hand_keypoints(w / 2, h / 2, 40.0 / s, right=False))
        img = draw_hands(np.zeros((h, w, 3), np.uint8), [one])
        return (img.any(2).sum()) * s * s                         # in pixels of a 320x240 frame
    small, large, portrait = inked(240, 320), inked(1080, 1920), inked(1920, 1080)
    assert small > 0 and portrait == pytest.approx(large, rel=0.05)   # the long side sets the sizes
    # The same hand on HD drawn with the 320x240 frame's 1-px lines and smallest text: its share of
    # the frame is what a line that does not grow gives (the ink of anti-aliased 1-px lines and small
    # glyphs differs between OpenCV versions, so HD is measured against that, not against 320x240).
    monkeypatch.setattr(draw, "draw_skeleton", lambda *a, **k: draw_skeleton(*a, **{**k, "thickness": 1}))
    monkeypatch.setattr(draw, "draw_label", lambda im, text, org, color, scale=None:
                        draw_label(im, text, org, color, 0.4))
    thin = inked(1080, 1920)
    assert thin < large
    assert large > 1080 / 240 / 2 * thin           # a thin line on HD is not lost: wider with the frame


@pytest.fixture
def no_hand_models(monkeypatch):
    scene = Scene()

    def build(args, mirrored):
        from tracker import HandTracker
        return HandTracker(detector=FakeDetector(scene), landmark_model=FakeLandmarks(scene),
                           max_hands=args.max_hands, mirrored=mirrored)
    monkeypatch.setattr(cli, "build_tracker", build)
    return scene


def test_the_annotated_video_keeps_size_fps_and_every_frame_without_hands(no_hand_models, tmp_path):
    src, out = tmp_path / "in.mp4", tmp_path / "out.mp4"
    with VideoSink(src, fps=12.5) as sink:
        for i in range(9):
            sink.write(np.full((200, 120, 3), 20 * i, np.uint8))      # portrait, odd frame rate
    assert cli.main(["video", str(src), "-o", str(out), "--no-progress"]) == 0
    cap = cv2.VideoCapture(str(out))
    size = (cap.get(cv2.CAP_PROP_FRAME_WIDTH), cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    fps = cap.get(cv2.CAP_PROP_FPS)
    frames = []
    while (r := cap.read())[0]:
        frames.append(r[1])
    cap.release()
    assert size == (120, 200) and fps == pytest.approx(12.5, abs=0.01) and len(frames) == 9
    assert abs(int(frames[5][150:, :, 1].mean()) - 100) <= 4         # the input picture under the FPS label


def test_side_colours_are_the_documented_ones():
    b, g, r = SIDE_COLORS["left"]
    assert r > g > b                                               # orange
    b, g, r = SIDE_COLORS["right"]
    assert b > g > r                                               # blue
