"""Audit of the track files (``--json`` JSONL, ``--csv`` CSV) and ``tracker.io.read_tracks``: the
shipped models' output on a shared clip reads back as the tracker produced it (within the
writers' documented rounding), and a file whose last line a stopped run left unfinished still
reads back, without that line."""
from __future__ import annotations

import logging

import numpy as np
import pytest

from tracker import cli
from tracker.hand_tracker import SIDES, HandTrackerResult
from tracker.io import read_tracks

from .test_io import _two_hands
from .test_hand_tracker_e2e import require_models

# the writers round x, y (and boxes) to 0.01 px, scores to 1e-4 and t_ms to 1e-3 ms: at most half of
# that away, plus float32 storage
XY_TOL, SCORE_TOL, T_TOL = 0.005 + 1e-3, 5e-5 + 1e-6, 5e-4 + 1e-9


def test_shipped_models_on_a_clip_read_back_as_tracked(videos, tmp_path, monkeypatch):
    """``handtrack video --json --csv`` on 20 frames of a two-hand clip: frames, timestamps,
    keypoints (NaN exactly where as_array() has them), and from JSONL track ids, presence,
    handedness and boxes equal the tracker's results within the rounding."""
    require_models()
    tracked = []
    real_build = cli.build_tracker

    def build(args, mirrored):
        tracker = real_build(args, mirrored)
        process = tracker.process

        def spy(frame, t_ms=None):
            result = process(frame, t_ms)
            tracked.append((t_ms, result))
            return result
        tracker.process = spy
        return tracker
    monkeypatch.setattr(cli, "build_tracker", build)
    js, cs = tmp_path / "tracks ü.jsonl", tmp_path / "tracks ü.csv"
    assert cli.main(["video", str(videos / "huytung_2hand.mp4"), "--json", str(js), "--csv", str(cs),
                     "--max-frames", "20", "--threads", "1", "--no-progress"]) == 0
    assert len(tracked) == 20
    want = np.stack([r.as_array() for _, r in tracked])
    assert (~np.isnan(want[:, :, 0])).any(), "the clip should show hands in its first frames"
    for path in (js, cs):
        t = read_tracks(path)
        np.testing.assert_array_equal(t.frame, np.arange(20))
        np.testing.assert_allclose(t.t_ms, [ms for ms, _ in tracked], atol=T_TOL, rtol=0)
        np.testing.assert_array_equal(np.isnan(t.keypoints), np.isnan(want))
        np.testing.assert_allclose(t.keypoints[..., :2], want[..., :2], atol=XY_TOL, rtol=0)
        np.testing.assert_allclose(t.keypoints[..., 2], want[..., 2], atol=SCORE_TOL, rtol=0)
    t = read_tracks(js)
    for i, (_, result) in enumerate(tracked):
        for k, side in enumerate(SIDES):
            h = result.hand(side)
            if h is None:
                assert t.track_id[i, k] == -1 and np.isnan(t.presence[i, k]) and np.isnan(t.box[i, k]).all()
                continue
            assert t.track_id[i, k] == h.track_id
            assert abs(t.presence[i, k] - h.score) <= SCORE_TOL
            assert abs(t.handedness[i, k] - h.handedness) <= SCORE_TOL
            np.testing.assert_allclose(t.box[i, k], np.asarray(h.box), atol=XY_TOL, rtol=0)


def _write(tmp_path, n=3):
    js, cs = tmp_path / "t.jsonl", tmp_path / "t.csv"
    out = cli.Outputs(None, str(js), str(cs), fps=30.0)
    for i in range(n):
        out.write(i, i * 33.3, _two_hands(i), None)
    out.close()
    return js, cs


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
@pytest.mark.parametrize("keep", [0.1, 0.5, 0.9])
def test_unfinished_last_line_is_left_out_with_a_warning(tmp_path, caplog, fmt, keep):
    """A run stopped mid-write (killed, disk full, power cut) leaves its last line cut short: the
    frames before it read back, the cut line is left out with a warning naming the file and line."""
    js, cs = _write(tmp_path)
    path = js if fmt == "jsonl" else cs
    data = path.read_bytes()
    last = data.rstrip(b"\r\n").rfind(b"\n") + 1           # where the last line starts
    cut = path.with_name("cut." + fmt)
    cut.write_bytes(data[:last + int(keep * (len(data) - last))])
    whole = read_tracks(path)
    with caplog.at_level(logging.WARNING, logger="tracker.io"):
        t = read_tracks(cut)
    assert len(t) == 2
    np.testing.assert_array_equal(t.keypoints, whole.keypoints[:2])
    np.testing.assert_array_equal(t.frame, whole.frame[:2])
    line = 3 if fmt == "jsonl" else 4                       # the CSV's line 1 is its header
    assert str(cut) in caplog.text and f"line {line}" in caplog.text


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_complete_last_line_without_line_break_is_kept(tmp_path, caplog, fmt):
    """Only the line break missing (a file saved by an editor, say): every frame reads back."""
    js, cs = _write(tmp_path)
    path = js if fmt == "jsonl" else cs
    path.write_bytes(path.read_bytes().rstrip(b"\r\n"))
    with caplog.at_level(logging.WARNING, logger="tracker.io"):
        t = read_tracks(path)
    assert len(t) == 3 and t.present.all() and not caplog.text


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_a_broken_line_that_ends_with_a_line_break_is_still_an_error(tmp_path, fmt):
    """Only an unfinished *last* line is forgiven: a cut line followed by a line break (the last
    one or not) is no write cut short, and stays one ValueError naming the file and the line."""
    js, cs = _write(tmp_path)
    path = js if fmt == "jsonl" else cs
    lines = path.read_bytes().splitlines(keepends=True)
    for n in (len(lines) - 1, len(lines) - 2):
        broken = lines.copy()
        broken[n] = broken[n][:len(broken[n]) // 2] + b"\n"
        path.write_bytes(b"".join(broken))
        with pytest.raises(ValueError, match=f"{path.name}, line {n + 1}:"):
            read_tracks(path)


def test_empty_and_header_only_files_are_no_frames(tmp_path):
    """A run that wrote no frame: an empty JSONL and a header-only CSV both read as 0 frames."""
    js, cs = _write(tmp_path, n=0)
    assert js.read_bytes() == b"" and cs.read_text().count("\n") == 1
    for p in (js, cs):
        t = read_tracks(p)
        assert len(t) == 0 and t.keypoints.shape == (0, 34, 3) and t.box.shape == (0, 2, 4)


def test_frames_without_hands_are_nan_in_both_formats(tmp_path):
    js, cs = tmp_path / "t.jsonl", tmp_path / "t.csv"
    out = cli.Outputs(None, str(js), str(cs), fps=30.0)
    out.write(0, 0.0, HandTrackerResult(hands=[]), None)
    out.write(1, 33.3, _two_hands(1), None)
    out.close()
    for p in (js, cs):
        t = read_tracks(p)
        assert np.isnan(t.keypoints[0]).all() and not t.present[0].any() and t.present[1].all()


def test_a_file_that_is_no_track_file_is_still_an_error(tmp_path):
    """A one-line file without a line break that is not a cut record (some other text named .jsonl)
    stays an error rather than an empty Tracks."""
    p = tmp_path / "notes.jsonl"
    p.write_text("frame,t_ms,left_wrist_x", encoding="utf-8")
    with pytest.raises(ValueError, match="line 1: not valid JSON"):
        read_tracks(p)
