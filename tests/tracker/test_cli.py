"""The ``handtrack`` CLI on fake models: JSONL and CSV outputs parse, summary, bad input -> one
error line and exit status 2 (never a traceback)."""
from __future__ import annotations

import csv
import json
import math
import os

import cv2
import numpy as np
import pytest

from tracker import cli
from tracker.video import VideoSink

from .tracker_fakes import FakeDetector, FakeLandmarks, Scene, SceneHand, hand_keypoints


@pytest.fixture
def fake_models(monkeypatch):
    """Make the CLI build its tracker on fake models; the scene holds one right and one left hand."""
    scene = Scene(noise_px=1.0)
    scene.hands = [SceneHand(hand_keypoints(60, 80, 30.0), True), SceneHand(hand_keypoints(140, 80, 30.0, right=False), False)]
    built = []

    def build(args, mirrored):
        from tracker import HandTracker
        t = HandTracker(detector=FakeDetector(scene), landmark_model=FakeLandmarks(scene),
                        max_hands=args.max_hands, static_image_mode=args.static, mirrored=mirrored,
                        smoothing=not args.no_smoothing)
        built.append(t)
        return t

    monkeypatch.setattr(cli, "build_tracker", build)
    return built


@pytest.fixture
def small_video(tmp_path):
    p = tmp_path / "in.mp4"
    with VideoSink(p, fps=30) as sink:
        for i in range(8):
            sink.write(np.full((120, 200, 3), 20 * i, np.uint8))
    return p


