"""VideoSink's background writer (session 48): the file is the one a sink without the thread
writes, a reused frame array is safe, close() writes what is queued, an error in the thread
is raised in the caller's thread (by the writes after it, else by close()), and a sink that is
never closed still finishes its file."""
from __future__ import annotations

import gc
import threading

import cv2
import numpy as np
import pytest

import tracker.video as video
from tracker.video import VideoSink


def frames_of(n: int, w: int = 96, h: int = 64) -> list[np.ndarray]:
    """``n`` distinct frames: a bar at a new place in each (mp4v keeps it readable)."""
    out = []
    for i in range(n):
        f = np.full((h, w, 3), 40, np.uint8)
        x = 4 + (i * 7) % (w - 20)
        f[8:h - 8, x:x + 12] = (30 * i % 256, 200, 255 - 20 * i % 256)
        out.append(f)
    return out


def read_back(path) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    got = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        got.append(f)
    cap.release()
    return got


def sink_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("VideoSink(")]


class RecordingWriter:
    """Stands in for cv2.VideoWriter: keeps a copy of each frame as write() sees it; write() waits
    for ``gate`` (set from the start unless a test holds it) and raises ``fail_at``'s error."""

    gate = threading.Event()
    fail_at: int | None = None

    def __init__(self, path, fourcc, fps, size):
        self.written: list[np.ndarray] = []
        self.released = False
        RecordingWriter.last = self

    def isOpened(self):
        return True

    def write(self, frame):
        assert self.gate.wait(10), "the test never opened the gate"
        assert not self.released, "write() after release()"
        if self.fail_at is not None and len(self.written) == self.fail_at:
            raise OSError(28, "No space left on device")
        self.written.append(frame.copy())

    def release(self):
        self.released = True


@pytest.fixture
def recording(monkeypatch):
    RecordingWriter.gate = threading.Event()
    RecordingWriter.gate.set()
    RecordingWriter.fail_at = None
    monkeypatch.setattr(video.cv2, "VideoWriter", RecordingWriter)
    # the file is not real: the read-back check of close() is another test's subject
    monkeypatch.setattr(VideoSink, "_last_frame_readable", lambda self: True)
    return RecordingWriter


def test_background_file_has_the_frames_of_a_sink_without_the_thread(tmp_path):
    frames = frames_of(12)
    for background in (False, True):
        with VideoSink(tmp_path / f"{background}.mp4", fps=25, background=background) as sink:
            for f in frames:
                sink.write(f)
        assert sink.frames == 12
    a, b = read_back(tmp_path / "False.mp4"), read_back(tmp_path / "True.mp4")
    assert len(a) == len(b) == 12
    for fa, fb in zip(a, b):
        np.testing.assert_array_equal(fa, fb)
    assert not sink_threads()


def test_default_is_background_and_the_option_is_checked(tmp_path):
    assert VideoSink(tmp_path / "a.mp4").background is True
    with pytest.raises(ValueError, match="background must be True or False, got 'yes'"):
        VideoSink(tmp_path / "b.mp4", background="yes")


def test_a_frame_array_reused_by_the_caller_is_written_as_it_was(tmp_path, recording):
    recording.gate.clear()                  # the thread may not encode before the caller changes its array
    sink = VideoSink(tmp_path / "a.mp4")
    buf = np.zeros((48, 64, 3), np.uint8)
    for value in (10, 20, 30):
        buf[:] = value
        sink.write(buf)
    buf[:] = 99
    recording.gate.set()
    sink.close()
    assert [int(f[0, 0, 0]) for f in recording.last.written] == [10, 20, 30]


def test_copy_false_hands_the_array_over_without_a_copy(tmp_path, recording, monkeypatch):
    """``write(frame, copy=False)`` (session 50, ``handtrack video -o``): the writer gets the
    caller's own array, which the caller promised not to change again; the default still copies.
    The files are the same either way."""
    seen = []
    real = RecordingWriter.write

    def spy(self, frame):
        seen.append(frame)
        real(self, frame)

    monkeypatch.setattr(RecordingWriter, "write", spy)
    frames = frames_of(3)
    with VideoSink(tmp_path / "a.mp4") as sink:
        for f in frames:
            sink.write(f, copy=False)
    assert all(a is b for a, b in zip(seen, frames)) and len(seen) == 3
    seen.clear()
    with VideoSink(tmp_path / "b.mp4") as sink:
        for f in frames:
            sink.write(f)
    assert not any(a is b or np.may_share_memory(a, b) for a, b in zip(seen, frames))
    with VideoSink(tmp_path / "c.mp4") as sink, pytest.raises(ValueError, match="copy must be True or False, got 1"):
        sink.write(frames[0], copy=1)


def test_copy_false_writes_the_same_file(tmp_path):
    frames = frames_of(6)
    for copy in (True, False):
        with VideoSink(tmp_path / f"{copy}.mp4", fps=25) as sink:
            for f in frames:
                sink.write(f.copy(), copy=copy)
    for fa, fb in zip(read_back(tmp_path / "True.mp4"), read_back(tmp_path / "False.mp4")):
        np.testing.assert_array_equal(fa, fb)


