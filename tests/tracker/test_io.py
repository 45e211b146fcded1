"""tracker.io.read_tracks: what the CLI's writers (JSONL, CSV) wrote reads back as
``HandTrackerResult.as_array()`` within the writers' rounding; malformed files -> one ValueError
naming the file and the line."""
from __future__ import annotations

import json
import logging

import numpy as np
import pytest

from tracker import cli
from tracker.hand_tracker import Hand, HandTrackerResult
from tracker.io import Tracks, read_tracks
from tracker.video import VideoSink

from .tracker_fakes import FakeDetector, FakeLandmarks, Scene, SceneHand, hand_keypoints

XY_TOL, SCORE_TOL = 0.01, 1e-4          # the writers round x, y to 0.01 px and scores to 1e-4


def make_hand(side: str, track_id: int, seed: int) -> Hand:
    rng = np.random.default_rng(seed)
    kps = hand_keypoints(rng.uniform(50, 600), rng.uniform(50, 400), 40.0, right=side == "right")
    kps = (kps + rng.normal(0, 0.3, kps.shape)).astype(np.float32)
    box = np.array([*kps.min(0), *kps.max(0)], np.float32)
    return Hand(side, track_id, float(rng.uniform(0.5, 1)), kps, kps.copy(),
                rng.uniform(0, 1, 17).astype(np.float32), box, float(rng.uniform(0.5, 1)))


# left only, right only, both (right listed first), none, both again
RESULTS = [[make_hand("left", 1, 0)], [make_hand("right", 2, 1)],
           [make_hand("right", 2, 2), make_hand("left", 1, 3)], [],
           [make_hand("left", 4, 4), make_hand("right", 2, 5)]]


def write(tmp_path, results=RESULTS):
    js, cs = tmp_path / "t.jsonl", tmp_path / "t.csv"
    out = cli.Outputs(None, str(js), str(cs), fps=30.0)
    for i, hands in enumerate(results):
        out.write(i, i * 33.3333333, HandTrackerResult(hands=hands, frame_index=i), None)
    out.close()
    return js, cs


def check_keypoints(tracks: Tracks, want: np.ndarray) -> None:
    assert tracks.keypoints.shape == want.shape and tracks.keypoints.dtype == np.float32
    np.testing.assert_allclose(tracks.keypoints[..., :2], want[..., :2], atol=XY_TOL, rtol=0)
    np.testing.assert_allclose(tracks.keypoints[..., 2], want[..., 2], atol=SCORE_TOL, rtol=0)


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_round_trip(tmp_path, fmt):
    js, cs = write(tmp_path)
    tracks = read_tracks(js if fmt == "jsonl" else cs)
    assert len(tracks) == len(RESULTS) and tracks.source == (js if fmt == "jsonl" else cs)
    np.testing.assert_array_equal(tracks.frame, np.arange(len(RESULTS)))
    np.testing.assert_allclose(tracks.t_ms, np.arange(len(RESULTS)) * 33.3333333, atol=1e-3)
    check_keypoints(tracks, np.stack([HandTrackerResult(hands=h).as_array() for h in RESULTS]))
    hands = [{h.side: h for h in hs} for hs in RESULTS]
    present = np.array([[s in h for s in ("left", "right")] for h in hands])
    np.testing.assert_array_equal(tracks.present, present)
    np.testing.assert_allclose(tracks.side("right"), tracks.keypoints[:, 17:])
    if fmt == "csv":                    # the CSV has keypoints only
        assert (tracks.track_id == -1).all()
        assert np.isnan(tracks.presence).all() and np.isnan(tracks.handedness).all() and np.isnan(tracks.box).all()
        return
    get = [[[getattr(h[s], a) if s in h else np.nan for s in ("left", "right")] for h in hands]
           for a in ("track_id", "score", "handedness")]
    np.testing.assert_array_equal(tracks.track_id, np.nan_to_num(np.array(get[0]), nan=-1).astype(np.int64))
    np.testing.assert_allclose(tracks.presence, get[1], atol=SCORE_TOL, rtol=0)
    np.testing.assert_allclose(tracks.handedness, get[2], atol=SCORE_TOL, rtol=0)
    box = [[h[s].box if s in h else np.full(4, np.nan) for s in ("left", "right")] for h in hands]
    np.testing.assert_allclose(tracks.box, box, atol=XY_TOL, rtol=0)


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_no_frames(tmp_path, fmt):
    js, cs = write(tmp_path, results=[])
    assert cs.read_text().count("\n") == 1 and js.read_text() == ""          # CSV: header only
    t = read_tracks(js if fmt == "jsonl" else cs)
    assert len(t) == 0 and t.frame.shape == (0,) and t.t_ms.shape == (0,)
    assert t.keypoints.shape == (0, 34, 3) and t.track_id.shape == (0, 2) and t.presence.shape == (0, 2)
    assert t.box.shape == (0, 2, 4) and t.present.shape == (0, 2) and t.side("left").shape == (0, 17, 3)
    assert (t.frame.dtype, t.t_ms.dtype, t.keypoints.dtype, t.track_id.dtype) == \
        (np.int64, np.float64, np.float32, np.int64)


