"""Session 47 mutation audit of the frame sources and sinks (tracker/video.py, the webcam's
LatestFrameReader left out: session 44) and of the track files (tracker/io.py's readers, the
writers and ``--meta`` in tracker/cli.py): tests that kill hand-made mutants the existing tests
let through.

Each expectation is the documented contract (module and class docstrings, README "Output formats"
and "Command line"), worked out by hand, not copied from the current output. Inputs are made here
in tmp_path (an mp4 written with cv2.VideoWriter, PNG files) or stand in for cv2.VideoCapture.

45 mutants made. 26 were caught by the tests a developer would run for this code
(test_video_inputs, test_video_image_inputs, test_hand_tracker_frame_rate, test_video,
test_io_mutants for video.py; test_io, test_io_track_files, test_io_track_files_fuzz,
test_cli_stopped_outputs, test_cli_outputs_failures, test_cli, test_hand_tracker_describe and
test_io_mutants for the track files). 19 survived them; one of those, V18, is caught by
test_cli_video_fuzz in the whole of tests/tracker (checked here too). Of the other 18, 16 are
killed here and 2 are left. The whole of tests/tracker plus tests/test_examples.py was run against
I5, I6, I8, I16, I17, V12, V13, V25 (all survived it); for lack of time not against V2, V7, V16,
V21, V22, V24, I4, I12, V11, I14 (they survived the narrow sets above).

Mutants killed here:

- V2  ``natural_key`` without the name as tie-break (``frame02`` / ``frame2`` in directory order)
- V7  ``usable_fps`` taking a negative rate for one
- V12 the count of bad frames not reset by a good frame (runs of them added up to "too many")
- V13 ``_ended_early``: a video one frame short of its count, without a rate, warned as stopped
- V16 ``progress``: ``limit`` not the bar's end when the source's length is unknown (0)
- V18 ``VideoSink.write``: a frame of another size not resized to the first's (also caught
  by test_cli_video_fuzz)
- V21 ``FPSMonitor``: a window one tick longer than ``window``
- V22 ``FPSMonitor``: two ticks at the same time divide by zero instead of giving 0
- V24 a single image unreadable by the time it is read: skipped with a warning, not raised
- V25 a container's negative frame count (-1: unknown) kept, so ``len()`` raises
- I4  ``TrackFile``: the whole lines' end counted in characters, not bytes (a failed write cuts
  into the line before when a line has a non-ASCII character, an image name)
- I5  ``Outputs.write``: ``--json -`` not flushed after each frame
- I6  ``Outputs.write``: ``--csv -`` not flushed after each frame
- I8  ``Outputs``: an existing track file not emptied (a longer old one kept its tail)
- I12 ``_number``: 2**63 taken for an int64 (an OverflowError, not the ValueError naming the line)
- I16 ``RunMeta.saw``: ``frame_size`` from the last frame, not the first
- I17 ``check_meta_target``: ``--meta`` and another output compared as strings, not as files

Caught by the existing tests (for the record): V1 digit runs compared as text, V3 hidden files
kept, V4 upper-case extensions left out, V5 image times one frame late, V6 a rate of 1000 taken,
V8 ``image_fps`` 0 accepted, V9 ``size`` as (h, w), V10 a repeated presentation time kept, V14 no
2-frame margin before "stopped early", V15 the bar's end ``max(len, limit)``, V17 the sink's
fallback rate 25, V19 a closed sink writing again, V20 upper-case video extensions refused, V23
grey and BGRA conversions swapped; I1-I3 CSV rounding (x to 0.1, ``t_ms`` to 0.01, scores to
0.01), I7 ``Outputs.frames`` not counted, I9 a tie of the extra hands keeping the later one, I10
and I11 upper-case suffixes refused or read as JSONL, I13 a header with extra columns, I15 the
meta ``completed`` always true, I18 any unfinished last line left out (also one that is no
record), I19 handedness stored as 1 - p, I20 blank CSV rows not skipped.

Left alive:

- V11 ``bad >= MAX_BAD_FRAMES`` for ``>``: whether 25 undecodable frames in a row are tolerated
  or the 25th ends the video; "consecutive undecodable frames after which a video is taken to be
  truncated" reads either way, and no document gives the boundary.
- I14 ``Tracks.image`` only when every frame has an image name (``all`` for ``any``): equivalent
  on the files ``handtrack`` writes, where all or no frames have one; only a hand-mixed file
  differs, and no document says what it gives.
"""
from __future__ import annotations

