"""What the runtime's annotations promise (tracker/ ships py.typed, so users' type checkers trust
them) holds at run time: attributes a checker sees exist on every path, and the path arguments take
any os.PathLike, as validate() and the error messages say."""
from __future__ import annotations

import json
import os

import cv2
import numpy as np

from tracker.io import read_tracks
from tracker.video import FrameSource, VideoSink


class OtherPath(os.PathLike):
    """An os.PathLike that is no pathlib.Path (os.DirEntry, a project's own path type)."""

    def __init__(self, path) -> None:
        self.path = os.fspath(path)

    def __fspath__(self) -> str:
        return self.path


def test_frame_source_size_exists_for_every_input(tmp_path):
    # ``size`` was set only for videos: a checker typed it tuple[int, int] for all inputs, and
    # FrameSource(folder).size raised AttributeError
    folder = tmp_path / "frames"
    folder.mkdir()
    cv2.imwrite(str(folder / "a.png"), np.zeros((12, 20, 3), np.uint8))
    assert FrameSource(folder).size is None
    assert FrameSource(folder / "a.png").size is None
    video = tmp_path / "v.mp4"
    with VideoSink(video, fps=10) as sink:
        for _ in range(3):
            sink.write(np.zeros((48, 64, 3), np.uint8))
    size = FrameSource(video).size
    assert size == (64, 48) and all(type(v) is int for v in size)


def test_read_tracks_takes_any_pathlike(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_text(json.dumps({"frame": 0, "t_ms": 0.0, "hands": []}) + "\n", encoding="utf-8")
    tracks = read_tracks(OtherPath(path))
    assert len(tracks) == 1 and tracks.source == path


def test_video_sink_fps_none_is_no_rate(tmp_path):
    # documented ("30 when it is no frame rate: 0, None, ...") and now annotated float | None
    assert VideoSink(tmp_path / "v.mp4", fps=None).fps == 30.0