def test_cli_output_reads_back(monkeypatch, tmp_path):
    """``handtrack video --json --csv`` on fake models: both files read back as the tracker's results."""
    scene = Scene(noise_px=1.0)
    scene.hands = [SceneHand(hand_keypoints(60, 80, 30.0), True),
                   SceneHand(hand_keypoints(140, 80, 30.0, right=False), False)]
    from tracker import HandTracker
    monkeypatch.setattr(cli, "build_tracker", lambda args, mirrored: HandTracker(
        detector=FakeDetector(scene), landmark_model=FakeLandmarks(scene), max_hands=args.max_hands))
    written = []
    real_write = cli.Outputs.write

    def spy(self, index, t_ms, result, annotated, image=None):
        written.append((result.as_array(), [h.track_id for h in result.hands]))
        real_write(self, index, t_ms, result, annotated, image)
    monkeypatch.setattr(cli.Outputs, "write", spy)
    video, js, cs = tmp_path / "in.mp4", tmp_path / "t.jsonl", tmp_path / "t.csv"
    with VideoSink(video, fps=30) as sink:
        for i in range(6):
            sink.write(np.full((120, 200, 3), 20 * i, np.uint8))
    assert cli.main(["video", str(video), "--json", str(js), "--csv", str(cs), "--no-progress"]) == 0

    want = np.stack([a for a, _ in written])
    fromjson, fromcsv = read_tracks(js), read_tracks(cs)
    for t in (fromjson, fromcsv):
        assert len(t) == 6 and t.present.all()
        check_keypoints(t, want)
    np.testing.assert_array_equal(fromjson.t_ms, fromcsv.t_ms)
    assert sorted(fromjson.track_id[-1]) == sorted(written[-1][1]) and (fromjson.track_id >= 0).all()
    assert fromjson.image is None and fromcsv.image is None      # a video: no image names