import errno
import io
import json
import logging
import sys

import cv2
import numpy as np
import pytest

from tracker import cli
from tracker.hand_tracker import HandTrackerResult
from tracker.io import read_tracks
from tracker.video import FPSMonitor, FrameSource, VideoSink, natural_key, progress, usable_fps

from .test_video_inputs import fake_video


def _png(path, value: int = 100, w: int = 32, h: int = 24) -> None:
    assert cv2.imwrite(str(path), np.full((h, w, 3), value, np.uint8))


# == video.py: image folders ======================================================================
def test_names_with_equal_numbers_are_ordered_by_the_name_itself(tmp_path):
    """V2: ``frame02`` and ``frame2`` hold the same number; the name breaks the tie (``frame02``
    first), whatever order they were listed in."""
    names = ["frame2.png", "frame02.png", "frame002.png", "frame1.png"]
    assert sorted(names, key=natural_key) == ["frame1.png", "frame002.png", "frame02.png", "frame2.png"]
    for i, n in enumerate(names):
        _png(tmp_path / n, 10 * i)
    src = FrameSource(tmp_path)
    assert [src.image_name(i) for i, _, _ in src] == ["frame1.png", "frame002.png", "frame02.png", "frame2.png"]


def test_a_single_image_that_cannot_be_read_when_read_raises(tmp_path):
    """V24: a single image that cannot be read raises ValueError naming it, also when it became
    unreadable after the source was made (not a warning and no frames, as in a folder)."""
    p = tmp_path / "photo.png"
    _png(p)
    src = FrameSource(p)
    p.write_bytes(b"no image any more")
    with pytest.raises(ValueError, match="photo.png"):
        list(src)


# == video.py: frame rates and counts ==============================================================
@pytest.mark.parametrize("value", [-30.0, -1e-3, -1000.0])
def test_a_negative_frame_rate_is_no_frame_rate(value):
    """V7: only a rate in (0, 1000) is one."""
    assert usable_fps(value) is None
    assert usable_fps(29.97) == 29.97


def test_a_video_reporting_a_negative_rate_reads_at_30(monkeypatch, tmp_path):
    """V7 through FrameSource: no usable rate -> fps 30, ``fps_reported`` False."""
    path = fake_video(monkeypatch, tmp_path, times=[0.0, 40.0], fps=-25.0, count=2)
    src = FrameSource(path)
    assert src.fps == 30.0 and src.fps_reported is False and src.reported_fps == -25.0


def test_a_negative_frame_count_is_an_unknown_length(monkeypatch, tmp_path):
    """V25: some containers and streams report -1 frames; ``len()`` is then 0 (unknown), and the
    frames are all read."""
    path = fake_video(monkeypatch, tmp_path, times=[0.0, 40.0, 80.0], fps=25.0, count=-1)
    src = FrameSource(path)
    assert len(src) == 0
    assert [i for i, _, _ in src] == [0, 1, 2]


def test_runs_of_unreadable_frames_apart_are_not_added_up(monkeypatch, tmp_path):
    """V12: MAX_BAD_FRAMES (25) counts *consecutive* undecodable frames; two runs of 20 with good
    frames between them are skipped and every good frame is read."""
    fail = [*range(2, 22), *range(25, 45)]          # grab() calls 2-21 and 25-44 fail
    path = fake_video(monkeypatch, tmp_path, times=[40.0 * i for i in range(10)], fps=25.0, count=50, fail=fail)
    frames = list(FrameSource(path))
    assert [i for i, _, _ in frames] == [0, 1, 22, 23, 24, 45, 46, 47, 48, 49]
    assert [t for _, t, _ in frames] == [40.0 * i for i in range(10)]