def test_video_to_jsonl_csv_and_mp4(fake_models, small_video, tmp_path, capsys):
    out, js, cs = tmp_path / "out.mp4", tmp_path / "t.jsonl", tmp_path / "t.csv"
    rc = cli.main(["video", str(small_video), "-o", str(out), "--json", str(js), "--csv", str(cs), "--no-progress"])
    assert rc == 0
    summary = capsys.readouterr().out
    assert "8 frames" in summary and "2: 100.0%" in summary

    lines = [json.loads(x) for x in js.read_text().splitlines()]
    assert [r["frame"] for r in lines] == list(range(8))
    assert all(b["t_ms"] > a["t_ms"] for a, b in zip(lines, lines[1:]))
    for rec in lines:
        assert sorted(h["side"] for h in rec["hands"]) == ["left", "right"]
        for h in rec["hands"]:
            assert set(h) == {"side", "track_id", "score", "handedness", "box", "keypoints"}
            k = np.asarray(h["keypoints"])
            assert k.shape == (17, 3) and 0.5 <= h["handedness"] <= 1.0
            np.testing.assert_allclose(h["box"], [*k[:, :2].min(0), *k[:, :2].max(0)], atol=0.02)
    right = next(h for h in lines[-1]["hands"] if h["side"] == "right")
    assert abs(right["keypoints"][1][0] - 60) < 3

    with open(cs, newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == cli.csv_header() and len(rows[0]) == 2 + 34 * 3
    assert rows[0][2] == "left_wrist_x" and rows[0][2 + 17 * 3] == "right_wrist_x"
    assert len(rows) == 9
    vals = [float(v) for v in rows[-1][2:]]
    right_palm_x = vals[(17 + 1) * 3]
    assert abs(right_palm_x - 60) < 3

    cap = cv2.VideoCapture(str(out))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 8
    cap.release()


def test_csv_cells_empty_where_hand_absent(fake_models, small_video, tmp_path):
    cs = tmp_path / "t.csv"
    assert cli.main(["video", str(small_video), "--csv", str(cs), "--max-hands", "1", "--max-frames", "3", "--no-progress"]) == 0
    rows = list(csv.reader(open(cs, newline="")))
    assert len(rows) == 4
    for r in rows[1:]:
        cells = r[2:]
        left, right = cells[:51], cells[51:]
        assert (all(c == "" for c in left)) != (all(c == "" for c in right))     # exactly one hand
        assert all(c != "" and math.isfinite(float(c)) for c in (left if left[0] else right))


def test_mirror_flag_swaps_sides(fake_models, small_video, tmp_path):
    js = tmp_path / "t.jsonl"
    assert cli.main(["video", str(small_video), "--json", str(js), "--mirror", "--max-frames", "2", "--no-progress"]) == 0
    rec = json.loads(js.read_text().splitlines()[-1])
    left = next(h for h in rec["hands"] if h["side"] == "left")
    assert abs(left["keypoints"][1][0] - 60) < 3          # the image's right hand is labelled left


def test_outputs_kept_when_run_fails(fake_models, small_video, tmp_path, monkeypatch):
    """An error mid-run: the lines already written are on disk and the CLI exits cleanly."""
    from tracker.hand_tracker import HandTracker
    orig = HandTracker.process
    calls = {"n": 0}

    def flaky(self, frame, ts=None):
        calls["n"] += 1
        if calls["n"] == 4:
            raise ValueError("simulated failure")
        return orig(self, frame, ts)

    monkeypatch.setattr(HandTracker, "process", flaky)
    js, cs = tmp_path / "t.jsonl", tmp_path / "t.csv"
    rc = cli.main(["video", str(small_video), "--json", str(js), "--csv", str(cs), "--no-progress"])
    assert rc == 2
    assert len(js.read_text().splitlines()) == 3
    assert len(list(csv.reader(open(cs, newline="")))) == 4


@pytest.mark.parametrize("argv, fragment", [
    (["video", "{tmp}/missing.mp4"], "missing.mp4"),
    (["video", "{tmp}/junk.mp4"], "junk.mp4"),
    (["video", "{video}", "--json", "{tmp}/no/such/dir/t.jsonl"], "--json"),
    (["video", "{video}", "-o", "{tmp}/no/such/dir/o.mp4"], "-o/--output"),
    (["video", "{video}", "-o", "{tmp}/o.xyz"], "-o/--output: cannot open output: cannot write video"),
    (["video", "{video}", "--json", "{tmp}/in.jsonl/"], "--json: cannot open output"),
    (["video", "{video}", "-o", "{tmp}"], "-o/--output {tmp}: would overwrite the input"),
    (["video", "{video}", "-o", "{video}"], "-o/--output {video}: would overwrite the input {video}"),
    (["video", "{video}", "--json", "{video}"], "--json {video}: would overwrite the input"),
    (["video", "{video}", "-o", "{tmp}/link.mp4"], "-o/--output {tmp}/link.mp4: would overwrite the input {video}"),
    (["video", "{video}", "--csv", "{tmp}/link.mp4"], "--csv {tmp}/link.mp4: would overwrite the input {video}"),
    (["video", "{tmp}/link.mp4", "--json", "{video}"], "--json {video}: would overwrite the input {tmp}/link.mp4"),
    (["video", "{video}", "--json", "{tmp}/t.txt", "--csv", "{tmp}/t_link.txt"], "--csv {tmp}/t_link.txt: --json writes the same file"),
    (["video", "{video}", "--json", "{tmp}/t.txt", "--csv", "{tmp}/t.txt"], "--csv {tmp}/t.txt: --json writes the same file"),
    (["video", "{video}", "{video2}", "--json", "{tmp}/t.jsonl"], "--json {tmp}/t.jsonl: with 2 inputs, give an existing folder"),
    (["video", "{video}", "{video2}", "--csv", "-"], "--csv standard output: with 2 inputs"),
    (["video", "{video}", "{tmp}/sub/in.mp4", "--json", "{tmp}/out"], "would both write in.jsonl"),
    (["video", "{video}", "{tmp}/missing.mp4", "--json", "{tmp}/out"], "INPUT: {tmp}/missing.mp4 does not exist"),
    (["video", "{video}", "--max-hands", "0"], "--max-hands"),
    (["video", "{video}", "--max-hands", "two"], "--max-hands"),
    (["video", "{video}", "--threads", "-1"], "--threads"),
    (["video", "{video}", "--device", "tpu"], "--device"),
    (["video", "{video}", "--min-detection-confidence", "1.5"], "--min-detection-confidence"),
    (["video", "{video}", "--side-lock", "0"], "--side-lock must be a number > 0 or 'none'"),
    (["video", "{video}", "--side-lock", "off"], "--side-lock must be a number > 0 or 'none'"),
    (["video", "{video}", "--low-detection-confidence", "2"], "--low-detection-confidence must be in [0, 1], got 2.0 (or 'none')"),
    (["video", "{video}", "--low-detection-confidence", "off"], "--low-detection-confidence must be a number"),
    (["video", "{video}", "--refine-score", "1.2"], "--refine-score must be in [0, 1], got 1.2"),
    (["video", "{video}", "--min-crop-palms", "-1"], "--min-crop-palms must be in [0, 10], got -1.0"),
    (["video", "{video}", "--min-crop-palms", "nan"], "--min-crop-palms must be in [0, 10], got nan"),
    (["video", "{video}", "--min-crop-palms", "wide"], "--min-crop-palms must be a number, got 'wide'"),
    (["video", "{video}", "--turn-fallback", "--json", "{tmp}/out/t.jsonl"], "--turn-fallback applies with --static"),
    (["webcam", "--turn-fallback"], "unrecognized arguments: --turn-fallback"),
    (["video"], "INPUT"),
    (["fly"], "invalid choice"),
    (["webcam", "--camera", "-2"], "--camera must be an index >= 0, a device file or a stream URL, got '-2'"),
    (["webcam", "--camera", "{video}"], "is a file, not a camera; track it with `handtrack video"),
    (["webcam", "--camera", "{tmp}"], "is a folder, not a camera"),
    (["webcam", "--camera", "{tmp}/video9"], "no such device; give an index"),
])
def test_bad_arguments_exit_2_with_one_line(fake_models, small_video, tmp_path, capsys, argv, fragment):
    (tmp_path / "junk.mp4").write_bytes(b"\x00" * 4000)
    (tmp_path / "out").mkdir()
    (tmp_path / "sub").mkdir()
    for name in ("in2.mp4", "sub/in.mp4"):
        (tmp_path / name).write_bytes(small_video.read_bytes())
    os.link(small_video, tmp_path / "link.mp4")           # another name of the input: a hard link
    (tmp_path / "t.txt").write_text("an earlier run's output\n")
    os.link(tmp_path / "t.txt", tmp_path / "t_link.txt")
    argv = [a.format(tmp=tmp_path, video=small_video, video2=tmp_path / "in2.mp4") for a in argv]
    fragment = fragment.format(tmp=tmp_path, video=small_video)
    before = small_video.read_bytes()
    try:
        rc = cli.main(argv)
    except SystemExit as e:      # argparse errors
        rc = e.code
    assert rc == 2
    err = capsys.readouterr().err
    assert fragment in err and "Traceback" not in err
    assert not any((tmp_path / "out").iterdir())          # errors come before any output is written
    assert small_video.read_bytes() == before               # the input is never touched


def test_an_output_naming_an_input_image_is_refused_before_it_is_opened(fake_models, tmp_path, capsys):
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("a.png", "b.png"):
        cv2.imwrite(str(photos / name), np.full((60, 80, 3), 128, np.uint8))
    before = (photos / "b.png").read_bytes()
    rc = cli.main(["video", str(photos), "--static", "--csv", str(photos / "b.png"), "--no-progress"])
    assert rc == 2
    assert f"--csv {photos / 'b.png'}: would overwrite the input {photos / 'b.png'}" in capsys.readouterr().err
    assert (photos / "b.png").read_bytes() == before


def test_several_inputs_write_one_file_per_input_into_folders(fake_models, small_video, tmp_path, capsys):
    second = tmp_path / "clips" / "second.mp4"
    second.parent.mkdir()
    with VideoSink(second, fps=25) as sink:
        for i in range(5):
            sink.write(np.full((120, 200, 3), 10 * i, np.uint8))
    out = tmp_path / "out"
    out.mkdir()
    rc = cli.main(["video", str(small_video), str(second), "--json", str(out), "--csv", str(out),
                   "-o", str(out), "--no-progress"])
    assert rc == 0
    assert sorted(p.name for p in out.iterdir()) == ["in.csv", "in.jsonl", "in.mp4",
                                                     "second.csv", "second.jsonl", "second.mp4"]
    assert len(fake_models) == 1                            # the models are loaded once
    first = [json.loads(x) for x in (out / "in.jsonl").read_text().splitlines()]
    again = [json.loads(x) for x in (out / "second.jsonl").read_text().splitlines()]
    assert [r["frame"] for r in first] == list(range(8)) and [r["frame"] for r in again] == list(range(5))
    assert again[0]["t_ms"] == 0.0 and abs(again[1]["t_ms"] - 40.0) < 1.0   # the second clip's own clock
    assert all(len(r["hands"]) == 2 for r in first + again)
    assert len(list(csv.reader(open(out / "second.csv", newline="")))) == 6
    summary = capsys.readouterr().out
    assert f"{small_video}: 8 frames" in summary and f"{second}: 5 frames" in summary
    assert "2 inputs, 13 frames" in summary


def test_second_input_starts_without_the_first_ones_tracks(fake_models, small_video, tmp_path, monkeypatch):
    resets = []
    from tracker import HandTracker
    real_reset = HandTracker.reset
    monkeypatch.setattr(HandTracker, "reset", lambda self: (resets.append(1), real_reset(self))[1])
    out = tmp_path / "out"
    out.mkdir()
    other = tmp_path / "other.mp4"
    other.write_bytes(small_video.read_bytes())
    assert cli.main(["video", str(small_video), str(other), "--json", str(out), "--no-progress"]) == 0
    assert len(resets) == 2                                 # once when built, once between the clips
    first = [json.loads(x) for x in (out / "in.jsonl").read_text().splitlines()]
    again = [json.loads(x) for x in (out / "other.jsonl").read_text().splitlines()]
    # the second clip starts as a run of its own would: fresh tracks, ids from the start again
    assert sorted(h["track_id"] for h in again[0]["hands"]) == sorted(h["track_id"] for h in first[0]["hands"])


@pytest.mark.parametrize("flag, option, want", [
    ([], "low_detection_confidence", 0.2),
    (["--low-detection-confidence", "none"], "low_detection_confidence", None),
    (["--low-detection-confidence", "0.3"], "low_detection_confidence", 0.3),
    ([], "refine_score", 0.6),
    (["--refine-score", "0"], "refine_score", 0.0),
    (["--static", "--refine-score", "1"], "refine_score", 1.0),
    ([], "min_crop_palms", 2.8),
    (["--min-crop-palms", "0"], "min_crop_palms", 0.0),
    (["--min-crop-palms", "3.5"], "min_crop_palms", 3.5),
])
def test_option_flags_reach_the_tracker(small_video, flag, option, want):
    args = cli.make_parser().parse_args(["video", str(small_video), *flag])
    t = cli.build_tracker(args, mirrored=False)          # the shipped models
    try:
        assert getattr(t.options, option) == want
    finally:
        t.close()


@pytest.mark.parametrize("flag, want", [([], 20.0), (["--side-lock", "none"], None), (["--side-lock", "35"], 35.0)])
def test_side_lock_flag_reaches_the_tracker(small_video, flag, want):
    args = cli.make_parser().parse_args(["video", str(small_video), *flag])
    t = cli.build_tracker(args, mirrored=False)          # the shipped models
    try:
        assert t.options.side_lock == want and t.associator.side_lock == want
    finally:
        t.close()


@pytest.mark.parametrize("command", ["video", "webcam"])
@pytest.mark.parametrize("flag, want", [([], True), (["--no-large-hands"], False)])
def test_no_large_hands_flag_reaches_the_tracker(small_video, command, flag, want):
    source = [str(small_video)] if command == "video" else []
    t = cli.build_tracker(cli.make_parser().parse_args([command, *source, *flag]), mirrored=False)
    try:
        assert t.options.large_hands is want and t.detector.large_hands is want
    finally:
        t.close()


@pytest.mark.parametrize("command", ["video", "webcam"])
@pytest.mark.parametrize("flag, want", [([], False), (["--small-hands"], True)])
def test_small_hands_and_turn_retry_flags_reach_the_tracker(small_video, command, flag, want):
    source = [str(small_video)] if command == "video" else []
    args = cli.make_parser().parse_args([command, *source, *flag, *(["--turn-retry"] if want else [])])
    t = cli.build_tracker(args, mirrored=False)          # the shipped models
    try:
        assert t.options.small_hands is want and t.detector.small_hands is want
        assert t.options.turn_retry is want
    finally:
        t.close()


@pytest.mark.parametrize("command", ["video", "webcam"])
@pytest.mark.parametrize("flag, want, in_use", [([], None, 4), (["--detector-turns", "1"], 1, 1),
                                                (["--detector-turns", "2"], 2, 2), (["--detector-turns", "4"], 4, 4)])
def test_detector_turns_flag_reaches_the_tracker(small_video, command, flag, want, in_use):
    source = [str(small_video)] if command == "video" else []
    args = cli.make_parser().parse_args([command, *source, *flag])
    t = cli.build_tracker(args, mirrored=False)          # the shipped models
    try:
        assert t.options.detector_turns == want and t.detector_turns == in_use
    finally:
        t.close()


@pytest.mark.parametrize("flag, in_use", [([], 1), (["--detector-turns", "4"], 4)])
def test_static_video_looks_upright_only_by_default(small_video, flag, in_use):
    args = cli.make_parser().parse_args(["video", str(small_video), "--static", *flag])
    t = cli.build_tracker(args, mirrored=False)
    try:
        assert t.options.static_image_mode and t.detector_turns == in_use
    finally:
        t.close()


@pytest.mark.parametrize("flag, want", [([], False), (["--turn-fallback"], True)])
def test_turn_fallback_flag_reaches_the_static_tracker(small_video, flag, want):
    args = cli.make_parser().parse_args(["video", str(small_video), "--static", "--detector-turns", "4", *flag])
    t = cli.build_tracker(args, mirrored=False)
    try:
        assert t.options.turn_fallback is want and t.detector_turns == 4
    finally:
        t.close()


@pytest.mark.parametrize("value", ["3", "0", "two"])
def test_detector_turns_flag_refuses_other_counts(small_video, value, capsys):
    with pytest.raises(SystemExit) as e:
        cli.make_parser().parse_args(["video", str(small_video), "--detector-turns", value])
    assert e.value.code == 2 and "--detector-turns" in capsys.readouterr().err


@pytest.mark.parametrize("flag", ["--json", "--csv"])
def test_video_streams_tracks_to_stdout_with_the_summary_on_stderr(fake_models, small_video, capsys, flag):
    rc = cli.main(["video", str(small_video), flag, "-", "--no-progress"])
    out, err = capsys.readouterr()
    assert rc == 0 and "8 frames in" in err and "fps end to end" not in out
    if flag == "--json":
        assert [json.loads(x)["frame"] for x in out.splitlines()] == list(range(8))
    else:
        rows = list(csv.reader(out.splitlines()))
        assert rows[0] == cli.csv_header() and [int(r[0]) for r in rows[1:]] == list(range(8))


def test_bad_model_file_is_a_clean_error(small_video, tmp_path, capsys):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    for flag, path in (("--landmark-model", bad), ("--landmark-model", tmp_path / "none.onnx")):
        rc = cli.main(["video", str(small_video), flag, str(path), "--no-progress"])
        err = capsys.readouterr().err
        assert rc == 2 and str(path.name) in err and "Traceback" not in err


def test_webcam_without_display(monkeypatch, capsys):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setattr(cli.sys, "platform", "linux")
    assert cli.main(["webcam"]) == 2
    assert "no display" in capsys.readouterr().err


def test_webcam_without_camera(monkeypatch, capsys):
    monkeypatch.setenv("DISPLAY", ":99")          # pretend there is a display; no window is opened
    monkeypatch.setattr(cli, "window_problem", lambda: None)
    assert cli.main(["webcam", "--camera", "57"]) == 2
    assert "--camera 57" in capsys.readouterr().err


def test_webcam_with_a_stream_that_cannot_be_opened(monkeypatch, capsys):
    monkeypatch.setenv("DISPLAY", ":99")          # pretend there is a display; no window is opened
    monkeypatch.setattr(cli, "window_problem", lambda: None)
    url = "http://127.0.0.1:9/stream"              # the discard port: connection refused at once
    assert cli.main(["webcam", "--camera", url]) == 2
    assert f"--camera {url}: no camera could be opened or read" in capsys.readouterr().err


def test_version_names_package_models_and_runtime(capsys):
    import tracker
    with pytest.raises(SystemExit) as e:
        cli.main(["--version"])
    out = capsys.readouterr().out
    assert e.value.code == 0
    assert out.startswith(f"handtrack {tracker.__version__}\n")
    assert "landmarks model: landmarks-v" in out and "detector model: detector-v" in out
    assert "onnxruntime " in out and "CPUExecutionProvider" in out


def _photo_folder(folder, names=("a.png", "b.jpg", "c.png")):
    folder.mkdir(parents=True, exist_ok=True)
    for n in names:
        cv2.imwrite(str(folder / n), np.full((120, 200, 3), 90, np.uint8))
    return folder


def _hard_linked_folder(t):
    """``t/linked/a.png``: another name (a hard link) of the input image ``t/photos/a.png``."""
    (t / "linked").mkdir()
    os.link(t / "photos" / "a.png", t / "linked" / "a.png")


def test_annotated_images_are_written_under_their_own_names(fake_models, tmp_path, capsys):
    """--annotated-images: each photo with its skeletons, same name and size, in the given folder."""
    photos, out = _photo_folder(tmp_path / "photos"), tmp_path / "seen"
    out.mkdir()
    assert cli.main(["video", str(photos), "--static", "--annotated-images", str(out), "--no-progress"]) == 0
    assert f"annotated images: 3 in {out}" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "b.jpg", "c.png"]
    for name in ("a.png", "b.jpg", "c.png"):
        src, got = cv2.imread(str(photos / name)), cv2.imread(str(out / name))
        assert got.shape == src.shape
        assert np.abs(got.astype(int) - src.astype(int)).max() > 100      # skeletons drawn on it