def test_close_writes_every_queued_frame_before_it_releases(tmp_path, recording):
    recording.gate.clear()
    sink = VideoSink(tmp_path / "a.mp4")
    for f in frames_of(3):                  # fewer than WRITE_AHEAD: none waits, none is written yet
        sink.write(f)
    assert recording.last.written == []
    threading.Timer(0.2, recording.gate.set).start()
    sink.close()
    assert len(recording.last.written) == 3 and recording.last.released
    assert not sink_threads()


def test_a_close_interrupted_in_its_wait_releases_only_after_the_thread_is_done(tmp_path, recording):
    """Ctrl-C in close()'s wait for the thread spends the finaliser; a second close() must still
    wait before it releases the writer (releasing under the encoder can crash OpenCV)."""
    recording.gate.clear()
    sink = VideoSink(tmp_path / "a.mp4")
    sink.write(frames_of(1)[0])
    sink._finish.detach()                   # as after the finaliser ran and its join was interrupted:
    sink._queue.put(None)                   # the end of the frames was queued, nobody waited
    thread = sink._thread
    threading.Timer(0.3, recording.gate.set).start()
    sink.close()
    assert not thread.is_alive()
    assert len(recording.last.written) == 1 and recording.last.released


def test_without_background_write_returns_after_the_frame_is_written(tmp_path, recording):
    sink = VideoSink(tmp_path / "a.mp4", background=False)
    sink.write(frames_of(1)[0])
    assert len(recording.last.written) == 1
    assert not sink_threads()
    sink.close()


def test_write_waits_when_write_ahead_frames_are_queued(tmp_path, recording):
    recording.gate.clear()
    sink = VideoSink(tmp_path / "a.mp4")
    frames = frames_of(video.WRITE_AHEAD + 2)
    done = threading.Event()

    def writer():
        for f in frames:
            sink.write(f)
        done.set()

    t = threading.Thread(target=writer)
    t.start()
    # one frame in the thread's hands, WRITE_AHEAD queued: the last write() waits
    assert not done.wait(0.3)
    recording.gate.set()
    assert done.wait(10)
    t.join()
    sink.close()
    assert len(recording.last.written) == len(frames)


def test_an_error_in_the_thread_is_raised_by_the_writes_after_it(tmp_path, recording):
    recording.fail_at = 1                   # the second frame's write fails
    sink = VideoSink(tmp_path / "a.mp4")
    frames = frames_of(3)
    sink.write(frames[0])
    sink.write(frames[1])
    for _ in range(500):                    # until the thread has met it
        if sink._failed:
            break
        threading.Event().wait(0.01)
    for f in frames[2:] * 2:
        with pytest.raises(OSError, match="No space left"):
            sink.write(f)
    sink.close()                            # raised already: not again
    assert len(recording.last.written) == 1 and recording.last.released
    assert not sink_threads()


def test_after_an_error_the_thread_still_empties_the_queue(tmp_path, recording):
    """A write() waiting on a full queue when the thread fails must not wait for ever."""
    recording.gate.clear()
    recording.fail_at = 0
    sink = VideoSink(tmp_path / "a.mp4")
    done = threading.Event()

    def writer():
        for f in frames_of(video.WRITE_AHEAD + 3):
            try:
                sink.write(f)
            except OSError:
                pass
        done.set()

    t = threading.Thread(target=writer, daemon=True)
    t.start()
    assert not done.wait(0.3)               # waiting on the full queue
    recording.gate.set()
    assert done.wait(10), "write() hung after the thread's error"
    # the write after the one that waited found the error (the thread records it before it takes
    # the next frame): reported, so close() says nothing more
    assert sink._reported
    sink.close()
    assert recording.last.written == [] and recording.last.released


def test_close_raises_the_thread_error_it_finds(tmp_path, recording):
    recording.gate.clear()
    recording.fail_at = 0
    sink = VideoSink(tmp_path / "a.mp4")
    sink.write(frames_of(1)[0])             # queued; fails when the gate opens, after this write
    recording.gate.set()
    with pytest.raises(OSError, match="No space left"):
        sink.close()
    sink.close()


def test_a_sink_never_closed_still_finishes_its_file_when_collected(tmp_path):
    path = tmp_path / "a.mp4"
    sink = VideoSink(path, fps=25)
    for f in frames_of(9):
        sink.write(f)
    del sink
    gc.collect()
    assert len(read_back(path)) == 9
    assert not sink_threads()


def test_a_script_that_ends_without_close_leaves_a_whole_file(tmp_path):
    """As OpenCV's own writer does when the interpreter ends: the thread's queued frames are written."""
    import subprocess
    import sys
    path = tmp_path / "a.mp4"
    script = ("import numpy as np\nfrom tracker.video import VideoSink\n"
              f"s = VideoSink({str(path)!r}, fps=25)\n"
              "for i in range(7):\n    s.write(np.full((64, 96, 3), 30 * i, np.uint8))\n")
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)
    assert len(read_back(path)) == 7
