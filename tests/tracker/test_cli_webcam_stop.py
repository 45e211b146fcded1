"""``handtrack webcam`` when the camera stops mid-session (audit, session 40).

A camera or stream that stopped delivering frames after some were tracked (a USB camera pulled
out, an IP camera's stream dropped, a ``read()`` that hung past the timeout) ended the command
with a warning, exit status 0 and ``"completed": true`` in ``--meta``: exactly what a session the
user ended with q/Esc or ``--max-frames`` gives, so a supervisor (systemd, a shell loop) could not
tell that the camera was lost. The outputs are still finished as before; the command now ends
with one error line and status 1, and ``--meta`` says ``"completed": false``. Fake cameras and a
fake tracker only; no window is ever opened."""
from __future__ import annotations

import json
import logging

import cv2
import pytest

from tracker import cli

from .test_cli_webcam import _frames_in
from .test_video_live_capture import FakeCamera, SlowTracker, webcam  # noqa: F401 - webcam: a fixture used by name

READERS = [pytest.param([], id="newest-frame"), pytest.param(["--every-frame"], id="every-frame")]


class DescribedTracker(SlowTracker):
    """A SlowTracker that ``--meta`` can describe."""

    def describe(self) -> dict:
        return {"tracker": "fake"}


def _no_window(monkeypatch, camera, tracker, args):
    """``handtrack webcam --no-window ARGS`` on ``camera`` and ``tracker``; its exit status."""
    monkeypatch.setattr(cv2, "namedWindow", lambda *a: pytest.fail("a window was opened"))
    monkeypatch.setattr(cv2, "imshow", lambda *a: pytest.fail("a window was opened"))
    monkeypatch.setattr(cv2, "VideoCapture", lambda source: camera)
    monkeypatch.setattr(cli, "build_tracker", lambda a, mirrored: tracker)
    return cli.main(["webcam", "--no-window", *args])


def _tracked(n: int) -> str:
    return f"{n} tracked frame{'' if n == 1 else 's'}"


