"""Frame sources and sinks: video files, images, folders of images, mp4 writer, FPS monitor.

``LatestFrameReader(capture)`` reads a live camera in a background thread and hands out only the
newest frame, so a tracker slower than the camera shows the present rather than a queue of old
frames.

``iter_frames(path)`` yields ``(index, t_ms, frame_bgr)`` for a video file, a single image, or a
folder of images (sorted by name, numbers in names by value: ``frame2.png`` before
``frame10.png``; hidden ``.*`` files left out; read at ``image_fps``). Videos and photos are read
with OpenCV, which applies the rotation stored in the file (portrait phone clips and photos with
an EXIF orientation come out upright; the frames, the track coordinates and an annotated video
are all in that upright frame). A frame that can't be decoded in the middle of a video is skipped
with a logged warning (one per run of such frames); a truncated video ends where it can no longer
be read, with one warning; a file that is missing, unreadable or has no decodable frame raises
``FileNotFoundError`` / ``ValueError`` naming it.
"""
from __future__ import annotations

import errno
import logging
import os
import queue
import re
import threading
import time
import weakref
from collections import deque
from pathlib import Path
from typing import Generator, Iterator

import cv2
import numpy as np

from .checks import check_flag

log = logging.getLogger(__name__)

IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}
VIDEO_EXTS = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv"}

#: OpenCV's file reader, bound at import: a VideoSink reads its own file back with it, whatever
#: stands in for cv2.VideoCapture later (a fake camera in a test of the webcam command)
_READ_BACK = cv2.VideoCapture

#: Consecutive undecodable frames after which a video is taken to be truncated (ends there).
MAX_BAD_FRAMES = 25


def natural_key(name: str) -> tuple:
    """Sort key of a file name with its digit runs compared as numbers (``frame2`` before
    ``frame10``, as file managers list them; zero-padded names keep their order); the name itself
    breaks ties (``frame02`` before ``frame2``)."""
    parts = re.split(r"(\d+)", name)
    return tuple(int(t) if i % 2 else t for i, t in enumerate(parts)), name


def read_image_file(path: str | os.PathLike, flags: int = cv2.IMREAD_COLOR) -> np.ndarray | None:
    """The image file at ``path`` decoded as ``cv2.imread(path, flags)`` decodes it (the same array:
    HxWx3 uint8 BGR for the default flags, the EXIF orientation applied), or None, as imread gives,
    when it cannot be read or decoded (missing, a folder, empty, not an image).

    Python reads the bytes and OpenCV only decodes them: on Windows cv2.imread takes the path as a
    narrow ``char*`` and cannot open a name with a character outside the ANSI code page
    (``C:\\Users\\José``, opencv#4292); Python opens any path. (``open().read()`` rather than
    ``np.fromfile``: the same bytes; on hands21 within 1% of cv2.imread's time, np.fromfile 3% slower.)
    """
    try:
        with open(path, "rb") as f:
            data = f.read()
    except (OSError, ValueError):    # missing, a folder, no permission; ValueError: a NUL in the path
        return None
    if not data:                     # imdecode asserts on an empty buffer where imread gives None
        return None
    try:
        return cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    except cv2.error:                # a decoder that throws: imread logs it and gives None
        return None


def write_image_file(path: str | os.PathLike, image: np.ndarray, params=()) -> bool:
    """Write ``image`` to ``path`` as ``cv2.imwrite(path, image, params)`` does (the format from the
    extension, same bytes): True when written; False when the file cannot be written (no such
    folder, no permission, a full disk) or the encoder refuses the image. An extension OpenCV has
    no encoder for, or an empty image, raises ``cv2.error`` as imwrite does. Any path works on
    Windows too (see :func:`read_image_file`)."""
    ok, buf = cv2.imencode(os.path.splitext(os.fspath(path))[1], image, list(params))
    if not ok:
        return False
    try:
        buf.tofile(path)
    except (OSError, ValueError):
        return False
    return True


def _read_image(path: Path) -> np.ndarray:
    img = read_image_file(path, cv2.IMREAD_COLOR)
    if img is None or img.size == 0:
        raise ValueError(f"cannot read image {path} (unsupported or corrupt file)")
    return img


def _readable(path: Path) -> bool:
    try:
        _read_image(path)
    except ValueError:
        return False
    return True


def usable_fps(value) -> float | None:
    """A frame rate a video or camera reports (CAP_PROP_FPS) as a float when it is one, in
    (0, 1000); None for what stands for no rate: 0, NaN, or a time base such as 1000."""
    return float(value) if value and np.isfinite(value) and 0 < value < 1000 else None