def test_an_annotated_image_that_cannot_be_written_is_one_error_naming_it(fake_models, tmp_path, capsys):
    """The images are written in a thread (session 50): a file that fails there is still the run's
    one error line, naming the file; the images before it and the track lines written stay."""
    photos, out = _photo_folder(tmp_path / "photos"), tmp_path / "seen"
    (out / "b.jpg").mkdir(parents=True)            # a folder where b.jpg's picture should go
    tracks = tmp_path / "t.jsonl"
    assert cli.main(["video", str(photos), "--static", "--annotated-images", str(out), "--json", str(tracks),
                     "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"handtrack: error: --annotated-images: cannot write {out / 'b.jpg'}"]
    assert (out / "a.png").is_file() and not (out / "c.png").exists()
    lines = [json.loads(x) for x in tracks.read_text().splitlines()]
    assert 2 <= len(lines) <= 3 and [x["image"] for x in lines] == ["a.png", "b.jpg", "c.png"][:len(lines)]


@pytest.mark.parametrize("setup, argv, fragment", [
    (lambda t: None, ["{video}", "--annotated-images", "{tmp}/seen"], "INPUT {video} is a video"),
    (lambda t: None, ["{tmp}/photos", "--annotated-images", "{tmp}/missing"], "folder {tmp}/missing does not exist"),
    (lambda t: _photo_folder(t / "more", ("a.png",)), ["{tmp}/photos", "{tmp}/more", "--annotated-images", "{tmp}/seen"],
     "would both write a.png"),
    (lambda t: None, ["{tmp}/photos", "--annotated-images", "{tmp}/photos"], "would overwrite the input image"),
    (_hard_linked_folder, ["{tmp}/photos", "--annotated-images", "{tmp}/linked"], "would overwrite the input image"),
])
def test_annotated_images_refused_before_any_work(fake_models, small_video, tmp_path, capsys, setup, argv, fragment):
    _photo_folder(tmp_path / "photos")
    (tmp_path / "seen").mkdir()
    setup(tmp_path)
    argv = [a.format(tmp=tmp_path, video=small_video) for a in argv]
    assert cli.main(["video", *argv, "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert fragment.format(tmp=tmp_path, video=small_video) in err and len(err.strip().splitlines()) == 1
    assert not any((tmp_path / "seen").iterdir()) and not fake_models        # no tracker was even built


def test_outputs_refuse_one_file_named_twice_before_opening_it(tmp_path):
    """Also what `webcam` opens: --json and --csv (or -o) on one file would interleave two formats."""
    target = tmp_path / "t.txt"
    with pytest.raises(cli.UsageError, match="--csv .*t.txt: --json writes the same file"):
        cli.Outputs(None, str(target), str(tmp_path / "." / "t.txt"), 30.0)
    assert not target.exists()


def test_a_closed_track_stream_stops_quietly(fake_models, small_video, monkeypatch, capsys):
    """`handtrack video clip.mp4 --json - | head -1`: the reader goes away, the run stops without an
    error message (exit status 141, as a shell tool killed by SIGPIPE)."""
    writes = {"n": 0}

    def write(self, *args, **kwargs):
        writes["n"] += 1
        if writes["n"] == 2:
            raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(cli.Outputs, "write", write)
    rc = cli.main(["video", str(small_video), "--json", "-", "--no-progress"])
    assert rc == cli.EXIT_BROKEN_PIPE == 141
    assert writes["n"] == 2                                  # stopped at the broken write
    assert capsys.readouterr().err == ""


def _named(d, how):
    """A name, under ``d``, for the output of the same-file checks below (``d/in.bin`` is the input)."""
    if how == "hard link":
        os.link(d / "in.bin", d / "link.bin")
    elif how == "symbolic link":
        os.symlink(d / "in.bin", d / "link.bin")
    elif how == "another file":
        (d / "link.bin").write_bytes(b"x")
    return {"same name": d / "in.bin", "another spelling": d / "sub" / ".." / "in.bin"}.get(how, d / "link.bin")


@pytest.mark.parametrize("how, clash", [
    ("same name", True), ("another spelling", True), ("hard link", True), ("symbolic link", True),
    ("another file", False), ("not written yet", False),
])
def test_same_file_checks_see_every_name_of_the_input(tmp_path, how, clash):
    """The checks the training and export tools run before writing (`refuse_overwrite`,
    `output_clash`): every name of the input file is the input (resolved paths miss hard links)."""
    (tmp_path / "sub").mkdir()
    src = tmp_path / "in.bin"
    src.write_bytes(b"model")
    dst = _named(tmp_path, how)
    message = cli.output_clash([("--out", str(dst))], [("--model", str(src))])
    assert (message == f"--out {dst}: is also --model; give the output its own file name") == clash
    assert (message is None) == (not clash)
    if clash:
        with pytest.raises(ValueError, match="would overwrite the input"):
            cli.refuse_overwrite(src, dst, "--out")
    else:
        cli.refuse_overwrite(src, dst, "--out")
    assert src.read_bytes() == b"model"


@pytest.mark.parametrize("max_hands, line", [
    ("3", "hands per frame: 0: 0.0%  1: 0.0%  2: 0.0%  3: 100.0%"),
    # a list of max_hands + 1 counters took 8 GB before the first frame; columns as far as seen
    ("1000000000", "hands per frame: 0: 0.0%  1: 0.0%  2: 0.0%  3: 100.0%\n"),
])
def test_summary_counts_every_number_of_hands_up_to_max_hands(monkeypatch, small_video, capsys, max_hands, line):
    """With --max-hands 3 a frame with three hands is counted as three (it was counted as two, and
    the summary had no column for it)."""
    from tracker import HandTracker
    scene = Scene(noise_px=1.0)
    scene.hands = [SceneHand(hand_keypoints(x, 70, 22.0, right=r), r) for x, r in ((40, True), (100, False), (160, True))]
    monkeypatch.setattr(cli, "build_tracker", lambda args, mirrored: HandTracker(
        detector=FakeDetector(scene), landmark_model=FakeLandmarks(scene), max_hands=args.max_hands,
        static_image_mode=True))
    rc = cli.main(["video", str(small_video), "--max-hands", max_hands, "--static", "--no-progress"])
    assert rc == 0
    summary = capsys.readouterr().out
    assert line in summary
