"""bench.robustness: degraded photos scored against the clean photo's labels, degraded clips counted."""
from pathlib import Path

import cv2
import numpy as np
import pytest

from bench import robustness
from bench.__main__ import main as bench_main
from bench.accuracy import GtImage
from bench.methods import FrameOutput
from bench.temporal import PredHand

# 17 keypoints drawn as single pixels of distinct grey levels on a black photo
LEVELS = 60 + 10 * np.arange(17)
KP = np.stack([20 + 3 * np.arange(17), 15 + (np.arange(17) * 7) % 40], 1).astype(np.float32)


def _photo(h=64, w=96):
    img = np.zeros((h, w, 3), np.uint8)
    for (x, y), g in zip(KP.astype(int), LEVELS):
        img[y, x] = g
    return img


class DotFinder:
    """A fake method: each keypoint where its grey level is in the frame it is given."""

    def __call__(self, frame, timestamp_ms=None):
        kp = []
        for g in LEVELS:
            ys, xs = np.nonzero(frame[..., 0] == g)
            kp.append((xs[0], ys[0]) if len(xs) else (0, 0))
        return FrameOutput({"v": [PredHand(np.array(kp, np.float32), "right")]}, 1.0)

    def close(self):
        pass


@pytest.mark.parametrize("turns", [1, 2, 3])
def test_rotation_affine_says_where_each_pixel_went(turns):
    img = _photo()
    out, a = robustness.rotation(turns)(img, np.random.default_rng(0))
    moved = KP @ a[:, :2].T + a[:, 2]
    for (x, y), g in zip(np.rint(moved).astype(int), LEVELS):
        assert out[y, x, 0] == g
    assert out.shape[:2] == (img.shape[:2] if turns == 2 else img.shape[1::-1])


def test_zoom_affine_says_where_each_pixel_went():
    img = np.zeros((64, 96, 3), np.uint8)
    pts = np.array([[30, 20], [60, 40], [48, 32], [25, 17]], np.float32)   # inside the centre half
    for (x, y), g in zip(pts.astype(int), (100, 150, 200, 250)):
        img[y - 1:y + 2, x - 1:x + 2] = g    # 3x3 blocks: interpolation keeps their centres' values
    out, a = robustness.zoom(2.0)(img, np.random.default_rng(0))
    assert out.shape == img.shape
    moved = pts @ a[:, :2].T + a[:, 2]
    for (x, y), g in zip(np.rint(moved).astype(int), (100, 150, 200, 250)):
        assert out[y, x, 0] == g
    np.testing.assert_allclose(moved[2], [2 * 48 - 47.5, 2 * 32 - 31.5])   # the centre stays


class ChiralDotFinder(DotFinder):
    """DotFinder whose handedness follows a mirror, as a hand's does: "right" while the last
    keypoint lies right of the first (as drawn), "left" in the mirror image."""

    def __call__(self, frame, timestamp_ms=None):
        h = super().__call__(frame).views["v"][0]
        h.side = "right" if h.keypoints[-1, 0] > h.keypoints[0, 0] else "left"
        return FrameOutput({"v": [h]}, 1.0)


def test_mirror_affine_says_where_each_pixel_went():
    img = _photo()
    out, a = robustness.mirror()(img, np.random.default_rng(0))
    assert out.shape == img.shape and out.flags.c_contiguous
    moved = KP @ a[:, :2].T + a[:, 2]
    np.testing.assert_allclose(moved[:, 1], KP[:, 1])
    for (x, y), g in zip(np.rint(moved).astype(int), LEVELS):
        assert out[y, x, 0] == g
    assert np.linalg.det(a[:, :2]) < 0


@pytest.mark.parametrize("name, method, side", [
    ("mirror", DotFinder, "left"),          # it says "right" in every frame: in the mirror that is a left hand
    ("mirror", ChiralDotFinder, "right"),   # it says "left" in the mirror: a right hand
    ("rot180", DotFinder, "right"),         # a turn is no mirror: sides stay as reported
    ("rot180", ChiralDotFinder, "left"),    # turned, its last dot lies left of its first
    ("clean", ChiralDotFinder, "right"),
])
def test_perturbed_swaps_sides_back_only_under_a_mirror(name, method, side):
    res = robustness.Perturbed(method(), robustness.CONDITIONS[name][1])(_photo())
    np.testing.assert_allclose(res.views["v"][0].keypoints, KP, atol=1e-4)
    assert res.views["v"][0].side == side