class FrameSource:
    """Iterable over ``(index, t_ms, frame_bgr)`` with ``len()`` (frame count, estimated for
    videos) and ``fps``. Construction checks that the input exists and can be opened.

    A video's ``fps`` is its CAP_PROP_FPS (``reported_fps``, as read) when that is a rate in
    (0, 1000), else 30 (``fps_reported`` False: files that give no rate report 0 or NaN, some
    report their time base, 1000). Video timestamps are the frames' presentation times (variable
    frame rate kept), so ``fps`` only sets an annotated video's rate and ``--frame-rate auto``.
    ``len()`` is what the container says: for Matroska/WebM an estimate (duration x rate) that
    can be far above the frames of a variable-frame-rate clip; the frames stop where the file
    does, and a warning says so only when that is well before the reported duration. ``size``: a
    video's (width, height) in pixels from its first frame; None for images (each has its own).

    Args:
        path: video file, image file or folder of images.
        image_fps: timestamps for images / folders advance by 1000 / image_fps ms (a number > 0).
    """

    def __init__(self, path: str | os.PathLike, image_fps: float = 30.0) -> None:
        self.path = Path(path)
        if not os.path.exists(self.path):        # os.path: False for a name too long (pathlib raises OSError)
            raise FileNotFoundError(f"input not found: {self.path}")
        try:
            self.image_fps = float(image_fps)
        except (TypeError, ValueError):
            self.image_fps = float("nan")
        if not (np.isfinite(self.image_fps) and self.image_fps > 0):
            raise ValueError(f"image_fps must be a number > 0, got {image_fps!r}")
        self.images: list[Path] | None = None
        self.reported_fps: float | None = None     # a video's CAP_PROP_FPS as read; None for images
        self.fps_reported = True                    # whether ``fps`` is the input's own (images: image_fps)
        self.size: tuple[int, int] | None = None   # on every path: an image input has none, not no attribute
        if self.path.is_dir():
            # hidden files (macOS's ._NAME.jpg companions are no images) are left out
            self.images = sorted((p for p in self.path.iterdir()
                                  if p.suffix.lower() in IMAGE_EXTS and not p.name.startswith(".")),
                                 key=lambda p: natural_key(p.name))
            if not self.images:
                raise ValueError(f"no images ({', '.join(sorted(IMAGE_EXTS))}) in folder {self.path}")
            # one readable image at least, checked here as for a single image: a folder of none
            # failed only after the outputs had been opened (and emptied)
            if not any(_readable(p) for p in self.images):
                raise ValueError(f"no image in folder {self.path} can be read ({len(self.images)} unsupported "
                                 "or corrupt files)")
            self.fps = self.image_fps
            self._count = len(self.images)
        elif self.path.suffix.lower() in IMAGE_EXTS:
            _read_image(self.path)
            self.images = [self.path]
            self.fps = self.image_fps
            self._count = 1
        else:
            cap = cv2.VideoCapture(str(self.path))
            try:
                if not cap.isOpened():
                    raise ValueError(f"cannot open video {self.path} (unsupported, unreadable or corrupt file)")
                ok, frame = cap.read()
                if not ok or frame is None:
                    raise ValueError(f"video {self.path} has no decodable frame (empty or truncated file)")
                fps = cap.get(cv2.CAP_PROP_FPS)
                self.reported_fps = float(fps) if fps is not None else None
                rate = usable_fps(fps)
                self.fps_reported = rate is not None
                self.fps = rate or 30.0
                self._count = max(int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0), 0)
                self.size = (frame.shape[1], frame.shape[0])
            finally:
                cap.release()

    def __len__(self) -> int:
        return self._count

    def image_name(self, index: int) -> str | None:
        """The file name of frame ``index`` when the input is an image or a folder of images (an
        unreadable image is skipped, so indices can have gaps); None for a video."""
        return self.images[index].name if self.images is not None else None

    def __iter__(self) -> Iterator[tuple[int, float, np.ndarray]]:
        if self.images is not None:
            yield from self._iter_images(self.images)
        else:
            yield from self._iter_video()

    def _iter_images(self, images: list[Path]) -> Iterator[tuple[int, float, np.ndarray]]:
        for i, p in enumerate(images):
            try:
                img = _read_image(p)
            except ValueError as e:
                if len(images) == 1:
                    raise
                log.warning("skipped %s", e)
                continue
            yield i, i * 1000.0 / self.fps, img

    def _iter_video(self) -> Iterator[tuple[int, float, np.ndarray]]:
        cap = cv2.VideoCapture(str(self.path))
        if not cap.isOpened():
            raise ValueError(f"cannot open video {self.path}")
        # frames skipped in a row are one warning (a truncated file made one per frame): the run
        # is reported when a frame is read again, or at the end as where the video stopped
        skipped: list[int] = []
        what = "read"
        try:
            index, bad, last_t = 0, 0, -1.0
            total = self._count
            while True:
                ok = cap.grab()
                if not ok:
                    # grab() fails at the end, and on a frame the demuxer can't read. Count on.
                    if what != "read":
                        self._report_skipped(skipped, what)
                    what = "read"
                    skipped.append(index)
                    if total and index < total - 1 and bad < MAX_BAD_FRAMES:
                        bad += 1
                        index += 1
                        continue
                    if self._ended_early(skipped[0], last_t):
                        log.warning("%s: stopped at frame %d of %d (truncated or unreadable)",
                                    self.path, skipped[0], total)
                    skipped.clear()         # else the end of a file whose frame count was high
                    break
                ok, frame = cap.retrieve()
                t = cap.get(cv2.CAP_PROP_POS_MSEC)
                if not t or not np.isfinite(t) or t <= last_t:
                    t = index * 1000.0 / self.fps if index * 1000.0 / self.fps > last_t else last_t + 1.0
                if not ok or frame is None or frame.size == 0:
                    if what != "decoded":
                        self._report_skipped(skipped, what)
                    what = "decoded"
                    skipped.append(index)
                    bad += 1
                    index += 1
                    if bad > MAX_BAD_FRAMES:
                        self._report_skipped(skipped, what)
                        log.warning("%s: too many bad frames, stopping", self.path)
                        break
                    continue
                self._report_skipped(skipped, what)
                bad = 0
                last_t = float(t)
                yield index, float(t), frame
                index += 1
        finally:
            cap.release()

    def _report_skipped(self, skipped: list[int], what: str) -> None:
        """One warning for a run of frames that could not be ``what`` ("read", "decoded"); empties
        ``skipped``."""
        if skipped:
            which = f"frame {skipped[0]}" if len(skipped) == 1 else f"frames {skipped[0]}-{skipped[-1]}"
            log.warning("%s: %s could not be %s; skipped", self.path, which, what)
            skipped.clear()

    def _ended_early(self, stop: int, last_t: float) -> bool:
        """Whether reading stopped at frame ``stop`` (last frame at ``last_t`` ms) well before the
        end the container reports. The frame count is often an estimate (Matroska, WebM: duration x
        rate), far above the frames of a variable-frame-rate clip, so where the container gives a
        rate the last frame's time is compared with the duration (count / rate) instead."""
        if not self._count or stop >= self._count - 1:
            return False
        rate = self.reported_fps
        if rate and np.isfinite(rate) and rate > 0 and last_t >= 0:
            return last_t + 2000.0 / self.fps < self._count * 1000.0 / rate
        return True