@pytest.mark.parametrize("run, ends", [(24, False), (27, True)])
def test_a_run_of_unreadable_frames_over_max_bad_frames_ends_the_video(monkeypatch, tmp_path, caplog, run, ends):
    """MAX_BAD_FRAMES (25): a run of 24 frames that cannot be read is skipped and the frames after
    it are read; a run of 27 is taken for the end of a truncated file (one warning says where it
    stopped). Runs of exactly 25 or 26 sit on the boundary V11 leaves open (see above)."""
    fail = range(2, 2 + run)
    path = fake_video(monkeypatch, tmp_path, times=[40.0 * i for i in range(6)], fps=25.0, count=6 + run, fail=fail)
    with caplog.at_level(logging.WARNING, logger="tracker.video"):
        frames = list(FrameSource(path))
    assert [i for i, _, _ in frames] == ([0, 1] if ends else [0, 1, *range(2 + run, 6 + run)])
    assert ("stopped at frame 2 of" in caplog.text) == ends


def test_a_video_one_frame_short_of_its_count_ends_without_a_warning(monkeypatch, tmp_path, caplog):
    """V13: a container's frame count one above the frames read (its last frame, rounding) is the
    end of the file, not a video that stopped early: no "stopped at" warning, also for a video
    that reports no rate (the duration cannot be compared then)."""
    path = fake_video(monkeypatch, tmp_path, times=[40.0 * i for i in range(9)], fps=0.0, count=10)
    with caplog.at_level(logging.WARNING, logger="tracker.video"):
        frames = list(FrameSource(path))
    assert len(frames) == 9
    assert "stopped at" not in caplog.text


def test_the_progress_bar_ends_at_the_limit_when_the_length_is_unknown(monkeypatch, tmp_path):
    """V16: ``limit`` (``--max-frames``) is the bar's end when smaller than the length; a length of
    0 (unknown) is not smaller."""
    path = fake_video(monkeypatch, tmp_path, times=[0.0, 40.0, 80.0], fps=25.0, count=0)
    src = FrameSource(path)
    assert len(src) == 0
    bar = progress(src, enabled=True, limit=5)
    try:
        assert bar.total == 5
    finally:
        bar.close()


# == video.py: the sink ==============================================================================
def test_a_frame_of_another_size_is_resized_to_the_first(tmp_path):
    """V18: "frames of another size are resized to the first's": all four are in the file, each
    the first frame's size."""
    p = tmp_path / "a.mp4"
    with VideoSink(p, 10.0) as sink:
        for v in (40, 80, 120):
            sink.write(np.full((48, 64, 3), v, np.uint8))
        sink.write(np.full((24, 32, 3), 200, np.uint8))
    assert sink.frames == 4 and sink.size == (64, 48)
    cap = cv2.VideoCapture(str(p))
    shapes, means = [], []
    try:
        while True:
            ok, f = cap.read()
            if not ok:
                break
            shapes.append(f.shape)
            means.append(float(f.mean()))
    finally:
        cap.release()
    assert shapes == [(48, 64, 3)] * 4
    assert abs(means[-1] - 200) < 15


# == video.py: FPSMonitor ============================================================================
def test_fps_is_measured_over_the_last_window_ticks():
    """V21: with ``window=3`` the rate is over the last 3 ticks: 1, 1.5, 2 s -> 2 intervals in 1 s."""
    m = FPSMonitor(window=3)
    for t in (0.0, 1.0, 1.5):
        m.tick(t)
    assert m.tick(2.0) == pytest.approx(2.0)


def test_ticks_at_one_time_give_no_rate():
    """V22: ticks with no time between them give 0, not a division by zero."""
    m = FPSMonitor(window=5)
    m.tick(3.0)
    assert m.tick(3.0) == 0.0 and m.fps == 0.0


# == track files: writers ============================================================================
class _Stream(io.StringIO):
    """Standard output stand-in that records what had been flushed at the last ``flush()``."""

    flushed = ""

    def flush(self):
        super().flush()
        self.flushed = self.getvalue()


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_tracks_to_standard_output_are_flushed_frame_by_frame(monkeypatch, fmt):
    """I5, I6: "Output files are written and flushed frame by frame", standard output too
    (``--json -`` / ``--csv -`` feed another program as the frames come)."""
    out = _Stream()
    monkeypatch.setattr(sys, "stdout", out)
    outs = cli.Outputs(None, "-" if fmt == "jsonl" else None, "-" if fmt == "csv" else None, 30.0)
    try:
        for i in range(2):
            outs.write(i, 40.0 * i, HandTrackerResult(hands=[]), None)
            lines = out.getvalue().splitlines()
            assert len(lines) == i + 1 + (fmt == "csv")     # the CSV header first
            assert out.flushed == out.getvalue()
    finally:
        outs.close()