def test_image_folders_name_each_frame_s_image(monkeypatch, tmp_path, caplog):
    """For a folder of images the JSONL names each frame's file (an unreadable one is skipped, so
    frame indices have a gap there); read_tracks gives the names back. The CSV keeps its columns."""
    import cv2
    scene = Scene(noise_px=1.0)
    scene.hands = [SceneHand(hand_keypoints(60, 80, 30.0), True)]
    from tracker import HandTracker
    monkeypatch.setattr(cli, "build_tracker", lambda args, mirrored: HandTracker(
        detector=FakeDetector(scene), landmark_model=FakeLandmarks(scene), static_image_mode=True))
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("a.png", "c.png", "d.jpg"):
        cv2.imwrite(str(folder / name), np.full((120, 200, 3), 60, np.uint8))
    (folder / "b.png").write_bytes(b"not a png")
    js, cs = tmp_path / "t.jsonl", tmp_path / "t.csv"
    assert cli.main(["video", str(folder), "--static", "--json", str(js), "--csv", str(cs), "--no-progress"]) == 0
    lines = [json.loads(x) for x in js.read_text().splitlines()]
    assert [(r["frame"], r["image"]) for r in lines] == [(0, "a.png"), (2, "c.png"), (3, "d.jpg")]
    assert list(lines[0])[:3] == ["frame", "t_ms", "image"]
    t = read_tracks(js)
    assert list(t.image) == ["a.png", "c.png", "d.jpg"] and list(t.frame) == [0, 2, 3]
    assert read_tracks(cs).image is None and "b.png" in caplog.text


def test_old_jsonl_without_handedness_and_box(tmp_path):
    rec = cli.frame_record(7, 12.5, HandTrackerResult(hands=[make_hand("right", 3, 0)]))
    for h in rec["hands"]:
        del h["handedness"], h["box"]
    p = tmp_path / "old.json"
    p.write_text(json.dumps(rec) + "\n\n")                   # a blank line is skipped
    t = read_tracks(p)
    assert t.frame.tolist() == [7] and t.track_id.tolist() == [[-1, 3]] and t.present.tolist() == [[False, True]]
    assert np.isnan(t.handedness).all() and np.isnan(t.box).all() and not np.isnan(t.presence[0, 1])


def test_format_argument_and_side_errors(tmp_path):
    js, cs = write(tmp_path)
    txt = tmp_path / "tracks.txt"
    txt.write_bytes(cs.read_bytes())
    assert len(read_tracks(txt, format="csv")) == len(RESULTS)
    with pytest.raises(ValueError, match="format"):
        read_tracks(js, format="xml")
    with pytest.raises(ValueError, match="name.*'middle'"):
        read_tracks(js).side("middle")


def _two_hands(i: int) -> HandTrackerResult:
    return HandTrackerResult(hands=[make_hand("left", 1, i), make_hand("right", 2, i + 9)])


def _jsonl(edit):
    """Three lines written by ``cli.frame_record``, the second one changed by ``edit`` (which edits the
    record in place and returns None, or returns the line's text)."""
    lines = [json.dumps(cli.frame_record(i, i * 10.0, _two_hands(i))) for i in range(3)]
    rec = json.loads(lines[1])
    text = edit(rec)
    lines[1] = text if text is not None else json.dumps(rec)
    return "\n".join(lines) + "\n"


def _drop(key, hand=None):
    def edit(rec):
        del (rec if hand is None else rec["hands"][hand])[key]
    return edit


def _set(value, key, hand=None):
    def edit(rec):
        (rec if hand is None else rec["hands"][hand])[key] = value
    return edit


def _csv(edit_rows):
    """Header and three rows written by the CLI's csv functions, changed by ``edit_rows``."""
    rows = [cli.csv_header()] + [[str(c) for c in cli.csv_row(i, i * 10.0, _two_hands(i))] for i in range(3)]
    edit_rows(rows)
    return "".join(",".join(r) + "\r\n" for r in rows)


def _cell(row, col, value):
    def edit(rows):
        rows[row][cli.csv_header().index(col) if isinstance(col, str) else col] = value
    return edit