def test_run_scores_mirrored_photos_against_the_clean_labels_and_sides(tmp_path):
    """The label says right (1). A method whose handedness follows the mirror keeps its clean
    figures under ``mirror``; one that says "right" whatever it sees loses the side there."""
    path = tmp_path / "p.png"
    cv2.imwrite(str(path), _photo())
    images = [GtImage(path, [KP.copy()], [np.ones(17, np.float32)], [1], [1.0])]
    res = robustness.run({"chiral": (ChiralDotFinder(), "v"), "fixed": (DotFinder(), "v")}, images,
                         ["clean", "mirror"])
    for name in ("chiral", "fixed"):
        assert res["clean"][name]["handedness_acc"] == 1.0
        assert res["mirror"][name]["pck@0.1"] == 1.0 and res["mirror"][name]["found_rate"] == 1.0
    assert res["mirror"]["chiral"]["handedness_acc"] == 1.0
    assert res["mirror"]["fixed"]["handedness_acc"] == 0.0


@pytest.mark.parametrize("name", ["rot90", "rot180"])
def test_perturbed_maps_the_keypoints_back_to_the_photo(name):
    res = robustness.Perturbed(DotFinder(), robustness.CONDITIONS[name][1])(_photo())
    np.testing.assert_allclose(res.views["v"][0].keypoints, KP, atol=1e-4)
    # the method itself saw them elsewhere
    assert np.abs(DotFinder()(robustness.rotation(1 if name == "rot90" else 2)(_photo(), None)[0])
                  .views["v"][0].keypoints - KP).max() > 5


def test_run_scores_rotated_photos_against_the_clean_labels(tmp_path):
    path = tmp_path / "p.png"
    cv2.imwrite(str(path), _photo())
    images = [GtImage(path, [KP.copy()], [np.ones(17, np.float32)], [1], [1.0])]
    res = robustness.run({"dots": (DotFinder(), "v")}, images, ["clean", "rot90", "rot180", "dark"])
    for c in ("clean", "rot90", "rot180"):
        assert res[c]["dots"]["pck@0.1"] == 1.0 and res[c]["dots"]["found_rate"] == 1.0
    assert res["dark"]["dots"]["pck@0.1"] < 0.5   # the grey levels changed: this fake loses them
    text = robustness.table(res)
    assert "| rot180 | rotated 180 degrees (hands pointing down) | 1.000 | 1.000 | 1.000 | 1.00 |" in text


@pytest.mark.parametrize("name", list(robustness.CONDITIONS))
def test_conditions_keep_a_uint8_photo_and_the_same_noise_for_every_method(name):
    img = np.random.default_rng(1).integers(0, 256, (48, 64, 3), np.uint8)
    seen = []

    def grab(frame, timestamp_ms=None):
        seen.append(frame.copy())
        return FrameOutput({"v": []}, 1.0)

    for _ in range(2):   # two methods, or two runs: the same pixels
        robustness.Perturbed(grab, robustness.CONDITIONS[name][1], seed=3)(img)
    assert seen[0].dtype == np.uint8 and seen[0].ndim == 3 and seen[0].size == img.size
    np.testing.assert_array_equal(seen[0], seen[1])
    assert (name == "clean") == np.array_equal(seen[0], img)


@pytest.mark.parametrize("names, ok", [(["clean", "rot90"], True), (["rot45"], False), ([], False)])
def test_check_conditions(names, ok):
    if ok:
        assert robustness.check_conditions(names) == names
    else:
        with pytest.raises(ValueError, match="unknown condition"):
            robustness.check_conditions(names)


def test_cli_writes_json_and_markdown(hands21, tmp_path, capsys):
    bench_main(["robustness", "--shared", str(hands21.parents[1]), "--images", "6", "--conditions",
                "clean,rot180", "--no-mediapipe", "--threads", "1", "--out", str(tmp_path)])
    import json
    r = json.loads((tmp_path / "robustness.json").read_text())
    assert r["images"] == 6 and set(r["results"]) == {"clean", "rot180"}
    assert set(r["results"]["clean"]) == {"handtrack"}
    assert r["results"]["clean"]["handtrack"]["found_rate"] > 0.5
    md = (tmp_path / "robustness.md").read_text()
    assert "| rot180 |" in md and md.count("\n|") == 4
    assert "| clean |" in capsys.readouterr().out