@pytest.mark.parametrize("name", ["old.jsonl", "old.csv"])
def test_an_existing_track_file_is_overwritten_whole(tmp_path, name):
    """I8: "Existing output files are overwritten": a longer old file leaves nothing behind."""
    p = tmp_path / name
    p.write_text("stale line of an earlier run\n" * 50, encoding="utf-8")
    outs = cli.Outputs(None, str(p) if name.endswith("jsonl") else None,
                       str(p) if name.endswith("csv") else None, 30.0)
    outs.write(0, 0.0, HandTrackerResult(hands=[]), None)
    outs.close()
    assert "stale" not in p.read_text(encoding="utf-8")
    t = read_tracks(p)
    assert t.frame.tolist() == [0] and not t.present.any()


def test_a_failed_write_cuts_back_to_the_last_whole_line_in_bytes(tmp_path):
    """I4: a write that fails part way leaves the file holding the whole lines before it, counted
    in bytes: a line with a non-ASCII character (an image name) is kept whole."""
    p = tmp_path / "t.jsonl"
    f = cli.TrackFile(p)
    f.write('{"image":"José.png"}\n')
    f.write('{"image":"Zoë.png"}\n')
    real = f._f

    class Failing:
        """Takes 5 bytes of the next line, then the disk is full."""

        calls = 0

        def write(self, data):
            self.calls += 1
            if self.calls == 1:
                return real.write(bytes(data[:5]))
            raise OSError(errno.ENOSPC, "No space left on device")

        def __getattr__(self, name):
            return getattr(real, name)

    f._f = Failing()
    with pytest.raises(OSError):
        f.write('{"image":"third.png"}\n')
    f._f = real
    f.close()
    assert p.read_bytes().decode("utf-8") == '{"image":"José.png"}\n{"image":"Zoë.png"}\n'


# == track files: reader =============================================================================
def test_a_frame_number_beyond_int64_is_malformed_input(tmp_path):
    """I12: ``frame`` is an int64; 2**63 is one past it: the ValueError naming the file and the
    line, while 2**63 - 1 reads."""
    p = tmp_path / "t.jsonl"
    p.write_text(json.dumps({"frame": 2 ** 63 - 1, "t_ms": 0.0, "hands": []}) + "\n", encoding="utf-8")
    assert read_tracks(p).frame.tolist() == [2 ** 63 - 1]
    p.write_text(json.dumps({"frame": 2 ** 63, "t_ms": 0.0, "hands": []}) + "\n", encoding="utf-8")
    with pytest.raises(ValueError) as e:
        read_tracks(p)
    assert str(p) in str(e.value) and "line 1" in str(e.value)


# == --meta ==========================================================================================
def test_meta_frame_size_is_the_first_frames(tmp_path):
    """I16: ``frame_size``: "[w, h] pixels of the first frame" (images of a folder differ)."""
    p = tmp_path / "run.json"
    meta = cli.RunMeta(str(p), ["handtrack", "video", "photos"], "photos", None)
    meta.saw(np.zeros((10, 20, 3), np.uint8))
    meta.saw(np.zeros((30, 40, 3), np.uint8))
    assert meta.finish(2, True)
    assert json.loads(p.read_text(encoding="utf-8"))["frame_size"] == [20, 10]


def test_meta_naming_another_outputs_file_by_another_path_is_refused(tmp_path):
    """I17: ``--meta`` cannot be "a file that another output writes", whatever the spelling of its
    path (``sub/../a.json`` is ``a.json``)."""
    (tmp_path / "sub").mkdir()
    with pytest.raises(cli.UsageError, match="--json writes the same file"):
        cli.check_meta_target(str(tmp_path / "a.json"), {"--json": str(tmp_path / "sub" / ".." / "a.json")})
    cli.check_meta_target(str(tmp_path / "a.json"), {"--json": str(tmp_path / "b.json")})