def iter_frames(path: str | os.PathLike, image_fps: float = 30.0) -> Iterator[tuple[int, float, np.ndarray]]:
    """Generator of ``(index, t_ms, frame_bgr)``; see :class:`FrameSource`. Errors about the
    input (missing, unreadable) are raised on the first ``next()``."""
    yield from FrameSource(path, image_fps)


def progress(source: FrameSource, enabled: bool = True, desc: str | None = None, limit: int | None = None):
    """Wrap a frame source in a tqdm progress bar (on stderr) when tqdm is available; ``limit``:
    the frames the caller will take at most (``--max-frames``), the bar's end when smaller."""
    if not enabled:
        return source
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover - tqdm is a declared dependency
        return source
    total = len(source) or None
    if limit is not None:
        total = min(total, limit) if total else limit
    return tqdm(source, total=total, desc=desc or Path(source.path).name,
                unit="frame", dynamic_ncols=True, leave=False)


#: containers OpenCV's FFmpeg backend writes with the "mp4v" codec (checked with opencv-python 5.0);
#: .webm and unknown extensions fail, and only when the first frame arrives, so the sink checks up front
VIDEO_EXTENSIONS = (".mp4", ".m4v", ".mov", ".mkv", ".avi")


#: Frames a background :class:`VideoSink` (images an :class:`ImageSink`) holds for its writer
#: thread before ``write`` waits (each a copy: 2.8 MB at 1280x720).
WRITE_AHEAD = 4


def _write_frames(writer, frames: queue.Queue, failed: list) -> None:
    """A background VideoSink's (or ImageSink's) thread: encode the queued frames until None. After
    a failed write it only empties the queue (the caller's ``write`` must never wait on a full one);
    the error goes to ``failed`` for the caller's thread. No reference to the sink, so that an
    unclosed sink can still be collected (and its file finished by :func:`_finish_writes`)."""
    while True:
        frame = frames.get()
        if frame is None:
            return
        if not failed:
            try:
                writer.write(frame)
            except BaseException as e:  # noqa: BLE001 - raised in the caller's thread by write()/close()
                failed.append(e)


def _finish_writes(frames: queue.Queue, thread: threading.Thread) -> None:
    """Let a background VideoSink's (ImageSink's) thread write what is queued, and wait for it
    (close(), or the sink collected or the interpreter leaving without close(): as OpenCV's
    writer finishes its file when it is collected, so does the sink)."""
    frames.put(None)
    thread.join()


