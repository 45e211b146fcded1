"""``handtrack video``: where the outputs go and what happens when writing them fails (a full disk,
a folder the user cannot write, Ctrl-C): one error line naming the output, and what was written
before stays readable (whole JSONL lines and CSV rows, a playable annotated video).

A full disk is made real with a file size limit (``RLIMIT_FSIZE``, writes past it fail with
EFBIG as they fail with ENOSPC on a full disk) in a child process running the CLI on fake models.
"""
from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from tracker import cli
from tracker.video import VideoSink

from .test_cli import fake_models, small_video  # noqa: F401 - fixtures
from .tracker_fakes import interrupt_process_at

ROOT = Path(__file__).resolve().parents[2]

# the CLI on the fake models of test_cli.fake_models, its output files limited to LIMIT bytes
_RUNNER = """
import resource, signal, sys
sys.path.insert(0, {root!r})
from tests.tracker.tracker_fakes import FakeDetector, FakeLandmarks, Scene, SceneHand, hand_keypoints
from tracker import HandTracker, cli
scene = Scene(noise_px=1.0)
scene.hands = [SceneHand(hand_keypoints(60, 80, 30.0), True),
               SceneHand(hand_keypoints(140, 80, 30.0, right=False), False)]
cli.build_tracker = lambda args, mirrored: HandTracker(
    detector=FakeDetector(scene), landmark_model=FakeLandmarks(scene), max_hands=args.max_hands)
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)   # a write past the limit fails (EFBIG) instead
resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit}))
sys.exit(cli.main(sys.argv[1:]))
"""


def _run_with_file_limit(limit: int, argv: list[str]) -> subprocess.CompletedProcess:
    code = _RUNNER.format(root=str(ROOT), limit=int(limit))
    return subprocess.run([sys.executable, "-B", "-c", code, *argv], capture_output=True, text=True,
                          timeout=120, cwd=ROOT)


@pytest.fixture
def noisy_video(tmp_path):
    """30 frames of noise, 200x120: an annotated video of them is tens of kB per frame."""
    p = tmp_path / "noisy.mp4"
    rng = np.random.default_rng(0)
    with VideoSink(p, fps=30) as sink:
        for _ in range(30):
            sink.write(rng.integers(0, 256, (120, 200, 3), dtype=np.uint8))
    return p


def _error_lines(stderr: str) -> list[str]:
    return [x for x in stderr.splitlines() if x.startswith("handtrack: error:")]


@pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_FSIZE: POSIX only")
def test_a_full_disk_under_the_track_files_names_them_and_keeps_whole_lines(noisy_video, tmp_path):
    js, cs = tmp_path / "t.jsonl", tmp_path / "t.csv"
    p = _run_with_file_limit(9000, ["video", str(noisy_video), "--json", str(js), "--csv", str(cs),
                                    "--no-progress"])
    assert p.returncode == 2, p.stderr
    errors = _error_lines(p.stderr)
    assert len(errors) == 1 and f"--json {js}" in errors[0], p.stderr
    assert "Traceback" not in p.stderr
    text = js.read_text(encoding="utf-8")
    assert text and text.endswith("\n")                       # no cut-off last line
    lines = [json.loads(x) for x in text.splitlines()]
    assert 0 < len(lines) < 30 and [r["frame"] for r in lines] == list(range(len(lines)))
    raw = cs.read_bytes()
    assert raw.endswith(b"\r\n")
    rows = list(csv.reader(raw.decode("utf-8").splitlines()))
    assert rows[0] == cli.csv_header() and all(len(r) == len(rows[0]) for r in rows)
    assert len(rows) - 1 == len(lines)                        # the frames written are in both files


@pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_FSIZE: POSIX only")
def test_a_full_disk_under_the_annotated_video_is_an_error_naming_it(noisy_video, tmp_path):
    """OpenCV's writer only logs the failed writes: the run said it had written an annotated video
    (exit status 0) whose mp4 index was never written, so not one frame of it could be read."""
    out, js = tmp_path / "out.mp4", tmp_path / "t.jsonl"
    p = _run_with_file_limit(60_000, ["video", str(noisy_video), "-o", str(out), "--json", str(js),
                                      "--no-progress"])
    assert p.returncode == 2, p.stderr
    errors = _error_lines(p.stderr)
    assert len(errors) == 1 and f"-o/--output {out}" in errors[0], p.stderr
    assert "annotated video:" not in p.stdout                 # no summary claiming it was written
    assert len(js.read_text(encoding="utf-8").splitlines()) == 30   # the other output is complete