def _read(path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("extra", READERS)
def test_a_camera_that_stops_mid_session_is_exit_1_with_outputs_intact(monkeypatch, tmp_path, capsys, caplog, extra):
    cam = FakeCamera(n=9, interval=0.002)
    tracker = DescribedTracker(0.0)
    js, cs, rec, meta = (tmp_path / n for n in ("t.jsonl", "t.csv", "rec.mp4", "run.json"))
    with caplog.at_level(logging.WARNING, logger="handtrack"):
        rc = _no_window(monkeypatch, cam, tracker, [*extra, "--json", str(js), "--csv", str(cs), "-o", str(rec),
                                                   "--meta", str(meta)])
    out, err = capsys.readouterr()
    n = len(tracker.frames)
    assert rc == 1, err
    assert n >= 1 and tracker.frames[-1] == 8                # tracked up to the camera's last frame
    if extra:
        assert tracker.frames == list(range(1, 9))           # frame 0 is the open check's
    # every output finished, holding every tracked frame
    rows = [json.loads(x) for x in js.read_text().splitlines()]
    assert [r["frame"] + 1 for r in rows] == tracker.frames
    assert len(cs.read_text().splitlines()) == 1 + n
    assert _frames_in(rec) == rows[-1]["frame"] - rows[0]["frame"] + 1
    m = _read(meta)
    assert m["completed"] is False and m["frames"] == n and m["finished"] is not None
    # the summary as before, then one error line, said once
    assert f"{n} frames tracked" in out
    said = [x for x in err.splitlines() if "stopped delivering" in x]
    assert said == ["handtrack: error: --camera 0: the camera stopped delivering frames after "
                    f"{_tracked(n)} (outputs kept)"] and err.splitlines()[-1] == said[0]
    assert "stopped delivering" not in caplog.text
    assert cam.released == 1


@pytest.mark.parametrize("extra", READERS)
def test_the_error_line_follows_the_summary_when_tracks_stream_to_stdout(monkeypatch, capsys, extra):
    """``--json -``: the summary goes to stderr, and the error line is the last line there."""
    cam = FakeCamera(n=5)
    tracker = SlowTracker(0.0)
    url = "rtsp://admin:s3cret@10.0.0.5:554/live"
    rc = _no_window(monkeypatch, cam, tracker, [*extra, "--camera", url, "--json", "-"])
    out, err = capsys.readouterr()
    n = len(tracker.frames)
    assert rc == 1
    assert len(out.splitlines()) == n                        # stdout: the JSON lines only
    lines = err.splitlines()
    assert lines[-2].startswith(f"{n} frames tracked")
    assert lines[-1] == ("handtrack: error: --camera rtsp://admin:***@10.0.0.5:554/live: the camera stopped "
                         f"delivering frames after {_tracked(n)} (outputs kept)")
    assert "s3cret" not in err


@pytest.mark.parametrize("extra", READERS)
def test_a_window_session_without_outputs_whose_camera_stops_is_exit_1(webcam, capsys, extra):  # noqa: F811
    cam = FakeCamera(n=5)
    rc, tracker = webcam.run(cam, 0.0, extra)
    out, err = capsys.readouterr()
    n = len(tracker.frames)
    assert rc == 1 and n >= 1 and f"{n} frames tracked" in out
    said = [x for x in err.splitlines() if "stopped delivering" in x]
    assert said == [f"handtrack: error: --camera 0: the camera stopped delivering frames after "
                    f"{_tracked(n)}"] and err.splitlines()[-1] == said[0]
    assert cam.released == 1 and webcam.windows_closed == 1


@pytest.mark.parametrize("extra", READERS)
@pytest.mark.parametrize("keys, visible", [([-1, -1, ord("q")], 1.0), ([-1, 27], 1.0), ([], 0.0)],
                         ids=["q", "Esc", "window closed"])
def test_the_user_ending_the_session_is_still_exit_0_and_completed(webcam, monkeypatch, tmp_path, capsys,  # noqa: F811
                                                                    extra, keys, visible):
    cam = FakeCamera(n=None, interval=0.001)
    tracker = DescribedTracker(0.0)
    monkeypatch.setattr(cli, "build_tracker", lambda a, mirrored: tracker)
    monkeypatch.setattr(cv2, "getWindowProperty", lambda *a: visible)
    meta = tmp_path / "run.json"
    webcam.keys = list(keys)
    monkeypatch.setattr(cv2, "VideoCapture", lambda source: cam)
    rc = cli.main(["webcam", *extra, "--meta", str(meta)])
    out, err = capsys.readouterr()
    n = len(tracker.frames)
    assert rc == 0 and n == max(len(keys), 1), err
    assert "error" not in err and f"{n} frames tracked" in out
    m = _read(meta)
    assert m["completed"] is True and m["frames"] == n


@pytest.mark.parametrize("extra, n_camera, limit", [
    pytest.param([], None, 5, id="newest-frame"),
    pytest.param(["--every-frame"], None, 5, id="every-frame"),
    # frame 0 is the open check's: this camera has 5 to track, then none (the limit comes first)
    pytest.param(["--every-frame"], 6, 5, id="every-frame, camera ending at the limit"),
])
def test_max_frames_reached_is_still_exit_0_and_completed(monkeypatch, tmp_path, capsys, extra, n_camera, limit):
    cam = FakeCamera(n=n_camera, interval=0.002)
    tracker = DescribedTracker(0.0)
    js, meta = tmp_path / "t.jsonl", tmp_path / "run.json"
    rc = _no_window(monkeypatch, cam, tracker, [*extra, "--json", str(js), "--meta", str(meta),
                                                "--max-frames", str(limit)])
    out, err = capsys.readouterr()
    n = len(tracker.frames)
    assert rc == 0, err
    assert n == limit and "error" not in err and f"{n} frames tracked" in out
    m = _read(meta)
    assert m["completed"] is True and m["frames"] == n == len(js.read_text().splitlines())
