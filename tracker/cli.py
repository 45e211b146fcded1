"""``handtrack`` command line: live webcam window, or a video / image / folder of images to
annotated video, JSONL and CSV.

    handtrack webcam [--camera N|DEVICE|URL] [--every-frame] [--no-window] [--json F|-] [--csv F|-] [-o OUT.mp4]
                     [--meta RUN.json] [--open-timeout S] [--frame-timeout S] [--mirror] [--max-hands N]
                     [--device cpu|cuda]
    handtrack video INPUT [-o annotated.mp4] [--json tracks.jsonl] [--csv tracks.csv] [--meta run.json]
                    [--mirror] [--max-hands N] [--device cpu|cuda] [--threads N] [--static]
    handtrack video A.mp4 B.mp4 ... [-o FOLDER] [--json FOLDER] [--csv FOLDER] [--meta FOLDER]
    handtrack video PHOTOS/ --static [--annotated-images FOLDER] [--json photos.jsonl]

Several inputs are tracked one after the other with one set of loaded models, each afresh; an
output option then names a folder and gets one file per input named after it.

``--json -`` / ``--csv -`` stream the tracks to standard output (summaries then go to stderr).
Bad input (missing file, bad option value, no camera, no display) prints one error line and
exits with status 2. Output files are written and flushed frame by frame, so what was written
before an error is kept; Ctrl-C and SIGTERM (``kill``, ``timeout``) stop a run with its outputs
finished, the annotated video included (exit status 130 and 143). A camera that stops
delivering frames mid-session is status 1, after its outputs are finished. ``--meta`` writes what made the
tracks (versions, model files and their sha256, options, input, frames, times; :class:`RunMeta`)
when the run ends, also then.
"""
from __future__ import annotations

import argparse
import contextlib
import csv
import json
import logging
import math
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from .keypoints import KEYPOINT_NAMES

log = logging.getLogger("handtrack")

EXIT_USAGE = 2
#: exit status of a run that failed after it started (not a usage error), e.g. a camera that
#: stopped delivering frames mid-session: a supervisor restarting the tracker can tell it from a quit (0)
EXIT_FAILURE = 1
#: exit status after the reader of standard output went away (128 + SIGPIPE, as a shell tool killed by it)
EXIT_BROKEN_PIPE = 141


def file_key(path: str | Path) -> tuple[int, int] | Path:
    """What identifies the file ``path`` names, for "is this output one of the inputs?": its device
    and inode when it exists, so that a hard link or another name of the same file compares equal
    (as ``os.path.samefile``; comparing resolved paths misses hard links), else its resolved path
    (an output not written yet, which can only clash with another output)."""
    p = Path(path)
    try:
        st = p.stat()
    except OSError:
        return p.resolve()
    return (st.st_dev, st.st_ino)


def output_key(path: str | Path) -> tuple[int, int] | Path:
    """:func:`file_key` of an output, case-folded for a file not written yet in a folder that
    ignores case (``T.jsonl`` and ``t.jsonl`` are one new file there): two outputs with equal keys
    would write one file."""
    key = file_key(path)
    if isinstance(key, Path) and folds_case(key.parent):
        key = Path(str(key).casefold())
    return key


def folds_case(folder: str | Path) -> bool:
    """Whether file names in ``folder`` ignore case (``a.png`` and ``A.png`` are one file), as on
    macOS and Windows by default and on FAT/exFAT drives anywhere: a probe file is made there and
    looked up by its upper-case name, then removed. Where no probe can be made, the platform's
    default is assumed."""
    import tempfile
    try:
        fd, probe = tempfile.mkstemp(prefix=".handtrack-case-", dir=folder)
    except OSError:
        return sys.platform in ("darwin", "win32")
    os.close(fd)
    try:
        return os.path.exists(os.path.join(folder, os.path.basename(probe).upper()))
    finally:
        os.unlink(probe)


def refuse_overwrite(src: str | Path, dst: str | Path, opt: str, what: str = "the input") -> None:
    """Raise ValueError when output ``dst`` is the input ``src`` (the input would be lost)."""
    if file_key(dst) == file_key(src):
        raise ValueError(f"{opt} {dst}: would overwrite {what}; give another file name")


def temporary_beside(out: str | Path, tag: str) -> Path:
    """A hidden name in ``out``'s folder for a file written before it becomes ``out``: of this
    process and ``out`` only, so that it never names an input (``m.pre.onnx``) or another run's file."""
    out = Path(out)
    return out.with_name(f".{out.name}.{os.getpid()}.{tag}")