def test_report_section_from_the_last_run(tmp_path):
    from bench.run import robustness_section
    assert robustness_section(tmp_path) == []
    row = {"pck@0.1": 0.8, "pck@0.05": 0.6, "found_rate": 0.9, "handedness_acc": 0.95, "false_pos_per_image": 0.0}
    (tmp_path / "robustness.json").write_text(
        '{"images": 5, "seed": 0, "results": {"clean": {"handtrack": %s}, "rot90": {"handtrack": %s}}}'
        % (str(row).replace("'", '"'), str(dict(row, **{"pck@0.1": 0.4})).replace("'", '"')))
    text = "\n".join(robustness_section(tmp_path))
    assert "## Robustness" in text and "Photos, last run: 5 hands21/val photos" in text
    assert "| rot90 | rotated 90 degrees clockwise (hands pointing sideways) | 0.400 | 0.900 | 0.950 | 0.50 |" in text
    (tmp_path / "robustness.json").write_text("{not json")
    assert robustness_section(tmp_path) == []


class TopHalfBlob:
    """A fake video-mode method: one hand (all 17 keypoints on the bright blob's centre, side
    "left" when the blob is in the left half) while the blob is in the top half of the frame it
    sees; counts its resets."""

    def __init__(self):
        self.resets = 0

    def reset(self):
        self.resets += 1

    def __call__(self, frame, timestamp_ms=None):
        ys, xs = np.nonzero(frame[..., 1] > 128)
        h, w = frame.shape[:2]
        if not len(xs) or ys.mean() > h / 2:
            return FrameOutput({"smoothed": [], "raw": []}, 1.0)
        kp = np.tile([xs.mean(), ys.mean()], (17, 1)).astype(np.float32)
        hand = PredHand(kp, "left" if xs.mean() < w / 2 else "right", 0, 1.0)
        return FrameOutput({"smoothed": [hand], "raw": [hand]}, 1.0)


def _clip(path, frames=12, w=96, h=64):
    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 30.0, (w, h))
    assert out.isOpened()
    for i in range(frames):
        img = np.zeros((h, w, 3), np.uint8)
        cv2.rectangle(img, (10 + i, 8), (26 + i, 22), (255, 255, 255), -1)   # top left, moving right
        out.write(img)
    out.release()
    return path


def test_video_run_applies_each_condition_to_each_clip(tmp_path):
    clip = _clip(tmp_path / "c.mp4")
    fake = TopHalfBlob()
    res = robustness.video_run({"fake": fake}, [clip], ["clean", "rot90", "rot180", "dark"])
    got = {t: r["videos"]["c.mp4"]["smoothed"] for t, r in res.items()}
    assert got["clean"]["hands_per_frame"] == 1.0 and got["clean"]["tracks"] == 1
    # turned 90 degrees clockwise the top-left blob is top right: found, and "right" in the turned
    # frame throughout (one track, no change); turned 180 it is at the bottom: never found
    assert got["rot90"]["hands_per_frame"] == 1.0 and got["rot90"]["side_changes"] == 0
    assert got["rot180"]["hands_per_frame"] == 0.0
    assert got["dark"]["hands_per_frame"] == 0.0   # pixel conditions too: the blob is under 128 now
    assert fake.resets == 4   # a fresh track per clip and condition
    text = robustness.video_table(res)
    assert "| c.mp4 | rot180 | 0.00 / 0 / 0 |" in text and "| all clips | clean | 1.00 / 1 / 0 |" in text


def test_video_run_maps_the_keypoints_back_to_the_clip(tmp_path, monkeypatch):
    from bench import videos
    clip = _clip(tmp_path / "c.mp4", frames=3)
    calls, real = [], videos.side_stability

    def spy(frames, fps, **kw):
        calls.append([h.keypoints[0].copy() for f in frames for h in f])
        return real(frames, fps, **kw)
    monkeypatch.setattr(videos, "side_stability", spy)
    robustness.video_run({"fake": TopHalfBlob()}, [clip], ["clean", "rot90"])
    upright, turned = (np.array(c) for c in calls)
    assert len(upright) == len(turned) == 3
    np.testing.assert_allclose(turned, upright, atol=1.0)   # blob centre in the clip's own pixels