class _WriterThread:
    """The background writer thread :class:`VideoSink` and :class:`ImageSink` share: items queued
    for a ``writer`` (its ``write(item)`` encodes one), at most :data:`WRITE_AHEAD` waiting; the
    thread's first error raised in the caller's thread, once."""

    def _init_thread(self) -> None:
        self._queue: queue.Queue | None = None
        self._failed: list[BaseException] = []      # the writer thread's error, raised here
        self._reported = False                      # by a write(): close() does not raise it again
        self._thread: threading.Thread | None = None
        self._finish: weakref.finalize | None = None

    def _raise_failed(self) -> None:
        """Raise the thread's error (every ``write`` after it does)."""
        if self._failed:
            self._reported = True
            raise self._failed[0]

    def _queue_item(self, writer, item, name: str) -> None:
        """Hand ``item`` to the thread (started at the first) that calls ``writer.write(item)``."""
        if self._queue is None:
            self._queue = queue.Queue(maxsize=WRITE_AHEAD)
            self._thread = threading.Thread(target=_write_frames, args=(writer, self._queue, self._failed),
                                            name=name, daemon=True)
            self._thread.start()
            self._finish = weakref.finalize(self, _finish_writes, self._queue, self._thread)
        self._queue.put(item)

    def _stop_thread(self) -> None:
        """Let the thread write what is queued and wait for it (idempotent)."""
        if self._finish is not None:
            self._finish()                  # the queued items written, the thread gone
            self._finish = None
        if self._thread is not None:
            # a close() interrupted (Ctrl-C) in the finaliser's wait finds it spent: the writer
            # is released only once the thread has left it
            self._thread.join()
            self._thread = None

    def _raise_unreported(self) -> None:
        """Raise the thread's error when no ``write`` raised it yet (once)."""
        if self._failed and not self._reported:
            self._reported = True
            raise self._failed[0]


class VideoSink(_WriterThread):
    """mp4 writer as a context manager; the frame size is taken from the first frame.

    The codecs store colour at half resolution: a frame of odd width or height loses its last
    column or row in the file (cropped, not scaled, so drawn coordinates still hold; ``size`` is
    the frames' size), and mp4v refuses a frame 1 pixel wide or high (ValueError, first frame).

    With ``background`` (the default) the frames are encoded in a thread of the sink's own while
    the caller goes on (tracking the next frame): encoding was about a quarter of ``handtrack video
    -o``'s time at 1280x720, and OpenCV's encoder and onnxruntime both release the GIL. The first
    ``write`` still opens the file itself (a refused size is its ValueError); each ``write`` hands
    over a copy (the caller may reuse its array) and waits only while :data:`WRITE_AHEAD` frames are
    queued; ``close`` writes every queued frame first. The file is the one the same frames give
    without the thread.

    Args:
        path: output file (parent folder must exist; with "mp4v" one of :data:`VIDEO_EXTENSIONS`, any case).
        fps: frames per second of the output (30 when it is no frame rate: 0, None, NaN, inf).
        fourcc: codec tag ("mp4v" is always available in opencv-python).
        background: encode in a thread (True) or in ``write`` itself (False).
    """

    def __init__(self, path: str | os.PathLike, fps: float | None = 30.0, fourcc: str = "mp4v",
                 background: bool = True) -> None:
        check_flag("background", background)
        self.path = Path(path)
        if not self.path.parent.exists():
            raise FileNotFoundError(f"output folder does not exist: {self.path.parent}")
        if fourcc == "mp4v" and self.path.suffix.lower() not in VIDEO_EXTENSIONS:
            raise ValueError(f"cannot write video {self.path}: unsupported extension {self.path.suffix!r} "
                             f"(use one of {', '.join(VIDEO_EXTENSIONS)})")
        if self.path.is_dir():
            raise ValueError(f"cannot write video {self.path}: it is a folder")
        # OpenCV's writer opens the file only at the first frame, and then says no more than that
        # it refused the frames: a folder or file the user may not write is named here, up front
        for what, p in (("folder", self.path.parent), ("file", self.path)):
            if p.exists() and not os.access(p, os.W_OK):
                raise PermissionError(f"cannot write video {self.path}: {what} {p} is not writable")
        # no frame rate (0, None, NaN: cameras report these) -> 30; inf made cv2.VideoWriter loop forever
        self.fps = float(fps) if fps and np.isfinite(fps) and fps > 0 else 30.0
        self.fourcc = fourcc
        self.background = bool(background)
        self._writer: cv2.VideoWriter | None = None
        self._closed = False
        self.size: tuple[int, int] | None = None
        self.frames = 0
        self._init_thread()

    def write(self, frame_bgr: np.ndarray, copy: bool = True) -> None:
        """Append one HxWx3 uint8 BGR frame (grey HxW or HxWx1 and BGRA HxWx4 are converted; frames
        of another size are resized to the first's).

        ``copy``: with the background thread, the sink queues a copy of a frame it was handed as
        it is (the caller may draw the next one into the same array). False hands the array over:
        the caller will not change it again, and the copy is saved (2.8 MB per 1280x720 frame;
        ``handtrack video -o``, which draws each frame into the array it read: ~6% of its time).

        Raises:
            ValueError: a frame of another shape or dtype (OpenCV would drop it silently or fail
                inside), or the sink is closed (a new writer would start the file again).
            The error of an earlier frame's write in the background thread, raised by every
            ``write`` after it (the frames after it are dropped; close() then raises nothing more
            and does not check the file).
        """
        if self._closed:
            raise ValueError(f"cannot write video {self.path}: the sink is closed")
        check_flag("copy", copy)
        self._raise_failed()
        given = frame_bgr
        ok = isinstance(frame_bgr, np.ndarray) and frame_bgr.dtype == np.uint8
        channels = (frame_bgr.shape[2] if frame_bgr.ndim == 3 else 1 if frame_bgr.ndim == 2 else 0) if ok else 0
        if channels not in (1, 3, 4):
            got = (f"{frame_bgr.shape} {frame_bgr.dtype}" if isinstance(frame_bgr, np.ndarray)
                   else type(frame_bgr).__name__)
            raise ValueError(f"frame_bgr must be HxWx3 uint8 BGR (or HxW grey, HxWx4 BGRA), got {got}")
        if channels != 3:
            frame_bgr = cv2.cvtColor(np.ascontiguousarray(frame_bgr),
                                     cv2.COLOR_GRAY2BGR if channels == 1 else cv2.COLOR_BGRA2BGR)
        h, w = frame_bgr.shape[:2]
        if self._writer is None:
            self.size = (w, h)
            # VideoWriter_fourcc is in cv2 at run time but missing from opencv-python's stubs (they
            # have VideoWriter.fourcc, whose TypeError for a bad tag would name itself instead)
            fourcc = cv2.VideoWriter_fourcc(*self.fourcc)  # type: ignore[attr-defined]
            self._writer = cv2.VideoWriter(str(self.path), fourcc, self.fps, self.size)
            if not self._writer.isOpened():
                self._writer = None
                raise ValueError(f"cannot write video {self.path} (codec {self.fourcc} refused {w}x{h} frames)")
        if (w, h) != self.size:
            frame_bgr = cv2.resize(frame_bgr, self.size)
        frame_bgr = np.ascontiguousarray(frame_bgr)
        if not self.background:
            self._writer.write(frame_bgr)
        else:
            # the caller may draw the next frame into the same array before this one is encoded
            self._queue_item(self._writer, frame_bgr.copy() if copy and np.may_share_memory(frame_bgr, given)
                             else frame_bgr, f"VideoSink({self.path.name})")
        self.frames += 1

    def close(self) -> None:
        """Finish the file (idempotent); no frames can be written after.

        Raises:
            OSError: the finished file does not give back its last frame: it could not be written
                completely (a full disk; OpenCV's writer only logs the failed writes, and an mp4
                whose index was not written has no readable frame). The file is left as it is.
            The background thread's error, when no ``write`` raised it yet.
        """
        self._closed = True
        self._stop_thread()
        if self._writer is None:
            return
        self._writer.release()
        self._writer = None
        if self._failed:
            self._raise_unreported()
            return
        if not self._last_frame_readable():
            raise OSError(errno.EIO, f"incomplete: its last frame ({self.frames} of {self.frames}) cannot be read "
                          "back (a full disk?)", str(self.path))

    def _last_frame_readable(self) -> bool:
        """Whether frame ``frames - 1`` of the finished file can be read (a few ms: a seek)."""
        cap = _READ_BACK(str(self.path))
        try:
            return (cap.isOpened() and cap.set(cv2.CAP_PROP_POS_FRAMES, self.frames - 1)
                    and cap.read()[0])
        finally:
            cap.release()

    def __enter__(self) -> "VideoSink":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