def test_an_annotated_video_into_a_folder_the_user_cannot_write_is_refused_before_any_work(
        fake_models, small_video, tmp_path, monkeypatch, capsys):  # noqa: F811
    """It was refused at the first frame, blaming the codec ("codec mp4v refused 200x120 frames"),
    after the JSONL had been emptied and given a line."""
    locked = tmp_path / "locked"
    locked.mkdir()
    js = tmp_path / "t.jsonl"
    js.write_text("an earlier run's tracks\n", encoding="utf-8")
    access = os.access
    # what the OS answers a user without write permission (root, running these tests, may write anywhere)
    monkeypatch.setattr(os, "access", lambda p, mode, *a, **k: (False if Path(p) == locked and mode & os.W_OK
                                                                else access(p, mode, *a, **k)))
    rc = cli.main(["video", str(small_video), "--json", str(js), "-o", str(locked / "o.mp4"), "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2
    assert err.startswith("handtrack: error: -o/--output") and "not writable" in err and str(locked) in err
    assert "codec" not in err
    assert js.read_text(encoding="utf-8") == "an earlier run's tracks\n"


def test_ctrl_c_mid_run_finishes_every_output_up_to_that_frame(fake_models, small_video, tmp_path,  # noqa: F811
                                                               monkeypatch, capsys):
    interrupt_process_at(monkeypatch, 6)
    out, js, cs = tmp_path / "out.mp4", tmp_path / "t.jsonl", tmp_path / "t.csv"
    rc = cli.main(["video", str(small_video), "-o", str(out), "--json", str(js), "--csv", str(cs), "--no-progress"])
    assert rc == 130
    assert capsys.readouterr().err.strip() == "handtrack: interrupted"
    assert [json.loads(x)["frame"] for x in js.read_text(encoding="utf-8").splitlines()] == [0, 1, 2, 3, 4]
    assert len(list(csv.reader(open(cs, newline="", encoding="utf-8")))) == 1 + 5
    cap = cv2.VideoCapture(str(out))
    n = 0
    while cap.read()[0]:
        n += 1
    cap.release()
    assert n == 5


def test_a_failed_write_of_the_annotated_video_names_it_and_keeps_the_track_files(
        fake_models, small_video, tmp_path, monkeypatch, capsys):  # noqa: F811
    """An OSError from the video writer mid-run (a full disk, a network share gone) was reported as
    "handtrack: error: OSError: ... (run with -v for details)", exit status 1, naming no output."""
    orig = VideoSink.write

    def write(self, frame, copy=True):
        if self.frames == 3:
            raise OSError(28, "No space left on device")
        return orig(self, frame, copy)

    monkeypatch.setattr(VideoSink, "write", write)
    out, js = tmp_path / "out.mp4", tmp_path / "t.jsonl"
    rc = cli.main(["video", str(small_video), "-o", str(out), "--json", str(js), "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2
    assert err.startswith(f"handtrack: error: -o/--output {out}: ") and "No space left on device" in err
    assert len(err.strip().splitlines()) == 1
    assert len(js.read_text(encoding="utf-8").splitlines()) == 4     # the 4th frame's line came first
    cap = cv2.VideoCapture(str(out))
    assert cap.isOpened() and int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 3
    cap.release()


def test_two_outputs_whose_names_differ_in_case_are_one_file_where_case_is_folded(tmp_path, monkeypatch):
    """README: names that differ only in case are refused as outputs of one run where the folder
    ignores case (macOS, Windows); --json T.txt --csv t.txt wrote both formats into one file there."""
    monkeypatch.setattr(cli, "folds_case", lambda folder: True)
    with pytest.raises(cli.UsageError, match="--csv .*t.txt: --json writes the same file"):
        cli.Outputs(None, str(tmp_path / "T.txt"), str(tmp_path / "t.txt"), 30.0)
    assert list(tmp_path.iterdir()) == []
    monkeypatch.setattr(cli, "folds_case", lambda folder: False)   # Linux: two files
    cli.Outputs(None, str(tmp_path / "T.txt"), str(tmp_path / "t.txt"), 30.0).close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["T.txt", "t.txt"]