ANY_ANGLE = Path(__file__).resolve().parents[2] / "assets" / "detector_any_angle.onnx"


def test_cli_videos_part_writes_its_own_files(videos, tmp_path, capsys):
    import json
    (tmp_path / "robustness.json").write_text("{}")   # a photo run's file: left as it is
    bench_main(["robustness", "--shared", str(videos.parent), "--no-photos", "--videos", "huytung_2hand.mp4",
                "--video-frames", "10", "--no-mediapipe", "--threads", "1", "--out", str(tmp_path),
                "--detector-model", str(ANY_ANGLE)])
    r = json.loads((tmp_path / "robustness_videos.json").read_text())
    assert r["clips"] == ["huytung_2hand.mp4"] and set(r["results"]) == {"clean", "rot180"}
    up = r["results"]["clean"]["videos"]["huytung_2hand.mp4"]["smoothed"]
    # the clip's first hand is unsure of its side on its first frames, which side_wait (3) leaves
    # unshown: shown from frame 4 on (frame 3 before the flip test was the default, session 70)
    assert up["frames"] == 10 and up["hands_per_frame"] > 0.5
    assert (tmp_path / "robustness.json").read_text() == "{}"
    md = (tmp_path / "robustness_videos.md").read_text()
    assert "| huytung_2hand.mp4 | rot180 |" in md
    assert f"--video-frames 10 --video-conditions clean,rot180 --detector-model {ANY_ANGLE}`" in md
    assert "| all clips | clean |" in capsys.readouterr().out


def test_cli_videos_takes_a_path_to_a_clip_of_ones_own(tmp_path, capsys):
    clip = _clip(tmp_path / "mine.mp4", frames=4)
    bench_main(["robustness", "--shared", str(tmp_path / "nowhere"), "--no-photos", "--videos", str(clip),
                "--video-conditions", "clean", "--no-mediapipe", "--threads", "1"])
    assert "| mine.mp4 | clean | 0.00 / 0 / 0 |" in capsys.readouterr().out   # no hand in a white box


def test_report_section_with_the_video_part(tmp_path):
    from bench.run import robustness_section
    s = {"frames": 10, "hands_per_frame": 1.5, "tracks": 2, "side_changes": 1}
    res = {"clean": {"videos": {"a.mp4": {"smoothed": s}}, "total": {"smoothed": s}}}
    import json
    (tmp_path / "robustness_videos.json").write_text(json.dumps({"clips": ["a.mp4"], "results": res}))
    text = "\n".join(robustness_section(tmp_path))
    assert "Shared clips, last run: 1 clips" in text and "| a.mp4 | clean | 1.50 / 2 / 1 |" in text
    assert "Photos, last run" not in text


def _hand(x, y, side="right"):
    kp = np.stack([x + 10 * np.cos(np.arange(17)), y + 10 * np.sin(np.arange(17))], 1).astype(np.float32)
    return PredHand(kp, side)


def test_agreement_with_the_clean_run():
    clean = [[_hand(50, 50)], [_hand(50, 50)], [_hand(50, 50), _hand(150, 50)], []]
    other = [[_hand(50, 50)],                       # kept, not moved
             [_hand(53, 50)],                       # kept, moved 3 px of a 20 px hand
             [_hand(150, 50), _hand(300, 300)],     # one of two kept, one extra
             [_hand(10, 10)]]                       # extra
    a = robustness.agreement(clean, other)
    assert (a["clean_hands"], a["kept"], a["extra"], a["frames"]) == (4, 3, 2, 4)
    from bench.videos import _size
    size = _size(clean[0][0].keypoints)   # the keypoints' extent, ~20 px
    np.testing.assert_allclose(sorted(a["moved"]), [0.0, 0.0, 3.0 / size], atol=1e-6)
    tot = robustness.combine_agreement({"c.mp4": {"smoothed": a}})["smoothed"]
    assert tot["kept"] == 0.75 and tot["extra_per_frame"] == 0.5
    assert tot["moved_median"] == pytest.approx(0.0, abs=1e-6) and tot["moved_over_0.2"] == 0.0