#: Encoder settings :class:`ImageSink` uses by file extension. OpenCV writes WebP losslessly by
#: default: 30 ms for a 224x224 photo and 280 ms at 1280x720, against 3.5 and 50 ms at quality 95
#: (session 50, this 2-core VM); 95 is also OpenCV's default JPEG quality.
IMAGE_WRITE_PARAMS: dict[str, tuple[int, ...]] = {".webp": (cv2.IMWRITE_WEBP_QUALITY, 95)}


class ImageWriteError(OSError):
    """An image :class:`ImageSink` could not write (no such folder, no permission, a full disk);
    ``filename`` is its path."""


class _ImageFiles:
    """The writer a background :class:`ImageSink`'s thread calls: ``write((path, image))``."""

    @staticmethod
    def write(item: tuple[Path, np.ndarray]) -> None:
        path, image = item
        params = IMAGE_WRITE_PARAMS.get(path.suffix.lower(), ())
        if not write_image_file(path, image, params):
            raise ImageWriteError(errno.EIO, "cannot write image", str(path))


class ImageSink(_WriterThread):
    """Image files written one by one, as a context manager (``handtrack video PHOTOS/
    --annotated-images``); each file's format comes from its extension, encoded with
    :data:`IMAGE_WRITE_PARAMS`.

    With ``background`` (the default) the images are encoded and written in a thread of the sink's
    own while the caller goes on (tracking the next photo), as :class:`VideoSink` does: 300 hands21
    photos written as WebP took 18 s instead of 4 s of tracking before (lossless), and a 1280x720
    PNG takes 16 ms to encode. Each ``write`` hands over a copy (the caller may reuse its array)
    and waits only while :data:`WRITE_AHEAD` images are queued; ``close`` writes every queued image
    first. The files are the ones ``background=False`` writes.
    """

    def __init__(self, background: bool = True) -> None:
        check_flag("background", background)
        self.background = bool(background)
        self.images = 0
        self._closed = False
        self._init_thread()

    def write(self, path: str | os.PathLike, image: np.ndarray, copy: bool = True) -> None:
        """Write ``image`` (HxWx3 uint8 BGR, or what ``cv2.imencode`` takes) to ``path``.

        ``copy``: as :meth:`VideoSink.write`'s (False: the caller will not change ``image`` again).

        Raises:
            ValueError: the sink is closed, or ``image`` is not a non-empty uint8 array.
            ImageWriteError: the file cannot be written (here, or for an earlier image in the
                background thread: raised by the next ``write`` or by ``close``; the images after
                it are not written).
        """
        if self._closed:
            raise ValueError(f"cannot write image {path}: the sink is closed")
        check_flag("copy", copy)
        self._raise_failed()
        if not (isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.size):
            got = f"{image.shape} {image.dtype}" if isinstance(image, np.ndarray) else type(image).__name__
            raise ValueError(f"cannot write image {path}: expected a non-empty uint8 image, got {got}")
        if not self.background:
            _ImageFiles.write((Path(path), image))
        else:
            self._queue_item(_ImageFiles, (Path(path), image.copy() if copy else image), "ImageSink")
        self.images += 1

    def close(self) -> None:
        """Write what is queued and stop the thread (idempotent); no images can be written after.

        Raises:
            ImageWriteError: the background thread's error, when no ``write`` raised it yet.
        """
        self._closed = True
        self._stop_thread()
        self._raise_unreported()

    def __enter__(self) -> "ImageSink":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class FPSMonitor:
    """Frames per second over a sliding window of the last ``window`` ticks."""

    def __init__(self, window: int = 30) -> None:
        self._t: deque[float] = deque(maxlen=max(int(window), 2))

    def tick(self, t: float | None = None) -> float:
        """Record one frame (``t`` in seconds, default now); returns the current fps."""
        self._t.append(time.perf_counter() if t is None else float(t))
        return self.fps

    @property
    def fps(self) -> float:
        """Frames per second over the window's ticks; 0.0 before two ticks, or when they share one time."""
        if len(self._t) < 2 or self._t[-1] <= self._t[0]:
            return 0.0
        return (len(self._t) - 1) / (self._t[-1] - self._t[0])