MALFORMED = [
    ("t.jsonl", lambda: _jsonl(lambda r: '{"frame": 1, "t_ms": '), 2, "JSON"),
    ("t.jsonl", lambda: _jsonl(lambda r: "[1, 2]"), 2, "object"),
    ("t.jsonl", lambda: _jsonl(_drop("frame")), 2, "'frame'"),
    ("t.jsonl", lambda: _jsonl(_drop("t_ms")), 2, "'t_ms'"),
    ("t.jsonl", lambda: _jsonl(_drop("hands")), 2, "'hands'"),
    ("t.jsonl", lambda: _jsonl(_set("x", "frame")), 2, "frame is not an integer"),
    ("t.jsonl", lambda: _jsonl(_set(None, "t_ms")), 2, "t_ms is not a number"),
    ("t.jsonl", lambda: _jsonl(_set({}, "hands")), 2, "object"),
    ("t.jsonl", lambda: _jsonl(lambda r: r["hands"].append(5)), 2, "hand 2 is not an object"),
    ("t.jsonl", lambda: _jsonl(_drop("keypoints", hand=0)), 2, "'keypoints'"),
    ("t.jsonl", lambda: _jsonl(_drop("side", hand=1)), 2, "'side'"),
    ("t.jsonl", lambda: _jsonl(_drop("track_id", hand=1)), 2, "'track_id'"),
    ("t.jsonl", lambda: _jsonl(_drop("score", hand=1)), 2, "'score'"),
    ("t.jsonl", lambda: _jsonl(_set([[1.0, 2.0, 0.5]] * 16, "keypoints", hand=0)), 2, "17 x 3 numbers, got 16"),
    ("t.jsonl", lambda: _jsonl(_set([[1.0, 2.0]] * 17, "keypoints", hand=0)), 2, "item 0 is [1.0, 2.0]"),
    ("t.jsonl", lambda: _jsonl(_set([[1.0, "a", 0.5]] * 17, "keypoints", hand=0)), 2, "not a number"),
    ("t.jsonl", lambda: _jsonl(_set("middle", "side", hand=1)), 2, "'middle'"),
    ("t.jsonl", lambda: _jsonl(_set(7, "image")), 2, "image must be a file name, got 7"),
    ("t.jsonl", lambda: _jsonl(_set(1e30, "frame")), 2, "frame is out of range"),
    ("t.jsonl", lambda: _jsonl(lambda r: r["hands"][1].update(track_id=2 ** 64)), 2, "hand 1: track_id is out of range"),
    ("t.csv", lambda: _csv(_cell(0, 5, "left_palm_q")), 1, "column 6 is 'left_palm_q', expected 'left_palm_x'"),
    ("t.csv", lambda: _csv(lambda rows: rows[0].pop()), 1, "103 columns"),
    ("t.csv", lambda: _csv(lambda rows: rows.pop(0)), 1, "column 1 is '0'"),
    ("t.csv", lambda: "", 1, "header"),
    ("t.csv", lambda: _csv(lambda rows: rows[3].pop()), 4, "103 cells"),
    ("t.csv", lambda: _csv(_cell(2, "right_index_tip_y", "abc")), 3, "'right_index_tip_y' is not a number"),
    ("t.csv", lambda: _csv(_cell(2, "frame", "1.5")), 3, "frame is not an integer"),
    ("t.csv", lambda: _csv(_cell(1, "left_wrist_score", "")), 2, "left hand has 1 of its 51 cells empty"),
    ("t.csv", lambda: _csv(_cell(3, "frame", "9" * 20)), 4, "frame is out of range"),
]


@pytest.mark.parametrize("name, content, line, fragment", MALFORMED,
                         ids=[f"{n}-{i}-{f}" for i, (n, _, _, f) in enumerate(MALFORMED)])
def test_malformed_file_names_file_and_line(tmp_path, name, content, line, fragment):
    p = tmp_path / name
    p.write_text(content(), encoding="utf-8", newline="")
    with pytest.raises(ValueError) as e:
        read_tracks(p)
    msg = str(e.value)
    assert str(p) in msg and f"line {line}:" in msg and fragment in msg, msg