def write_replacing(path: str | Path, write) -> None:
    """``write(tmp)`` to a temporary file beside ``path``, then renamed over ``path``: a failed
    write (a full disk, a kill, any exception) keeps an earlier ``path`` and leaves no partial file.
    Shared by the training checkpoints and the exported model files."""
    tmp = temporary_beside(path, "tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)   # a full disk: give back the space of the partial file
        raise


def new_folders(out: str | Path) -> list[Path]:
    """The folders above ``out`` that do not exist yet, nearest first: those writing ``out`` makes
    (:func:`remove_new_folders` takes them away again after a run that failed)."""
    missing = []
    for parent in Path(out).parents:
        if os.path.lexists(parent):    # os.path: False, not an error, for a folder it cannot look into
            break
        missing.append(parent)
    return missing


def remove_new_folders(folders: list[Path]) -> None:
    """Remove ``folders`` (:func:`new_folders`, nearest first) while they are empty, so that a run
    refused or failed leaves no folder it made (the exports' ``-o``, the training loops' ``--out``); a
    folder holding anything is kept, and so are those above it."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:
            return


def output_clash(outputs: list[tuple[str, str | None]], inputs: list[tuple[str, str | None]]) -> str | None:
    """The complaint about the first output file (option, path) that is one of the ``inputs`` or an
    earlier output, or None; options given as None are left out. For a CLI's ``ap.error`` before any
    work: outputs written at the end would otherwise replace an input after the whole run."""
    seen = [(opt, file_key(v)) for opt, v in inputs if v]
    for opt, v in outputs:
        if not v:
            continue
        target = file_key(v)
        other = next((o for o, w in seen if w == target), None)
        if other is not None:
            return f"{opt} {v}: is also {other}; give the output its own file name"
        seen.append((opt, target))
    return None


def check_output_path(option: str, path: str | Path, folder: bool = False) -> None:
    """ValueError naming ``option`` and ``path`` unless an output can be written there, for a
    command line to say before its work, not after it (the bench, train/ and export/ tools): not
    an empty name; a file output neither a folder nor a name ending in a path separator (``-o
    new/`` wrote a file named ``new``); a ``folder`` output not a file; and the nearest existing
    folder on its way one this process may write in (``a/b/out.json`` cannot be made under a file
    ``a``). Missing folders on the way are fine: the tools make them."""
    text = str(path)
    what = "folder" if folder else "file"
    if not text.strip():
        raise ValueError(f"{option} {text!r}: an empty path; name the {what} to write")
    if not folder and text.endswith(tuple(sep for sep in (os.sep, os.altsep) if sep)):
        raise ValueError(f"{option} {text}: names a folder (it ends in {text[-1]!r}); give a file name")
    # os.path, not pathlib: False for a name too long, where Path.exists() raises
    if folder and os.path.exists(text) and not os.path.isdir(text):
        raise ValueError(f"{option} {text}: is a file; name the folder to write into")
    if not folder and os.path.isdir(text):
        raise ValueError(f"{option} {text}: is a folder; name the file to write")
    p = Path(os.path.abspath(text))
    parent = p if folder else p.parent
    while not os.path.exists(parent) and parent != parent.parent:
        parent = parent.parent
    if not os.path.isdir(parent):
        raise ValueError(f"{option} {text}: {parent} is a file, not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ValueError(f"{option} {text}: cannot write in {parent} (no permission)")


class UsageError(Exception):
    """Bad input from the user: reported as one line, exit status 2."""


class Terminated(BaseException):
    """SIGTERM arrived (``kill``, ``timeout``, a service manager stopping a recording). Raised in
    the main thread like KeyboardInterrupt, so that the ``finally`` blocks finish the outputs: an
    mp4 left unfinished has no index and none of its frames can be read. A BaseException, so
    that no ``except Exception`` on the way swallows it."""


def _terminate(signum, frame) -> None:
    # a second SIGTERM while the outputs are being finished ends the process at once
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    raise Terminated()


@contextlib.contextmanager
def sigterm_handler(handler):
    """``handler(signum, frame)`` handles SIGTERM while the body runs, the handler before it put
    back after (``SIG_DFL`` where that one was not set from Python and cannot be). Only the main
    thread can handle signals: elsewhere the body runs with nothing installed. Used by this CLI
    and the training loops (``train.common.saved_on_stop``)."""
    try:
        previous, installed = signal.signal(signal.SIGTERM, handler), True
    except ValueError:                      # not the main thread
        previous, installed = None, False
    try:
        yield
    finally:
        if installed:
            signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)


# -- output writers ----------------------------------------------------------------------------
def frame_record(index: int, t_ms: float, result, image: str | None = None) -> dict:
    """One JSONL line: ``{"frame", "t_ms", "hands": [...]}`` (``HandTrackerResult.to_dict``), with
    ``"image"`` (the file name) after ``t_ms`` when the input is images."""
    rec = result.to_dict(index, t_ms)
    if image is None:
        return rec
    return {"frame": rec["frame"], "t_ms": rec["t_ms"], "image": image,
            **{k: v for k, v in rec.items() if k not in ("frame", "t_ms")}}


def csv_header() -> list[str]:
    """frame, t_ms, then for left then right hand each of the 17 points x, y, score."""
    cols = ["frame", "t_ms"]
    for side in ("left", "right"):
        for name in KEYPOINT_NAMES:
            cols += [f"{side}_{name}_x", f"{side}_{name}_y", f"{side}_{name}_score"]
    return cols


def csv_row(index: int, t_ms: float, result) -> list:
    arr = result.as_array()
    row: list = [int(index), round(float(t_ms), 3)]
    for x, y, s in arr:
        if math.isnan(x):
            row += ["", "", ""]
        else:
            row += [round(float(x), 2), round(float(y), 2), round(float(s), 4)]
    return row


class TrackFile:
    """A track file (JSONL, CSV) written to the disk a whole line at a time, unbuffered (a text
    file's ``write`` and ``flush``, UTF-8, line ends as given). A write that fails part way (a
    full disk) is cut back to the end of the line before and raised: the file holds whole lines
    only (a cut-off CSV row would read as a row of wrong numbers), and closing has nothing left
    to write."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = path
        #: whether the file was there before (Outputs removes one it made when another output fails)
        self.existed = os.path.lexists(path)
        # opened without truncating: emptied by clear() once every output of the run has opened,
        # so a refused --csv does not leave the --json file emptied
        self._f = open(os.open(path, os.O_WRONLY | os.O_CREAT, 0o666), "wb", buffering=0)
        self._end = 0           # bytes of the whole lines written

    def clear(self) -> None:
        """Empty the file (a pipe or terminal, /dev/stdout, has nothing to empty)."""
        with contextlib.suppress(OSError):
            self._f.truncate(0)

    def write(self, text: str) -> int:
        line = text.encode("utf-8")
        data = memoryview(line)
        try:
            while data:
                data = data[self._f.write(data):]
        except BaseException:               # also Ctrl-C between two parts of a line
            with contextlib.suppress(OSError):   # a pipe or terminal (/dev/stdout) cannot be cut
                self._f.truncate(self._end)
            raise
        self._end += len(line)              # counted: tell() fails on a pipe
        return len(text)

    def flush(self) -> None:
        """Nothing to do: every line went to the disk when written."""

    def close(self) -> None:
        self._f.close()


class Outputs:
    """Opens the requested output files up front (so a bad path fails before any work) and
    writes/flushes them frame by frame. ``copy_frames``: :meth:`VideoSink.write`'s ``copy`` for
    the annotated frames (False: the caller hands each over and never changes it again)."""

    def __init__(self, video: str | None, jsonl: str | None, csv_path: str | None, fps: float,
                 copy_frames: bool = True) -> None:
        self.sink = None
        self.copy_frames = copy_frames
        self._files: list[TrackFile] = []
        if jsonl == "-" and csv_path == "-":
            raise UsageError("--json - and --csv -: only one of them can go to standard output")
        if video == "-":
            raise UsageError("-o/--output: an annotated video cannot go to standard output; give a file name")
        written: dict[tuple[int, int] | Path, str] = {}
        for opt, p in (("-o/--output", video), ("--json", jsonl), ("--csv", csv_path)):
            if p is None or p == "-":
                continue
            if not Path(p).resolve().parent.is_dir():
                raise UsageError(f"{opt}: folder of {p} does not exist")
            key = output_key(p)
            if key in written:
                raise UsageError(f"{opt} {p}: {written[key]} writes the same file; give each output its own name")
            written[key] = opt
        #: whether a track file goes to standard output (then summaries go to stderr)
        self.uses_stdout = "-" in (jsonl, csv_path)
        self.jsonl = self.csv_file = None
        self.frames = 0         # frames written to every output
        self._failed = False    # a failed write was reported: closing adds no second error
        self._names = {"-o/--output": video, "--json": jsonl, "--csv": csv_path}
        opt = "-o/--output"
        try:
            if video is not None:
                from .video import VideoSink
                self.sink = VideoSink(video, fps)
            opt = "--json"
            self.jsonl = self._open(jsonl)
            opt = "--csv"
            self.csv_file = self._open(csv_path)
            for f in self._files:           # every output opened: now they may be emptied
                f.clear()
            if self.csv_file:
                self.csv = csv.writer(self.csv_file)
                self.csv.writerow(csv_header())
                self.csv_file.flush()
        except (OSError, ValueError) as e:
            made = [f.path for f in self._files if not f.existed]
            self.close()
            for path in made:               # a file this run made, left empty: not an output
                with contextlib.suppress(OSError):
                    os.remove(path)
            # OSError's text names the file but not the option ("[Errno 21] Is a directory: 'x'")
            raise UsageError(f"{opt}: cannot open output: {e}") from None

    def _open(self, path: str | None):
        if path is None:
            return None
        if path == "-":                     # not closed by close(): sys.stdout stays usable
            return sys.stdout
        f = TrackFile(path)
        self._files.append(f)
        return f

    def _cannot_write(self, opt: str, e: OSError, closing: bool = False) -> UsageError:
        path = self._names[opt]
        where = "standard output" if path == "-" else path
        if closing:
            return UsageError(f"{opt} {where}: {e.strerror or e}")
        return UsageError(f"{opt} {where}: cannot write ({e.strerror or e}); the {self.frames} frames "
                          "before are kept")

    def write(self, index: int, t_ms: float, result, annotated: np.ndarray | None, image: str | None = None) -> None:
        opt = "--json"
        try:
            if self.jsonl is not None:
                self.jsonl.write(json.dumps(frame_record(index, t_ms, result, image), separators=(",", ":")) + "\n")
                self.jsonl.flush()
            opt = "--csv"
            if self.csv_file is not None:
                self.csv.writerow(csv_row(index, t_ms, result))
                self.csv_file.flush()
            opt = "-o/--output"
            if self.sink is not None and annotated is not None:
                try:
                    self.sink.write(annotated, copy=self.copy_frames)
                except ValueError as e:     # a frame the codec cannot take (1 pixel wide, say)
                    raise UsageError(f"-o/--output: {e}") from None
        except BrokenPipeError:             # the reader of a track stream went away: main() stops quietly
            raise
        except OSError as e:                # a full disk, a network share gone: name the output
            self._failed = True
            raise self._cannot_write(opt, e) from None
        self.frames += 1

    def close(self, report: bool = True) -> None:
        """Finish every output, each even when another one fails. Raises UsageError naming the
        first output that could not be finished (an annotated video without its last frames: a
        full disk), unless a failed write was reported already or ``report`` is False (an error
        in flight is the one to report): then the problems are logged."""
        problems = []
        closers = [("-o/--output", self.sink.close)] if self.sink is not None else []
        closers += [("--json" if f is self.jsonl else "--csv", f.close) for f in self._files]
        self.sink, self._files = None, []
        for opt, close in closers:
            try:
                close()
            except OSError as e:
                problems.append(self._cannot_write(opt, e, closing=True))
        if problems and report and not self._failed:
            raise problems[0]
        for p in problems:
            log.error("%s", p)


# -- the run's description (--meta) -------------------------------------------------------------
def _now() -> str:
    """The local time with its UTC offset, ISO 8601 to the millisecond (``2025-03-01T14:05:09.123+01:00``)."""
    from datetime import datetime
    return datetime.now().astimezone().isoformat(timespec="milliseconds")


def shown_command(argv: list[str]) -> list[str]:
    """``["handtrack", *argv]`` as ``--meta`` records it: a stream URL's password replaced by ``***``
    (:func:`shown_camera`), also in ``--camera=URL``, so that the file does not carry it."""
    out = ["handtrack"]
    for a in map(str, argv):
        if "://" in a:
            head = a.split("://", 1)[0]
            opt, eq, value = a.partition("=") if a.startswith("-") and "=" in head else ("", "", a)
            a = opt + eq + shown_camera(value)
        out.append(a)
    return out


def check_meta_target(path: str | None, others: dict[str, str | None]) -> None:
    """Raise UsageError, before any work, when ``--meta`` cannot be written to ``path``: standard
    output, a folder, a missing or read-only folder, a read-only file, or a file that another
    output (``others``: option -> path) writes. None: nothing to check. The file itself is
    written only when the run ends (:class:`RunMeta`), so an earlier one is kept until then."""
    if path is None:
        return
    if path == "-":
        raise UsageError("--meta -: the run's description is written to a file (standard output carries the "
                         "tracks or the summary); give a file name")
    p = Path(path)
    try:
        os.stat(p)
    except (FileNotFoundError, NotADirectoryError):
        pass
    except OSError as e:                # a name the system refuses (over 255 bytes): before the run, not after
        raise UsageError(f"--meta {path}: {e.strerror or e}") from None
    if p.is_dir():
        raise UsageError(f"--meta {path}: is a folder; give a file name")
    if not p.parent.is_dir():
        raise UsageError(f"--meta: folder of {path} does not exist")
    if not os.access(p.parent, os.W_OK):
        raise UsageError(f"--meta: folder {p.parent} is not writable")
    if p.exists() and not os.access(p, os.W_OK):
        raise UsageError(f"--meta {path}: file is not writable")
    key = output_key(p)
    for opt, other in others.items():
        if other is not None and other != "-" and output_key(other) == key:
            raise UsageError(f"--meta {path}: {opt} writes the same file; give each output its own name")


class RunMeta:
    """``--meta PATH``: one JSON object saying what made a run's tracks, written (whole, replacing
    the file) when the run ends, also when Ctrl-C, SIGTERM or an error stops it. Keys:

    ``handtrack``: :meth:`tracker.HandTracker.describe` (package and onnxruntime versions, each
    model's file, sha256, embedded version and input size, providers, threads, and the options;
    None when the webcam's tracker could not be built, its outputs being open by then; ``video``
    builds it first and then writes no file, as no track file was opened); ``command``: ``handtrack`` and its arguments (a
    stream URL's password as ``***``); ``input``: the INPUT as given, or the camera as messages
    show it; ``frame_size``: ``[w, h]`` pixels of the first frame (None before one was read);
    ``fps_reported``: the frame rate the video or camera reports (None where it reports none, and
    for images); ``frames``: frames written to the track outputs; ``started``, ``finished``: ISO
    8601 local times with their UTC offset; ``completed``: False when the run was stopped before
    its end (Ctrl-C, SIGTERM, an error).
    """

    def __init__(self, path: str, command: list[str] | None, input_name: str, fps_reported: float | None,
                 description: dict | None = None) -> None:
        self.path = path
        self.record: dict[str, Any] = {"handtrack": description, "command": command, "input": input_name,
                                       "frame_size": None, "fps_reported": fps_reported, "frames": 0,
                                       "started": _now(), "finished": None, "completed": False}

    def saw(self, frame: np.ndarray) -> None:
        """Note the frame size from the first frame (HxW or HxWxC)."""
        if self.record["frame_size"] is None:
            self.record["frame_size"] = [int(frame.shape[1]), int(frame.shape[0])]

    def finish(self, frames: int, completed: bool, report: bool = True) -> bool:
        """Write the file; returns whether it was written. A failure is a UsageError naming
        ``--meta`` when ``report``, else logged and False returned (an error in flight, or Ctrl-C,
        is the one to report); a failed write leaves no partial file."""
        self.record.update(frames=int(frames), finished=_now(), completed=bool(completed))
        text = json.dumps(self.record, indent=2) + "\n"
        try:
            write_replacing(self.path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
        except OSError as e:
            problem = UsageError(f"--meta {self.path}: cannot write ({e.strerror or e})")
            if report:
                raise problem from None
            log.error("%s", problem)
            return False
        return True


# -- commands ------------------------------------------------------------------------------------
def build_tracker(args: argparse.Namespace, mirrored: bool):
    """The tracker for the parsed arguments (tests replace this to use fake models)."""
    from .hand_tracker import HandTracker
    return HandTracker(max_hands=args.max_hands, static_image_mode=getattr(args, "static", False),
                       mirrored=mirrored, device=args.device, threads=args.threads,
                       min_detection_confidence=args.min_detection_confidence,
                       min_tracking_confidence=args.min_tracking_confidence,
                       smoothing=not args.no_smoothing, flip_test=args.flip_test, small_hands=args.small_hands,
                       large_hands=not args.no_large_hands, turn_retry=args.turn_retry,
                       detector_turns=args.detector_turns, turn_fallback=getattr(args, "turn_fallback", False),
                       side_lock=args.side_lock, side_wait=args.side_wait,
                       low_detection_confidence=args.low_detection_confidence,
                       refine_score=args.refine_score, min_crop_palms=args.min_crop_palms,
                       crop_hold=args.crop_hold,
                       frame_rate=getattr(args, "frame_rate", None),
                       landmark_model_path=args.landmark_model, detector_model_path=args.detector_model)


_OUTPUT_KINDS = (("-o/--output", "output", ".mp4"), ("--json", "json", ".jsonl"), ("--csv", "csv", ".csv"),
                 ("--meta", "meta", ".meta.json"))


def output_paths(args: argparse.Namespace, inputs: list[str]) -> list[dict[str, str | None]]:
    """The output files of each input: ``[{"output": ..., "json": ..., "csv": ..., "meta": ...}, ...]``.

    An option naming an existing folder gets one file per input there, named after the input
    (``clip.mp4`` -> ``clip.mp4``, ``clip.jsonl``, ``clip.csv``, ``clip.meta.json``; an image
    folder ``shots/`` -> ``shots.*``). With several inputs every output option must be such a folder; ``-``
    (standard output) takes one input only. Raises UsageError naming the option.
    """
    per_input: list[dict[str, str | None]] = [{} for _ in inputs]
    for opt, dest, ext in _OUTPUT_KINDS:
        value = getattr(args, dest, None)
        if value is not None and value != "-" and os.path.isdir(value):     # os.path: False for a name too long
            if not os.access(value, os.W_OK):
                raise UsageError(f"{opt}: folder {value} is not writable")
            names: dict[str, str] = {}
            fold = folds_case(value)        # Clip.mp4 and clip.mp4 write one clip.jsonl there
            for i, inp in enumerate(inputs):
                stem = Path(inp).resolve().stem
                key = stem.casefold() if fold else stem
                if key in names:
                    raise UsageError(f"{opt} {value}: inputs {names[key]} and {inp} would both write "
                                     f"{stem}{ext}; process them in separate runs")
                names[key] = inp
                target = Path(value) / f"{stem}{ext}"
                if file_key(target) == file_key(inp):
                    raise UsageError(f"{opt} {value}: would overwrite the input {inp}; choose another folder")
                per_input[i][dest] = str(target)
            continue
        if value is not None and len(inputs) > 1:
            what = "standard output" if value == "-" else value
            raise UsageError(f"{opt} {what}: with {len(inputs)} inputs, give an existing folder "
                             "(one file per input, named after it, is written there)")
        for d in per_input:
            d[dest] = value
    return per_input


def run_video(args: argparse.Namespace) -> int:
    from .video import FrameSource

    inputs = list(args.input)
    if getattr(args, "turn_fallback", False) and not args.static:
        raise UsageError("--turn-fallback applies with --static (video mode has its own schedule of turned looks)")
    paths = output_paths(args, inputs)
    # Every input is opened once before any work, so a missing or unreadable file among many
    # fails at once instead of after the others have been processed.
    sources = []
    for inp in inputs:
        try:
            sources.append(FrameSource(inp))
        except FileNotFoundError:
            raise UsageError(f"INPUT: {inp} does not exist") from None
        except ValueError as e:
            raise UsageError(f"INPUT: {e}") from None
    check_outputs_apart(inputs, sources, paths)
    for dests in paths:
        others = {opt: dests.get(dest) for opt, dest, _ in _OUTPUT_KINDS if dest != "meta"}
        check_meta_target(dests.get("meta"), others)
    written = {output_key(value): opt for dests in paths for opt, dest, _ in _OUTPUT_KINDS
               if (value := dests.get(dest)) not in (None, "-")}
    image_dests = annotated_image_paths(args.annotated_images, inputs, sources, written)
    out = sys.stderr if "-" in (args.json, args.csv) else sys.stdout   # keep a track stream clean
    if args.frame_rate == "auto":
        for inp, src in zip(inputs, sources):
            if not src.fps_reported:        # FrameSource's fallback of 30 is no rate of the video
                raise UsageError(f"--frame-rate auto: {inp} reports no usable frame rate "
                                 f"({src.reported_fps:g}); give --frame-rate FPS (its frames per second)")
        # one tracker follows every input, so its frame counts fit one frame rate only
        rates = sorted({(src.fps, inp) for inp, src in zip(inputs, sources)})
        if len({r for r, _ in rates}) > 1:
            raise UsageError("--frame-rate auto: the inputs have different frame rates ("
                             + ", ".join(f"{inp} {r:g} fps" for r, inp in rates)
                             + "); give --frame-rate FPS or track them in separate runs")
        args.frame_rate = rates[0][0]
    total_frames, t_start = 0, time.perf_counter()
    with build_tracker(args, args.mirror) as tracker:
        if args.frame_rate is not None:
            print(_frame_rate_line(args.frame_rate, tracker), file=out)
        # described once, before any frame: the model files hashed are those just loaded
        description = tracker.describe() if any(d.get("meta") for d in paths) else None
        for k, (inp, source, dests) in enumerate(zip(inputs, sources, paths)):
            if k:
                tracker.reset()             # a new clip: no track carries over
            total_frames += _track_one(args, tracker, inp, source, dests, out, several=len(inputs) > 1,
                                       image_dests=image_dests[k], description=description)
    if len(inputs) > 1:
        wall = time.perf_counter() - t_start
        print(f"{len(inputs)} inputs, {total_frames} frames in {wall:.1f} s", file=out)
    return 0


def check_outputs_apart(inputs: list[str], sources: list, paths: list[dict[str, str | None]]) -> None:
    """Raise UsageError, before any work, when an output file (``-o``, ``--json``, ``--csv``) is
    one of the inputs (a video, or an image of an image folder): outputs are opened for writing
    before the input is read, so the input would be lost (``handtrack video clip.mp4 -o
    clip.mp4`` once truncated the clip it was reading). Two outputs naming one file are refused
    by :class:`Outputs`."""
    input_files: dict[tuple[int, int] | Path, str] = {}
    for inp, src in zip(inputs, sources):
        for p in (src.images if src.images is not None else [Path(inp)]):
            input_files[file_key(p)] = str(p)
    for dests in paths:
        for opt, dest, _ in _OUTPUT_KINDS:
            value = dests.get(dest)
            overwritten = input_files.get(file_key(value)) if value not in (None, "-") else None
            if overwritten is not None:
                raise UsageError(f"{opt} {value}: would overwrite the input {overwritten}; give another file name")


def annotated_image_paths(folder: str | None, inputs: list[str], sources: list,
                          outputs: dict | None = None) -> list[list[Path] | None]:
    """``--annotated-images FOLDER``: per input, the file each of its images is written to
    (``FOLDER/<image file name>``), or None when the option is not given. Raises UsageError, before
    any work, for a missing or read-only folder, a video input, two images of the same name, or a
    target that is one of the inputs' images or another output (``outputs``: :func:`output_key` of
    each other output file -> its option)."""
    outputs = outputs or {}
    if folder is None:
        return [None] * len(inputs)
    opt = "--annotated-images"
    f = Path(folder)
    if not os.path.isdir(f):            # os.path: False for a name too long (pathlib raises OSError)
        raise UsageError(f"{opt}: folder {folder} does not exist")
    if not os.access(f, os.W_OK):
        raise UsageError(f"{opt}: folder {folder} is not writable")
    input_files = {file_key(p) for src in sources if src.images for p in src.images}
    seen: dict[str, str] = {}
    fold = folds_case(f)                    # IMG_1.jpg and img_1.jpg are one file there
    out: list[list[Path] | None] = []
    for inp, src in zip(inputs, sources):
        if src.images is None:
            raise UsageError(f"{opt}: INPUT {inp} is a video; this option writes images of image inputs "
                             "(use -o for an annotated video)")
        dests = []
        for p in src.images:
            key = p.name.casefold() if fold else p.name
            if key in seen:
                raise UsageError(f"{opt} {folder}: {seen[key]} and {p} would both write {p.name}")
            seen[key] = str(p)
            target = f / p.name
            if file_key(target) in input_files:
                raise UsageError(f"{opt} {folder}: would overwrite the input image {target}; choose another folder")
            other = outputs.get(output_key(target))     # output_key: as two outputs are told apart (case)
            if other is not None:   # the two writes would overwrite each other
                raise UsageError(f"{opt} {folder}: {target} is also the {other} file; give each output "
                                 "its own name")
            dests.append(target)
        out.append(dests)
    return out


def _track_one(args, tracker, inp: str, source, dests: dict, out, several: bool,
               image_dests: list[Path] | None = None, description: dict | None = None) -> int:
    """Track one input into its outputs and print its summary; returns the frames tracked.
    ``image_dests``: where ``--annotated-images`` writes each image of the input (by index).
    ``description``: ``tracker.describe()``, for the input's ``--meta`` file."""
    from .draw import draw_fps, draw_hands
    from .video import FPSMonitor, ImageSink, ImageWriteError, progress

    # the annotated video plays at the file's rate; a file without one at --frame-rate where given
    rate = getattr(args, "frame_rate", None)      # a number by now: run_video resolved "auto"
    video_fps = source.fps if source.fps_reported or rate is None else rate
    outputs = Outputs(dests["output"], dests["json"], dests["csv"], video_fps, copy_frames=False)
    meta = None
    if dests.get("meta") is not None:
        command = getattr(args, "command_line", None)
        meta = RunMeta(dests["meta"], None if command is None else shown_command(command), str(inp),
                       source.fps if source.images is None and source.fps_reported else None, description)
    # frames by number of hands: counted as seen (a list of max_hands + 1 took 8 GB for
    # --max-hands 1000000000 before the first frame)
    counts: dict[int, int] = {}
    frames = det_frames = 0
    proc_ms = 0.0
    t_start = time.perf_counter()
    fps = FPSMonitor()
    images = ImageSink() if image_dests is not None else None   # photos encoded while the next is tracked
    completed = False
    try:
        try:
            for index, t_ms, frame in progress(source, enabled=not args.no_progress, limit=args.max_frames):
                if args.max_frames is not None and frames >= args.max_frames:
                    break
                if meta is not None:
                    meta.saw(frame)
                result = tracker.process(frame, t_ms)
                frames += 1
                proc_ms += result.elapsed_ms
                det_frames += bool(result.detector_ran)
                counts[len(result.hands)] = counts.get(len(result.hands), 0) + 1
                annotated = None
                if outputs.sink is not None or image_dests is not None:
                    # drawn into the frame itself, which the source read for this step alone, and
                    # handed to the sinks without a copy (-o: ~6% of the run's time at 1280x720)
                    annotated = draw_hands(frame, result.hands)
                if images is not None:            # the skeletons only: no FPS overlay on a photo
                    assert image_dests is not None and annotated is not None    # drawn above
                    # a copy when the video's fps label is drawn into the same array next
                    with _annotated_image_errors():
                        images.write(image_dests[index], annotated, copy=outputs.sink is not None)
                if outputs.sink is not None:
                    assert annotated is not None    # drawn above: the sink is open
                    draw_fps(annotated, fps.tick())
                outputs.write(index, t_ms, result, annotated, source.image_name(index))
        except BaseException:
            outputs.close(report=False)         # the error in flight (or Ctrl-C) is the one to report
            if images is not None:
                with contextlib.suppress(ImageWriteError):
                    images.close()              # the images queued before it are written
            raise
        outputs.close()
        if images is not None:
            with _annotated_image_errors():
                images.close()
        completed = frames > 0
    finally:
        # after the other outputs are finished, so that it counts what they hold
        if meta is not None:
            meta.finish(outputs.frames, completed, report=completed)
    wall = time.perf_counter() - t_start
    if frames == 0:
        raise UsageError(f"INPUT: no frame could be read from {inp}")
    share = [100.0 * counts.get(n, 0) / frames for n in range(max(2, *counts) + 1)]
    head = f"{inp}: " if several else ""
    print(f"{head}{frames} frames in {wall:.1f} s: {frames / wall:.1f} fps end to end, "
          f"{proc_ms / frames:.1f} ms/frame in the tracker ({det_frames} detector frames)", file=out)
    print(f"{head}hands per frame: " + "  ".join(f"{n}: {v:.1f}%" for n, v in enumerate(share)), file=out)
    for what, dest in (("annotated video", "output"), ("JSONL", "json"), ("CSV", "csv"), ("meta", "meta")):
        p = dests.get(dest)
        if p is not None and p != "-":
            print(f"{head}{what}: {p}", file=out)
    if image_dests:
        print(f"{head}annotated images: {frames} in {image_dests[0].parent}", file=out)
    return frames


@contextlib.contextmanager
def _annotated_image_errors():
    """``--annotated-images``: a file the ImageSink could not write (the one written now, or one
    before it in the sink's thread, raised by the next write or by close) is the run's error,
    naming that file."""
    from .video import ImageWriteError
    try:
        yield
    except ImageWriteError as e:
        raise UsageError(f"--annotated-images: cannot write {e.filename}") from None


def has_display() -> bool:
    """Whether a window can be opened (on Linux: DISPLAY or WAYLAND_DISPLAY is set)."""
    if sys.platform.startswith("linux"):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


#: opens and closes an OpenCV window; run in a child process by :func:`window_problem`
_WINDOW_PROBE = "import cv2; cv2.namedWindow('handtrack display check'); cv2.waitKey(1); cv2.destroyAllWindows()"


def window_problem(timeout_s: float = 30.0) -> str | None:
    """Why no OpenCV window can be opened here, or None when one can (Linux; None elsewhere).

    A DISPLAY naming no running X server (an ssh session whose forwarding is gone, a container
    that inherited the variable) makes OpenCV's Qt backend abort the whole process (SIGABRT) when
    the window opens, before anything can be caught or printed. A child process tries it first.
    """
    if not sys.platform.startswith("linux"):
        return None
    import subprocess
    try:
        probe = subprocess.run([sys.executable, "-c", _WINDOW_PROBE], capture_output=True, text=True,
                               timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return f"opening a window did not finish within {timeout_s:.0f} s"
    if probe.returncode == 0:
        return None
    lines = [x.strip() for x in probe.stderr.splitlines() if x.strip()]
    said = next((x for x in lines if "display" in x.lower()), lines[-1] if lines else "")
    return f"opening a window failed (exit status {probe.returncode}){': ' + said if said else ''}"


def run_webcam(args: argparse.Namespace) -> int:
    """The live session; returns the exit status: 0 when the user ended it (q, Esc, the window
    closed, ``--max-frames`` reached), :data:`EXIT_FAILURE` with one error line when the camera
    stopped delivering frames after some were tracked (outputs finished, ``--meta`` not completed).
    Bad input, or a camera that stops before any frame is tracked, raises UsageError."""
    window = None if args.no_window else "handtrack (q or Esc to quit)"
    if window is not None and not has_display():
        raise UsageError("webcam: no display (DISPLAY/WAYLAND_DISPLAY not set); use --no-window with "
                         "--json/--csv to track without one, or `handtrack video INPUT -o out.mp4`")
    problem = None if window is None else window_problem()
    if problem is not None:
        display = os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
        raise UsageError(f"webcam: no usable display ({display!r}; {problem}); use --no-window with "
                         "--json/--csv to track without one, or `handtrack video INPUT -o out.mp4`")
    if window is None and args.json is None and args.csv is None and args.output is None:
        raise UsageError("webcam --no-window: nothing to show or write; add --json, --csv or -o")
    meta_path = getattr(args, "meta", None)
    check_meta_target(meta_path, {"-o/--output": args.output, "--json": args.json, "--csv": args.csv})
    import cv2
    from .draw import draw_fps, draw_hands
    from .video import (CAMERA_OPEN_TIMEOUT_S, FRAME_TIMEOUT_S, FPSMonitor, LatestFrameReader, frames_in_order,
                        open_camera, usable_fps)

    # Where there is no such camera, each of OpenCV's backends tried prints its own lines (a
    # dozen, "raised OpenCV exception" among them) above the one error that says what is wrong:
    # they are kept for -v.
    camera = shown_camera(args.camera)     # a stream URL's password stays out of messages
    open_timeout = getattr(args, "open_timeout", CAMERA_OPEN_TIMEOUT_S)     # seconds
    frame_timeout = getattr(args, "frame_timeout", FRAME_TIMEOUT_S)         # seconds
    quiet = not args.verbose
    # OpenCV 5 has cv2.utils.logging; OpenCV 4 (opencv-python >= 4.10.0.84 is allowed) only the top-level
    # get/setLogLevel. LOG_LEVEL_SILENT is 0 in both.
    cv_log = getattr(getattr(cv2, "utils", None), "logging", cv2)
    if quiet:
        level = cv_log.getLogLevel()
        cv_log.setLogLevel(0)
    try:
        # in a helper thread: a camera or stream that hangs in its open or first read ends the
        # command with one error line after the timeout, and Ctrl-C / SIGTERM are handled meanwhile
        # (a capture that never returns is left to its daemon thread; the process exits)
        cap, frame = open_camera(args.camera, open_timeout, name=f"--camera {camera}")
    except TimeoutError as e:
        raise UsageError(f"{e}; a slow stream may need a longer --open-timeout SECONDS") from None
    finally:
        if quiet:
            cv_log.setLogLevel(level)
    if frame is None:
        cap.release()
        raise UsageError(f"--camera {camera}: no camera could be opened or read"
                         + (" (run with -v for the video backends' messages)" if quiet else ""))
    cam_fps = usable_fps(cap.get(cv2.CAP_PROP_FPS))
    if args.frame_rate == "auto":
        if cam_fps is None:
            cap.release()
            raise UsageError(f"--frame-rate auto: camera {camera} reports no frame rate; "
                             "give --frame-rate FPS (the camera's frames per second)")
        args.frame_rate = cam_fps
    # the recording holds one video frame per camera frame: at the camera's rate it plays in real
    # time. --frame-rate is the rate of the frames tracked (docs/options.md), which is lower when
    # tracking skips frames: the recording takes it only when the camera reports no rate, as
    # `handtrack video` takes it only for a file that has none.
    record_fps = cam_fps or args.frame_rate
    if record_fps is None and args.output is not None:
        log.warning("camera %s reports no frame rate: the recording is written at 30 fps (it plays at "
                    "the wrong speed if the camera runs at another; give --frame-rate FPS)", camera)
    try:
        outputs = Outputs(args.output, args.json, args.csv, record_fps or 30.0)
    except UsageError:
        cap.release()
        raise
    meta = None
    if meta_path is not None:
        command = getattr(args, "command_line", None)
        meta = RunMeta(meta_path, None if command is None else shown_command(command), camera, cam_fps)
        meta.saw(frame)
    fps = FPSMonitor()
    # By default the newest camera frame is tracked (a reader thread drops the ones the tracker
    # had no time for), so the view shows the present even when tracking is slower than the
    # camera; --every-frame tracks them all in order, and the lag grows with the driver's queue.
    reader = None if args.every_frame else LatestFrameReader(cap, name=f"--camera {camera}")
    # --every-frame reads in a helper thread too: a camera that hangs in read() ends the session
    # after the same timeout, and Ctrl-C / SIGTERM are handled while it is waited for
    frames = (reader.frames(frame_timeout) if reader is not None
              else frames_in_order(cap, timeout=frame_timeout, name=f"--camera {camera}"))
    shown, stopped, completed = 0, False, False
    meta_written = False
    held = None                             # (camera frame number, annotated picture) written last
    try:
        # --mirror: the frame is flipped (a selfie view) and tracked with mirrored=True, so the
        # labels still name the person's real hands.
        with build_tracker(args, args.mirror) as tracker:
            if meta is not None:
                meta.record["handtrack"] = tracker.describe()
            if args.frame_rate is not None:
                print(_frame_rate_line(args.frame_rate, tracker),
                      file=sys.stderr if outputs.uses_stdout else sys.stdout)
            if window is not None:
                cv2.namedWindow(window, cv2.WINDOW_NORMAL)
            for index, t_ms, frame in frames:
                if args.mirror:
                    frame = cv2.flip(frame, 1)
                result = tracker.process(frame, t_ms)
                shown += 1
                annotated = None
                if window is not None or outputs.sink is not None:
                    annotated = draw_hands(frame, result.hands)
                    draw_fps(annotated, fps.tick())
                if outputs.sink is not None and held is not None:
                    # the recording is written at the camera's frame rate: the previous picture
                    # stays in it for the camera frames skipped since (as it stayed in the window),
                    # else a session tracked slower than the camera would play too fast
                    # drawn: the sink was open at that frame too (only close() shuts it, after the loop)
                    assert held[1] is not None
                    for _ in range(index - held[0] - 1):
                        outputs.sink.write(held[1])
                held = (index, annotated)
                # index counts camera frames: a gap in the written frame numbers is a skipped frame
                outputs.write(index, t_ms, result, annotated)
                if args.max_frames is not None and shown >= args.max_frames:
                    stopped = True
                    break
                if window is not None:
                    assert annotated is not None    # drawn above: there is a window
                    cv2.imshow(window, annotated)
                    key = cv2.waitKey(1) & 0xFF
                    if key in (ord("q"), 27) or cv2.getWindowProperty(window, cv2.WND_PROP_VISIBLE) < 1:
                        stopped = True
                        break
        # completed only when the user ended the session: frames that ended by themselves are a
        # camera or stream gone (OpenCV does not tell an ended stream from a lost camera)
        completed = stopped
    finally:
        # each step runs even when one before it raises (callbacks run last-added first): the
        # outputs first, as waiting for a hung camera's read() takes up to 2 s, and a second
        # Ctrl-C or SIGTERM in it would leave the recording unfinished (an mp4 without its index
        # has no readable frame); then the camera (the reader thread joined first), the window
        with contextlib.ExitStack() as closing:
            if window is not None:
                closing.callback(cv2.destroyAllWindows)
            closing.callback(reader.close if reader is not None else cap.release)
            if reader is None:
                closing.callback(frames.close)      # its thread out of read() before the release
            if meta is not None:            # right after the other outputs, counting what they hold
                def finish_meta(exc_type, exc, tb):
                    # exc: an output that could not be finished (the error to report); after a
                    # camera that stopped, a meta file that cannot be written is logged beside it
                    # (and the stopped-camera line must not count it as kept)
                    nonlocal meta_written
                    done = completed and exc_type is None
                    meta_written = meta.finish(outputs.frames, done, report=done)
                closing.push(finish_meta)
            closing.callback(outputs.close)
    if shown == 0:                          # the camera's frames ended after the open check
        raise UsageError(f"--camera {camera}: the camera stopped delivering frames before any was tracked")
    dropped = f", {reader.dropped} camera frames skipped while tracking" if reader is not None else ""
    print(f"{shown} frames tracked{dropped}", file=sys.stderr if outputs.uses_stdout else sys.stdout)
    if not stopped:                         # after the summary: the last line a supervisor's log shows
        # every other output was finished (a failure there raised instead of reaching here); the
        # meta file is written last and only logged when it fails, so it is claimed only when written
        others = any(p is not None for p in (args.output, args.json, args.csv))
        if meta is not None and not meta_written:
            kept = (f" (outputs kept except --meta {meta_path}, which could not be written)" if others
                    else f" (--meta {meta_path} could not be written)")
        else:
            kept = " (outputs kept)" if others or meta is not None else ""
        print(f"handtrack: error: --camera {camera}: the camera stopped delivering frames after {shown} tracked "
              f"frame{'' if shown == 1 else 's'}{kept}", file=sys.stderr)
        return EXIT_FAILURE
    return 0


def version_text() -> str:
    """Package, shipped model and onnxruntime versions (what a bug report needs), one per line."""
    import onnxruntime as ort

    from . import __version__
    from .backend import default_model_path, read_metadata
    lines = [f"handtrack {__version__}"]
    for kind, name in (("landmarks", "landmarks.onnx"), ("detector", "detector.onnx")):
        path = default_model_path(name)
        try:
            session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
            version = read_metadata(session).get("model_version", "unknown version")
        except Exception as e:  # noqa: BLE001 - a broken install should still print the rest
            version = f"unreadable ({type(e).__name__}: {e})"
        lines.append(f"{kind} model: {version} ({path})")
    lines.append(f"onnxruntime {ort.__version__}, providers: {', '.join(ort.get_available_providers())}")
    return "\n".join(lines)


class _VersionAction(argparse.Action):
    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, help=None):
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        print(version_text())
        parser.exit()


# -- argument parsing ----------------------------------------------------------------------------
def int_at_least(name: str, low: int, high: int | None = None):
    """argparse type: an integer >= ``low`` (and <= ``high`` when given); the error names ``name``
    and the bound. Shared by the bench, train/ and export/ command lines."""
    def parse(s: str) -> int:
        try:
            v = int(s)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be an integer, got {s!r}") from None
        if v < low:
            raise argparse.ArgumentTypeError(f"{name} must be >= {low}, got {v}")
        if high is not None and v > high:
            raise argparse.ArgumentTypeError(f"{name} must be at most {high}, got {v}")
        return v
    return parse


def positive_int(name: str):
    """argparse type: an integer >= 1; the error names ``name`` (also used by train.evaluate)."""
    return int_at_least(name, 1)


def thread_count(name: str = "--threads"):
    """argparse type of a thread count: an integer from 1 to the backend's MAX_THREADS (a larger
    one was refused only when the model was loaded, or not at all); the error names ``name``."""
    from .checks import MAX_THREADS
    return int_at_least(name, 1, MAX_THREADS)


def camera_source(s: str) -> int | str:
    """argparse type of ``webcam --camera``: what ``cv2.VideoCapture`` opens. An index (0, 1, ...),
    a camera device file (``/dev/video2``) or a stream URL (``rtsp://``, ``http://``, ...; an IP
    camera). A video file is refused: ``handtrack video`` tracks files (every frame, with a progress
    bar), where the webcam command would skip the frames it has no time for."""
    v = s.strip()
    if v.lstrip("-").isdigit():
        if int(v) < 0:
            raise argparse.ArgumentTypeError(f"--camera must be an index >= 0, a device file or a stream URL, got {s!r}")
        return int(v)
    if "://" in v:
        return v
    p = Path(v)
    if not p.exists():
        raise argparse.ArgumentTypeError(f"--camera {s!r}: no such device; give an index (0, 1, ...), a device file "
                                         f"such as /dev/video0, or a stream URL such as rtsp://host/stream")
    if p.is_file() or p.is_dir():
        raise argparse.ArgumentTypeError(f"--camera {s!r} is a {'file' if p.is_file() else 'folder'}, not a camera; "
                                         f"track it with `handtrack video {s}`")
    return v


def _secret_query_name(name: str) -> bool:
    """Whether a URL query parameter named ``name`` carries a credential (``pwd``, ``password``,
    ``access_token``, ``api_key``, ...): IP cameras take ``?user=admin&pwd=...``."""
    n = name.lower().replace("_", "").replace("-", "")
    return any(s in n for s in ("pass", "pwd", "token", "secret")) or n in ("pw", "key", "apikey", "auth", "sig",
                                                                               "signature")


def shown_camera(camera: int | str) -> str:
    """``--camera`` as messages show it: a stream URL's password replaced by ``***``
    (``rtsp://user:***@host/stream``; in the query string too: ``?user=admin&pwd=***``), so that
    errors, logs and ``--meta`` files do not carry it."""
    text = str(camera)
    if "://" not in text:
        return text
    from urllib.parse import urlsplit, urlunsplit
    try:
        u = urlsplit(text)
    except ValueError:      # a URL urllib cannot take apart (an unclosed "[" of an IPv6 host)
        return text.split("://", 1)[0] + "://***"
    query = "&".join(k + eq + ("***" if eq and _secret_query_name(k) else v)
                     for k, eq, v in (part.partition("=") for part in u.query.split("&"))) if u.query else ""
    if u.password is None and query == u.query:
        return text
    if u.password is not None:
        u = u._replace(netloc=f"{u.username}:***@{u.netloc.rsplit('@', 1)[1]}")
    return urlunsplit(u._replace(query=query))


def float_in(name: str, low: float, high: float):
    """argparse type: a float in [low, high] (NaN refused); the error names ``name``."""
    def parse(s: str) -> float:
        try:
            v = float(s)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be a number, got {s!r}") from None
        if not low <= v <= high:
            raise argparse.ArgumentTypeError(f"{name} must be in [{low:g}, {high:g}], got {v}")
        return v
    return parse


def unit_float(name: str):
    """argparse type: a float in [0, 1]; the error names ``name`` (also used by train.evaluate)."""
    return float_in(name, 0.0, 1.0)


def crop_palms_value(name: str):
    """argparse type: a float in [0, MAX_CROP_PALMS] (``HandTrackerOptions.min_crop_palms``); the
    error names ``name`` (also used by bench)."""
    from .hand_tracker import MAX_CROP_PALMS
    return float_in(name, 0.0, MAX_CROP_PALMS)


def unit_float_or_none(name: str):
    """argparse type: a float in [0, 1], or "none" (None); the error names ``name`` (also used by bench)."""
    inner = unit_float(name)

    def parse(s: str) -> float | None:
        if s.strip().lower() == "none":
            return None
        try:
            return inner(s)
        except argparse.ArgumentTypeError as e:
            raise argparse.ArgumentTypeError(f"{e} (or 'none')") from None
    return parse


def positive_float(name: str):
    """argparse type: a finite number > 0 (``nan`` and ``inf`` refused); the error names ``name``."""
    def parse(s: str) -> float:
        try:
            v = float(s)
        except ValueError:
            v = math.nan                    # refused below, with the same message
        if not (v > 0 and math.isfinite(v)):
            raise argparse.ArgumentTypeError(f"{name} must be a finite number > 0, got {s!r}")
        return v
    return parse


def side_lock_value(name: str):
    """argparse type: a number > 0, or "none" (None); the error names ``name`` (also used by bench)."""
    inner = positive_float(name)

    def parse(s: str) -> float | None:
        if s.strip().lower() == "none":
            return None
        try:
            return inner(s)
        except argparse.ArgumentTypeError:
            raise argparse.ArgumentTypeError(f"{name} must be a number > 0 or 'none', got {s!r}") from None
    return parse


def frame_rate_value(name: str):
    """argparse type: a frame rate > 0 (frames per second), or "auto" (the input's); the error
    names ``name``."""
    def parse(s: str) -> float | str:
        if s.strip().lower() == "auto":
            return "auto"
        from .hand_tracker import MAX_FRAME_RATE, MIN_FRAME_RATE
        try:
            v = float(s)
        except ValueError:
            v = math.nan                    # refused below, with the same message
        if not MIN_FRAME_RATE <= v <= MAX_FRAME_RATE:
            raise argparse.ArgumentTypeError(f"{name} must be a number of frames per second in [{MIN_FRAME_RATE:g}, "
                                             f"{MAX_FRAME_RATE}] or 'auto', got {s!r}")
        return v
    return parse


def _frame_rate_line(frame_rate: float, tracker) -> str:
    """The summary's note of the frame rate the tracker's frame counts are scaled to."""
    counts = ", ".join(f"{k} {v}" for k, v in tracker.effective_counts.items())
    return f"frame rate {frame_rate:g} fps: {counts} frames"


def _common(p: argparse.ArgumentParser) -> None:
    from .checks import MAX_COUNT
    from .hand_tracker import HandTrackerOptions
    p.add_argument("--mirror", action="store_true",
                   help="mirrored (selfie) view: swap the left/right labels (webcam: also flip the view; "
                   "the flipped frame is what is tracked, shown and written: x coordinates are in it)")
    p.add_argument("--max-hands", type=positive_int("--max-hands"), default=2, metavar="N",
                   help="most hands per frame (default 2)")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu", help="inference device (default cpu)")
    p.add_argument("--threads", type=thread_count(), default=2, metavar="N",
                   help="onnxruntime threads per model (default 2)")
    p.add_argument("--min-detection-confidence", type=unit_float("--min-detection-confidence"), default=None,
                   metavar="P", help="detector score threshold (default: the model's calibrated one)")
    p.add_argument("--low-detection-confidence", type=unit_float_or_none("--low-detection-confidence"),
                   default=HandTrackerOptions.low_detection_confidence, metavar="P|none",
                   help="detections from this score up to the threshold are new hands when the landmark model "
                   f"is sure of them (default {HandTrackerOptions.low_detection_confidence:g}; none: off)")
    p.add_argument("--min-tracking-confidence", type=unit_float("--min-tracking-confidence"), default=0.5,
                   metavar="P", help="hand presence threshold (default 0.5)")
    p.add_argument("--no-smoothing", action="store_true", help="report unsmoothed keypoints")
    p.add_argument("--flip-test", action=argparse.BooleanOptionalAction, default=HandTrackerOptions.flip_test,
                   help="also run each hand crop mirrored and average the two (on by default: steadier, more "
                   "accurate keypoints; --no-flip-test halves the landmark time)")
    p.add_argument("--small-hands", action="store_true",
                   help="where the detector runs, also look for hands far from the camera (under 15%% of the "
                   "frame side) at twice its input size (~5x detector time on those frames)")
    p.add_argument("--no-large-hands", action="store_true",
                   help="leave out the detector's half-size pass for hands close to the camera (60-100%% of the "
                   "frame side; on by default, a quarter to two fifths more detector time)")
    p.add_argument("--turn-retry", action="store_true",
                   help="measure a detector crop with no hand in it once more turned by 180 degrees "
                   "(hands pointing down; more hands found, a few more false ones)")
    p.add_argument("--detector-turns", type=int, choices=(1, 2, 4), default=HandTrackerOptions.detector_turns,
                   metavar="N", help="look for new hands in the frame turned: 1 upright only, 2 upright and upside "
                   "down, 4 every quarter turn (a camera above a desk or keyboard, a phone held sideways: hands "
                   "pointing down or sideways); in video at most one look per frame, the upright looks on the "
                   "frames they run on without turns; default 4 in video mode, 1 with --static (each turn "
                   "is a detector run on every image)")
    p.add_argument("--side-lock", type=side_lock_value("--side-lock"), default=HandTrackerOptions.side_lock,
                   metavar="L|none", help="handedness evidence that fixes a hand's side for the rest of its track "
                   f"(default {HandTrackerOptions.side_lock:g}; none: sides always follow the evidence)")
    p.add_argument("--side-wait", type=int_at_least("--side-wait", 0, MAX_COUNT), default=HandTrackerOptions.side_wait,
                   metavar="N", help="a new hand whose side is still unsure is shown once its side evidence holds, "
                   "or after N frames (at 30 fps; scaled with --frame-rate): fewer left/right flips as hands "
                   f"appear, for up to N frames' delay (default {HandTrackerOptions.side_wait}; 0: every hand at once)")
    p.add_argument("--refine-score", type=unit_float("--refine-score"), default=HandTrackerOptions.refine_score,
                   metavar="P", help="a new hand whose mean keypoint confidence is below this is measured again in "
                   f"the crop of its own keypoints (default {HandTrackerOptions.refine_score:g}; 0: never; 1: every "
                   "new hand, e.g. photos with --static)")
    p.add_argument("--min-crop-palms", type=crop_palms_value("--min-crop-palms"),
                   default=HandTrackerOptions.min_crop_palms, metavar="K", help="a tracked hand's crop is at "
                   "least K palm sizes on a side, grown toward the fingers, so a finger its last keypoints folded "
                   f"stays in view (default {HandTrackerOptions.min_crop_palms:g}; 0: the keypoints' own framing)")
    p.add_argument("--crop-hold", type=unit_float("--crop-hold"), default=HandTrackerOptions.crop_hold, metavar="H",
                   help="a tracked hand keeps its last crop while the new one would move or resize it by less than "
                   "this fraction of its side (and turn it by less than 100 H degrees): steadier still hands "
                   f"(a fifth to a third less jitter on the motion benchmarks; default {HandTrackerOptions.crop_hold:g}, "
                   "0: off)")
    p.add_argument("--frame-rate", type=frame_rate_value("--frame-rate"), default=None, metavar="FPS|auto",
                   help="the input's frames per second: the tracker's frame counts (how long a lost hand keeps "
                   "its id, the detector's back-off) are tuned at 30 fps and scaled to it; auto: the video's "
                   "or camera's reported rate (default: counts as at 30 fps)")
    p.add_argument("--landmark-model", metavar="PATH", help="landmark ONNX file (default: shipped model)")
    p.add_argument("--detector-model", metavar="PATH", help="detector ONNX file (default: shipped model)")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging, tracebacks on errors")


def _track_outputs(p: argparse.ArgumentParser, note: str) -> None:
    p.add_argument("-o", "--output", metavar="OUT.mp4",
                   help="write an annotated video (.mp4, .m4v, .mov, .mkv or .avi; codec mp4v)")
    p.add_argument("--json", metavar="TRACKS.jsonl",
                   help=f"write one JSON line per frame; - for standard output {note}".strip())
    p.add_argument("--csv", metavar="TRACKS.csv", help="write one CSV row per frame (34 points); - for standard output")
    p.add_argument("--meta", metavar="RUN.json",
                   help="when the run ends (also on Ctrl-C or an error): write one JSON object saying what made "
                   "the tracks (handtrack version, model files with their sha256 and versions, options, "
                   "command, input, frames, times, completed or not)")


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="handtrack", description="Real-time two-hand keypoint tracker.")
    parser.add_argument("--version", action=_VersionAction,
                        help="print the package, model and onnxruntime versions and exit")
    sub = parser.add_subparsers(dest="command", required=True, metavar="{webcam,video}")
    w = sub.add_parser("webcam", help="live camera window with skeletons (q or Esc quits)")
    w.add_argument("--camera", type=camera_source, default=0, metavar="N|DEVICE|URL",
                   help="camera index (default 0), device file (/dev/video2) or stream URL (rtsp://..., an IP camera)")
    w.add_argument("--every-frame", action="store_true",
                   help="track every camera frame in order (default: the newest one; frames the tracker "
                   "had no time for are skipped, so the view does not lag behind)")
    w.add_argument("--no-window", action="store_true",
                   help="no window (no display needed): track into --json/--csv/-o only; Ctrl-C stops")
    _track_outputs(w, "(frame = camera frame number: gaps are skipped frames)")
    w.add_argument("--max-frames", type=positive_int("--max-frames"), metavar="N", help="stop after N tracked frames")
    from .video import CAMERA_OPEN_TIMEOUT_S, FRAME_TIMEOUT_S
    w.add_argument("--open-timeout", type=positive_float("--open-timeout"), default=CAMERA_OPEN_TIMEOUT_S,
                   metavar="SECONDS", help="seconds to wait for the camera or stream to open and deliver its first "
                   f"frame before giving up (default {CAMERA_OPEN_TIMEOUT_S:g}; a slow network stream may need more)")
    w.add_argument("--frame-timeout", type=positive_float("--frame-timeout"), default=FRAME_TIMEOUT_S,
                   metavar="SECONDS", help="seconds without a new frame after which the camera is taken to have "
                   f"stopped (default {FRAME_TIMEOUT_S:g}; more for a stream that stalls now and then)")
    _common(w)
    v = sub.add_parser("video", help="track a video file, an image or a folder of images")
    v.add_argument("input", metavar="INPUT", nargs="+",
                   help="video file, image file or folder of images; several: one after the other, "
                   "each tracked afresh (-o/--json/--csv then name folders)")
    _track_outputs(v, "")
    v.add_argument("--annotated-images", metavar="FOLDER", default=None,
                   help="image inputs: write each image with its skeletons into this existing folder, under "
                   "its own file name (photos to look through; -o writes them as one video)")
    v.add_argument("--static", action="store_true", help="treat every frame independently (no tracking)")
    v.add_argument("--turn-fallback", action="store_true",
                   help="with --static and --detector-turns 2 or 4: look turned only when the upright look finds "
                   "no hand (photos of unknown orientation, mostly upright: on photos with an upright hand, half "
                   "the false hands and a quarter of the detector time of every turn on every image)")
    v.add_argument("--max-frames", type=positive_int("--max-frames"), metavar="N", help="stop after N frames")
    v.add_argument("--no-progress", action="store_true", help="no progress bar")
    _common(v)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``handtrack`` console script; returns the exit status."""
    parser = make_parser()
    args = parser.parse_args(argv)          # argparse prints usage + one error line, exits 2
    args.command_line = list(sys.argv[1:] if argv is None else argv)     # for --meta
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="handtrack: %(levelname)s: %(message)s")
    with sigterm_handler(_terminate):
        return _run_command(args)


def _run_command(args: argparse.Namespace) -> int:
    """Run the parsed command; errors become one line on stderr and an exit status."""
    try:
        if args.command == "webcam":
            return run_webcam(args)
        return run_video(args)
    except UsageError as e:
        print(f"handtrack: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except (FileNotFoundError, ValueError, TypeError) as e:  # models, options, files
        if args.verbose:
            log.exception("failed")
        print(f"handtrack: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("handtrack: interrupted", file=sys.stderr)
        return 130
    except Terminated:
        print("handtrack: terminated", file=sys.stderr)
        return 128 + signal.SIGTERM
    except BrokenPipeError:
        # the reader of a track stream went away (`--json - | head`): stop quietly, as shell tools
        # do; stdout goes to /dev/null so that the interpreter's last flush does not fail again
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):  # a stdout without a file descriptor (captured in tests)
            pass
        return EXIT_BROKEN_PIPE
    except Exception as e:  # noqa: BLE001 - one line, never a traceback (unless -v)
        if args.verbose:
            log.exception("failed")
        print(f"handtrack: error: {type(e).__name__}: {e} (run with -v for details)", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