#: Seconds a live capture may go without delivering a frame before it is taken to have stopped
#: (both ways ``handtrack webcam`` reads a camera; a camera delivers one every 1/fps s).
FRAME_TIMEOUT_S = 5.0

#: Seconds :func:`open_camera` waits for a camera to open and deliver its first frame. Longer
#: than OpenCV's own FFmpeg open timeout (30 s), so that a stream FFmpeg would still open or give
#: up on is left to it, with room for the first frame after a slow open; an open that has not
#: returned by then is stuck in a backend without such a timeout (V4L2, GStreamer, a stalled USB
#: camera) and would never return.
CAMERA_OPEN_TIMEOUT_S = 40.0

#: Seconds ``close()`` waits for a capture thread to leave a hung ``read()``.
_LEAVE_READ_S = 2.0


def _leave_read(thread: threading.Thread | None, name: str) -> None:
    """Wait for a capture ``thread`` to leave its current ``read()`` (a camera returns one within
    a frame interval), at most :data:`_LEAVE_READ_S`; the capture is released after this, and
    releasing under a running read() is not safe with every OpenCV backend."""
    if thread is not None and thread.is_alive() and thread is not threading.current_thread():
        thread.join(timeout=_LEAVE_READ_S)
        if thread.is_alive():
            log.warning("%s: capture thread still in read() after 2 s; releasing anyway", name)