def test_missing_file_and_unknown_suffix(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.jsonl"):
        read_tracks(tmp_path / "nope.jsonl")
    p = tmp_path / "tracks.txt"
    p.write_text("")
    with pytest.raises(ValueError, match=r"tracks\.txt.*'\.txt'.*\.jsonl, \.json, \.csv"):
        read_tracks(p)


def test_several_hands_of_a_side_keep_the_oldest_track(tmp_path, caplog):
    """--max-hands 3 writes two hands of a side in a frame: the reader keeps the one as_array()
    keeps, the oldest track (lowest id; the highest score jumped between hands whose presence is
    ~1.0), even where another scores higher."""
    def three_hands(rec):
        extra = json.loads(json.dumps(rec["hands"][0]))
        extra["score"] = rec["hands"][0]["score"] + 0.01      # the better of the two left hands
        extra["track_id"] = 99
        rec["hands"] = [rec["hands"][0], extra, rec["hands"][1]]
        rec["hands"].append(dict(rec["hands"][0], score=0.001, track_id=98))   # a worse third left hand
    p = tmp_path / "t.jsonl"
    p.write_text(_jsonl(three_hands), encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="tracker.io"):
        t = read_tracks(p)
    assert t.track_id[1, 0] == 1        # the left hand of _two_hands, not 99 (higher score) or 98
    assert "2 hands left out" in caplog.text and str(p) in caplog.text


def test_result_to_dict_is_a_jsonl_line(tmp_path):
    """``HandTrackerResult.to_dict()`` is what the CLI writes: json.dumps of it reads back."""
    results = [HandTrackerResult(hands=hands, frame_index=i, timestamp_ms=i * 33.3) for i, hands in enumerate(RESULTS)]
    p = tmp_path / "mine.jsonl"
    p.write_text("".join(json.dumps(r.to_dict()) + "\n" for r in results))
    t = read_tracks(p)
    assert t.frame.tolist() == list(range(len(RESULTS)))
    np.testing.assert_allclose(t.t_ms, [r.timestamp_ms for r in results], atol=1e-3)
    for k, r in enumerate(results):
        np.testing.assert_allclose(t.keypoints[k], r.as_array(), atol=XY_TOL, equal_nan=True)
    d = results[2].to_dict(frame=41, t_ms=5.0)
    assert (d["frame"], d["t_ms"]) == (41, 5.0) and len(d["hands"]) == 2
    h = d["hands"][0]
    assert set(h) == {"side", "track_id", "score", "handedness", "box", "keypoints"}
    assert len(h["keypoints"]) == 17 and len(h["keypoints"][0]) == 3 and len(h["box"]) == 4


def test_csv_with_blank_rows_reads_back(tmp_path):
    """Blank rows are skipped, as blank JSONL lines are: a trailing empty line, and the "\\r\\r\\n"
    row ends of ``--csv - > tracks.csv`` on Windows (a text-mode stdout turns the csv module's
    "\\r\\n" into "\\r\\r\\n", which the csv module reads as a row and an empty row)."""
    _, cs = write(tmp_path)
    want = read_tracks(cs)
    for name, data in (("trailing.csv", cs.read_bytes() + b"\r\n"),
                       ("windows_stdout.csv", cs.read_bytes().replace(b"\r\n", b"\r\r\n"))):
        p = tmp_path / name
        p.write_bytes(data)
        t = read_tracks(p)
        np.testing.assert_array_equal(t.frame, want.frame)
        np.testing.assert_array_equal(t.keypoints, want.keypoints)


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_utf8_byte_order_mark_is_accepted(tmp_path, fmt):
    """A file saved with a UTF-8 byte order mark (Excel's "CSV UTF-8", PowerShell 5's
    ``Out-File -Encoding utf8``) reads as the same file without it."""
    js, cs = write(tmp_path)
    src = js if fmt == "jsonl" else cs
    p = tmp_path / f"bom.{fmt}"
    p.write_bytes(b"\xef\xbb\xbf" + src.read_bytes())
    t, want = read_tracks(p), read_tracks(src)
    np.testing.assert_array_equal(t.frame, want.frame)
    np.testing.assert_array_equal(t.keypoints, want.keypoints)