def test_agreement_counts_the_kept_hands_on_the_clean_side():
    clean = [[_hand(50, 50, "left")], [_hand(50, 50, "left")], [_hand(50, 50, "left"), _hand(150, 50, "right")],
             [_hand(50, 50, None)]]
    other = [[_hand(50, 50, "left")],                              # same side
             [_hand(50, 50, "right")],                             # the other side
             [_hand(50, 50, None), _hand(150, 50, "right")],       # no side: not counted; same side
             [_hand(50, 50, "left")]]                              # the clean hand had no side
    a = robustness.agreement(clean, other)
    assert (a["kept"], a["sided"], a["same_side"]) == (5, 3, 2)
    tot = robustness.combine_agreement({"c.mp4": {"smoothed": a}, "d.mp4": {"smoothed": dict(a, sided=1, same_side=1)}})
    assert tot["smoothed"]["same_side"] == pytest.approx(3 / 4)
    a = robustness.agreement([[_hand(50, 50, None)]], [[_hand(50, 50, "left")]])
    assert np.isnan(robustness.combine_agreement({"c.mp4": {"smoothed": a}})["smoothed"]["same_side"])


class LeftBlob(TopHalfBlob):
    """TopHalfBlob that calls every hand left, wherever it is: a handedness a mirror does not move."""

    def __call__(self, frame, timestamp_ms=None):
        out = super().__call__(frame)
        for h in out.views["smoothed"]:
            h.side = "left"
        return out


def test_video_mirror_side_agreement(tmp_path):
    """TopHalfBlob's side follows the blob's half of the frame it sees, as a hand's handedness
    follows a mirror: it keeps every clean side under ``mirror``. LeftBlob says "left" in the
    mirror too, which is a right hand there: none kept. Neither is a side change within a track."""
    clip = _clip(tmp_path / "c.mp4")
    res = robustness.video_run({"follows": TopHalfBlob()}, [clip], ["clean", "mirror"])
    vs = res["mirror"]["vs_clean_total"]["smoothed"]
    assert vs["kept"] == 1.0 and vs["same_side"] == 1.0 and vs["moved_median"] < 0.1
    assert res["mirror"]["total"]["smoothed"]["side_changes"] == 0
    assert "| mirror | 1.000 / 0.000 / 0.000 / 0.000 / 1.000 |" in robustness.video_table(res)
    res = robustness.video_run({"fixed": LeftBlob()}, [clip], ["clean", "mirror"])
    vs = res["mirror"]["vs_clean_total"]["smoothed"]
    assert vs["kept"] == 1.0 and vs["same_side"] == 0.0
    assert res["mirror"]["total"]["smoothed"]["side_changes"] == 0


def test_video_run_compares_each_condition_with_the_clean_run(tmp_path):
    clip = _clip(tmp_path / "c.mp4")
    res = robustness.video_run({"fake": TopHalfBlob()}, [clip], ["rot180", "clean", "rot90"])
    assert list(res) == ["rot180", "clean", "rot90"]   # the order asked for, though clean ran first
    assert "vs_clean" not in res["clean"]
    assert res["rot90"]["vs_clean_total"]["smoothed"]["kept"] == 1.0   # mapped back onto the clean hands
    assert res["rot90"]["vs_clean_total"]["smoothed"]["moved_median"] < 0.1
    assert res["rot180"]["vs_clean_total"]["smoothed"]["kept"] == 0.0
    assert "| rot180 | 0.000 / 0.000 / n/a / n/a / n/a |" in robustness.video_table(res)


def test_tables_say_n_a_where_a_condition_found_no_hand():
    """A condition under which a method found no hand has no side accuracy (NaN), and a view
    with no kept hand no median move: the tables printed "nan" as a figure."""
    from bench.robustness import table, video_table
    nan = float("nan")
    res = {"clean": {"handtrack": {"pck@0.1": 0.9, "found_rate": 0.95, "handedness_acc": 0.99}},
           "dark": {"handtrack": {"pck@0.1": 0.0, "found_rate": 0.0, "handedness_acc": nan}}}
    text = table(res)
    assert "nan" not in text and "| dark |" in text and "n/a" in text
    d = {"hands_per_frame": 0.0, "tracks": 0, "side_changes": 0}
    vres = {"dark": {"total": {"smoothed": d}, "videos": {"a.mp4": {"smoothed": d}},
                     "vs_clean_total": {"smoothed": {"kept": 0.0, "extra_per_frame": 0.0, "moved_median": nan,
                                                     "moved_over_0.2": nan, "same_side": nan}}}}
    text = video_table(vres)
    assert "nan" not in text and "0.000 / 0.000 / n/a / n/a / n/a" in text