class _FramesInOrder:
    """The iterator :func:`frames_in_order` returns (see there)."""

    def __init__(self, capture, clock, timeout: float | None, name: str) -> None:
        self._cap, self._clock, self._timeout, self.name = capture, clock, timeout, name
        self._asked = threading.Semaphore(0)    # one per frame asked for: the thread reads one
        self._results: queue.SimpleQueue = queue.SimpleQueue()
        self._waiting = False                   # a read asked for whose result is not taken yet
        self._ended = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._t0 = 0.0
        self._index = 0

    def _run(self) -> None:
        try:
            while True:
                self._asked.acquire()
                if self._stop.is_set():
                    return
                ok, frame = self._cap.read()
                self._results.put((ok, frame, self._clock()))
                if not ok or frame is None:
                    return
        except BaseException as e:  # noqa: BLE001 - handed to the consumer's thread by __next__
            self._results.put(e)

    def __iter__(self) -> "_FramesInOrder":
        return self

    def __next__(self) -> tuple[int, float, np.ndarray]:
        if self._ended:
            raise StopIteration
        if self._thread is None:
            self._t0 = self._clock()
            self._thread = threading.Thread(target=self._run, name=f"frames_in_order({self.name})", daemon=True)
            self._thread.start()
        if not self._waiting:
            # read only when asked: no frame is taken from the driver's queue ahead of the consumer
            self._waiting = True
            self._asked.release()
        try:
            # waits here rather than in OpenCV's read(), which lets no Ctrl-C or SIGTERM in
            item = self._results.get(timeout=self._timeout)
        except queue.Empty:
            log.warning("%s: no frame within %.1f s", self.name, self._timeout)
            self.close(wait=False)
            raise StopIteration from None
        self._waiting = False
        if isinstance(item, BaseException):
            self._ended = True
            raise item
        ok, frame, t = item
        if not ok or frame is None:
            self._ended = True
            raise StopIteration
        index, self._index = self._index, self._index + 1
        return index, 1000.0 * (t - self._t0), frame

    def close(self, wait: bool = True) -> None:
        """Stop the helper thread (idempotent); ``wait``: for it to leave a ``read()`` in progress,
        up to 2 s. The capture is not released: that is the caller's, after this."""
        self._ended = True
        self._stop.set()
        self._asked.release()                   # a thread waiting to be asked leaves at once
        if wait:
            _leave_read(self._thread, self.name)


def frames_in_order(capture, clock=time.perf_counter, timeout: float | None = FRAME_TIMEOUT_S,
                    name: str = "camera") -> _FramesInOrder:
    """``(index, t_ms, frame)`` for every frame of a live ``capture`` (``read() -> (ok, frame)``)
    in order, none dropped, until it returns no frame; ``t_ms`` is the time the read returned in
    ms since the first frame was asked for. The counterpart of :class:`LatestFrameReader` for
    ``handtrack webcam --every-frame``.

    The capture is read in a helper thread, one ``read()`` per frame asked for (nothing is read
    ahead: frames wait in the driver's queue, as in a plain ``read()`` loop), so that a camera or
    stream that hangs cannot hang the caller: when no frame comes within ``timeout`` seconds
    (None: wait for ever) the frames end with a logged warning naming ``name``, as they do when
    the capture ends, and Ctrl-C / SIGTERM are handled while waiting. An exception raised by
    ``read()`` is raised to the consumer.

    Returns an iterator with ``close()``: call it before releasing the capture (it stops the
    thread and waits up to 2 s for a hung ``read()`` to return); the caller releases the capture.
    """
    return _FramesInOrder(capture, clock, timeout, name)


def open_camera(source, timeout: float | None = CAMERA_OPEN_TIMEOUT_S,
                name: str = "camera") -> tuple["cv2.VideoCapture", np.ndarray | None]:
    """Open a live ``source`` (what ``cv2.VideoCapture`` takes: a camera index, a device file, a
    stream URL) and read its first frame, in a helper thread, so that a camera or stream that hangs
    in the open or the first ``read()`` cannot hang the caller: Ctrl-C / SIGTERM are handled
    while it is waited for, and after ``timeout`` seconds (None: wait for ever) it is given up.

    Returns ``(capture, frame)``: ``frame`` HxWx3 uint8 BGR, or None when the capture did not open
    or gave no frame; the caller releases the capture in both cases. An exception raised by the
    open or the read is raised here (the capture, if made, released).

    Raises:
        TimeoutError: nothing within ``timeout`` s; the message names ``name`` and the time. The
            helper thread (a daemon) is left in the call that hangs: releasing a capture under a
            running call is not safe, so the helper releases it itself if that call ever returns.
    """
    lock = threading.Lock()             # orders the helper's hand-over against the caller giving up
    arrived = threading.Event()
    outcome: list = []                  # the helper's (capture, frame) or exception
    given_up = False

    def open_and_read() -> None:
        cap = None
        got: tuple[cv2.VideoCapture, np.ndarray | None] | BaseException
        try:
            cap = cv2.VideoCapture(source)
            ok, frame = cap.read() if cap.isOpened() else (False, None)
            got = (cap, frame if ok else None)
        except BaseException as e:  # noqa: BLE001 - handed to the caller's thread
            if cap is not None:
                try:
                    cap.release()
                except Exception:  # noqa: BLE001
                    pass
            got = e
        with lock:
            orphaned = given_up
            if not orphaned:
                outcome.append(got)
        if orphaned and isinstance(got, tuple):
            got[0].release()            # the caller has gone: nobody else will release it
        arrived.set()

    def give_up():
        nonlocal given_up
        with lock:
            given_up = not outcome
            return outcome[0] if outcome else None

    threading.Thread(target=open_and_read, name=f"open_camera({name})", daemon=True).start()
    try:
        # waits here rather than in OpenCV's call, which lets no Ctrl-C or SIGTERM in
        arrived.wait(timeout)
        got = give_up()
    except BaseException:
        got = give_up()
        if isinstance(got, tuple):
            got[0].release()
        raise
    if got is None:
        raise TimeoutError(f"{name}: no camera could be opened or read within {timeout:g} s "
                           "(still in OpenCV's open or first read)")
    if isinstance(got, BaseException):
        raise got
    return got


class LatestFrameReader:
    """A live capture read in a background thread; :meth:`read` returns the newest frame only.

    A camera delivers frames at its own rate. When each frame takes longer to track than the
    camera's frame interval, ``cv2.VideoCapture.read()`` hands out frames from the driver's queue
    (V4L2 keeps about four), so what is shown lags behind the scene by that queue, and a
    growing share of what is tracked is old. This reader grabs continuously and keeps only the
    newest frame: frames the consumer did not take in time are dropped (counted in ``dropped``).

    Args:
        capture: an opened capture: ``read() -> (ok, frame)`` and ``release()``
            (``cv2.VideoCapture``). It is read only by this reader's thread from now on, and
            released by :meth:`close`.
        name: what the capture is called in messages (e.g. "--camera 0").
        clock: seconds on a monotonic clock (default ``time.perf_counter``).

    Iterating yields ``(index, t_ms, frame)`` until the capture ends: ``index`` counts the
    frames grabbed (gaps are dropped frames), ``t_ms`` is the time of the grab in milliseconds
    since the reader started (strictly increasing; use it as the tracker's ``timestamp_ms``).

    Raises:
        TypeError: ``capture`` has no ``read()`` and ``release()`` (a camera index or a path:
            open it with ``cv2.VideoCapture`` first). ValueError: its ``isOpened()`` is False
            (it is released).
    """

    def __init__(self, capture, name: str = "camera", clock=time.perf_counter) -> None:
        # checked here: a camera index or path failed in the thread at the first frame (and again
        # in close()), and an unopened capture (no such camera) ended the loop without a word
        if not (callable(getattr(capture, "read", None)) and callable(getattr(capture, "release", None))):
            raise TypeError(f"capture must be an opened capture with read() and release(), such as "
                            f"cv2.VideoCapture(0), got {capture!r:.80}")
        if callable(getattr(capture, "isOpened", None)) and not capture.isOpened():
            capture.release()
            raise ValueError(f"{name}: the capture is not opened (no such camera, or a stream that cannot be read)")
        self.name = name
        self._cap = capture
        self._clock = clock
        self._t0 = clock()
        self._cond = threading.Condition()
        self._latest: tuple[int, float, np.ndarray] | None = None   # not yet handed out
        self._grabbed = 0
        self._last_t = -1.0
        self._ended = False
        self._error: BaseException | None = None
        self._stop = threading.Event()
        self.dropped = 0
        self._thread = threading.Thread(target=self._run, name=f"LatestFrameReader({name})", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                ok, frame = self._cap.read()
                if not ok or frame is None:
                    break
                t = 1000.0 * (self._clock() - self._t0)
                t = max(t, self._last_t + 1e-3)      # strictly increasing even on a coarse clock
                self._last_t = t
                with self._cond:
                    if self._latest is not None:
                        self.dropped += 1
                    self._latest = (self._grabbed, t, frame)
                    self._grabbed += 1
                    self._cond.notify_all()
        except BaseException as e:  # noqa: BLE001 - handed to the consumer's thread by read()
            self._error = e
        finally:
            with self._cond:
                self._ended = True
                self._cond.notify_all()

    @property
    def grabbed(self) -> int:
        """Frames read from the capture so far."""
        return self._grabbed

    def read(self, timeout: float | None = FRAME_TIMEOUT_S) -> tuple[int, float, np.ndarray] | None:
        """The newest frame not handed out before, waiting for one up to ``timeout`` seconds.

        Returns ``(index, t_ms, frame)``, or None when the capture has ended (it returned no
        frame) or delivered nothing within ``timeout``. An exception raised by the capture's
        ``read()`` is raised here.
        """
        with self._cond:
            if not self._cond.wait_for(lambda: self._latest is not None or self._ended, timeout):
                log.warning("%s: no frame within %.1f s", self.name, timeout)
                return None
            item, self._latest = self._latest, None
        if item is None and self._error is not None:
            err, self._error = self._error, None
            raise err
        return item

    def __iter__(self) -> Iterator[tuple[int, float, np.ndarray]]:
        return self.frames()

    def frames(self,
               timeout: float | None = FRAME_TIMEOUT_S) -> Generator[tuple[int, float, np.ndarray], None, None]:
        """:meth:`read` until it gives None, each read waiting up to ``timeout`` seconds."""
        while (item := self.read(timeout)) is not None:
            yield item

    def close(self) -> None:
        """Stop the thread and release the capture (idempotent)."""
        self._stop.set()
        _leave_read(self._thread, self.name)    # the thread leaves after its current read()
        if self._cap is not None:
            self._cap.release()
            self._cap = None

    def __enter__(self) -> "LatestFrameReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
