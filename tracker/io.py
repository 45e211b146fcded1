"""Read the track files that ``handtrack video`` writes (``--json`` JSONL, ``--csv`` CSV) back
into arrays laid out like :meth:`tracker.hand_tracker.HandTrackerResult.as_array`.

    from tracker.io import read_tracks

    tracks = read_tracks("tracks.jsonl")              # or "tracks.csv"
    right = tracks.side("right")                      # (T, 17, 3): x, y pixels, score
    seen = tracks.present[:, 1]                       # (T,) frames with a right hand
    print(tracks.frame[seen], right[seen, 0, :2])     # right wrist positions

The CSV holds keypoints only: its ``track_id`` are all -1 and its ``presence``, ``handedness``
and ``box`` all NaN (as are ``handedness`` and ``box`` of JSONL files written before they were
added). Files written with ``--max-hands`` > 2 can hold several hands of a side in a frame: the
one ``as_array()`` keeps is kept (the oldest track, lowest ``track_id``, so that a slot stays on one
hand over frames; without ids, -1, the highest-scoring) and the others are counted in a warning.
Malformed input raises one ``ValueError`` naming the file and the line, except an unfinished last
line (no line break after it, as a run stopped mid-write leaves it): that one is left out with a
warning. The writers round pixels (keypoints, boxes) to 0.01, scores to 1e-4 and ``t_ms`` to 1e-3 ms.
"""
from __future__ import annotations

import csv
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from .cli import csv_header
from .hand_tracker import SIDES, slot_order
from .keypoints import KEYPOINT_NAMES, NUM_KEYPOINTS

log = logging.getLogger(__name__)

FORMATS = {".jsonl": "jsonl", ".json": "jsonl", ".csv": "csv"}


@dataclass
class Tracks:
    """The hands of T frames, one left and one right slot per frame (slot 0 left, 1 right).

    Attributes:
        frame: (T,) int64 frame indices.
        t_ms: (T,) float64 frame timestamps in milliseconds.
        keypoints: (T, 34, 3) float32, rows 0-16 left hand, 17-33 right hand; columns x, y in
            pixels of the input frame and score in [0, 1]; NaN rows where a hand is absent.
        track_id: (T, 2) int64 track ids, -1 where absent or unknown (CSV).
        presence: (T, 2) float32 hand presence score in [0, 1], NaN where absent or unknown (CSV).
        handedness: (T, 2) float32 probability of the slot's side, NaN where absent or unknown.
        box: (T, 2, 4) float32 x0, y0, x1, y1 pixels around the keypoints, NaN where absent or unknown.
        source: the file read.
        image: (T,) str, the image file of each frame when the input was images (JSONL ``"image"``),
            else None.
    """

    frame: np.ndarray
    t_ms: np.ndarray
    keypoints: np.ndarray
    track_id: np.ndarray
    presence: np.ndarray
    handedness: np.ndarray
    box: np.ndarray
    source: Path
    image: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.frame)

    def side(self, name: str) -> np.ndarray:
        """(T, 17, 3) view of ``keypoints`` for ``name`` = "left" or "right"."""
        if name not in SIDES:
            raise ValueError(f"name must be 'left' or 'right', got {name!r}")
        k = SIDES.index(name)
        return self.keypoints[:, k * NUM_KEYPOINTS:(k + 1) * NUM_KEYPOINTS]

    @property
    def present(self) -> np.ndarray:
        """(T, 2) bool: whether the left / right hand is present in each frame."""
        return ~np.isnan(self.keypoints.reshape(len(self), 2, NUM_KEYPOINTS * 3)).all(axis=2)


# the arrays of a frame without hands, one item of each per-frame field of Tracks
_NO_HANDS: dict[str, np.ndarray] = {
    "keypoints": np.full((2 * NUM_KEYPOINTS, 3), np.nan, np.float32),
    "track_id": np.full(2, -1, np.int64), "presence": np.full(2, np.nan, np.float32),
    "handedness": np.full(2, np.nan, np.float32), "box": np.full((2, 4), np.nan, np.float32)}


class _Builder:
    """Collects frames, then stacks them into a :class:`Tracks`."""

    def __init__(self) -> None:
        self.frame: list[int] = []
        self.t_ms: list[float] = []
        self.hands: list[dict[str, np.ndarray]] = []
        self.image: list[str | None] = []
        self.extra = 0          # hands left out: more than one of a side in a frame
        self.cut: int | None = None     # the line number of an unfinished last line left out

    def add(self, frame: int, t_ms: float, image: str | None = None) -> dict:
        """Appends a frame without hands; returns its arrays (copies of ``_NO_HANDS``) to fill in."""
        self.frame.append(frame)
        self.t_ms.append(t_ms)
        self.image.append(image)
        self.hands.append({k: v.copy() for k, v in _NO_HANDS.items()})
        return self.hands[-1]

    def drop_from(self, n: int) -> None:
        """Forgets the frames added after the first ``n``."""
        for items in (self.frame, self.t_ms, self.hands, self.image):
            del items[n:]

    def build(self, source: Path) -> Tracks:
        arrays = {k: np.stack([h[k] for h in self.hands]) if self.hands else np.empty((0, *v.shape), v.dtype)
                  for k, v in _NO_HANDS.items()}
        image = None
        if any(i is not None for i in self.image):
            image = np.asarray(["" if i is None else i for i in self.image], dtype=str)
        return Tracks(frame=np.asarray(self.frame, np.int64), t_ms=np.asarray(self.t_ms, np.float64),
                      source=source, image=image, **arrays)


def _number(value, what: str, integer: bool = False):
    """A JSON number or CSV cell as float (int when ``integer``, within int64); ValueError naming ``what``."""
    number = None
    try:
        if isinstance(value, str) or (isinstance(value, (int, float)) and not isinstance(value, bool)
                                      and (not integer or float(value).is_integer())):
            number = int(value) if integer else float(value)
    except (ValueError, OverflowError):
        pass
    if number is None:
        raise ValueError(f"{what} is not {'an integer' if integer else 'a number'}: {value!r:.40}")
    if integer and not -2 ** 63 <= number < 2 ** 63:     # the int64 arrays of Tracks
        raise ValueError(f"{what} is out of range (int64): {value!r:.40}")
    return number


def _array(value, shape: tuple, what: str) -> np.ndarray:
    """Nested JSON lists of ``shape`` (``(n,)`` or ``(n, m)``) as float32."""
    rows = value if len(shape) == 2 else [value]
    got: str | None
    if not (isinstance(value, list) and len(value) == shape[0]):
        got = f"{len(value)} items" if isinstance(value, list) else f"{value!r:.40}"
    else:
        got = next((f"item {j} is {r!r:.40}" for j, r in enumerate(rows)
                    if not (isinstance(r, list) and len(r) == shape[-1])), None)
    if got is not None:
        raise ValueError(f"{what} must be {' x '.join(map(str, shape))} numbers, got {got}")
    return np.asarray([_number(v, what) for r in rows for v in r], np.float32).reshape(shape)


class _NotJSON(ValueError):
    """A line that is not JSON at all (a line cut short among them)."""


def _unfinished(text: str) -> bool:
    """Whether a line read with ``newline=""`` lacks its line break: only the last line of a file
    can, and the writers end every line, so it was cut short (or saved without one)."""
    return not text.endswith(("\n", "\r"))


def _check_utf8(text: str) -> None:
    """ValueError unless ``text`` (read with ``errors="surrogateescape"``) was UTF-8: a decoding
    error of the whole file named a position in the decoder's chunk, not the line."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("not UTF-8 text") from None


def _jsonl_line(out: _Builder, line: str) -> None:
    _check_utf8(line)
    try:
        rec = json.loads(line)
    except (json.JSONDecodeError, RecursionError) as e:      # RecursionError: a line of nested [[[...
        raise _NotJSON(f"not valid JSON ({type(e).__name__}: {e})"[:300]) from None
    if not isinstance(rec, dict) or not isinstance(rec.get("hands", []), list):
        raise ValueError("expected an object {\"frame\", \"t_ms\", \"hands\": [...]}")  # noqa: TRY004 - bad file content
    missing = [k for k in ("frame", "t_ms", "hands") if k not in rec]
    if missing:
        raise ValueError(f"missing key {missing[0]!r}")
    image = rec.get("image")
    if image is not None and not isinstance(image, str):
        raise ValueError(f"image must be a file name, got {image!r:.40}")
    arr = out.add(_number(rec["frame"], "frame", integer=True), _number(rec["t_ms"], "t_ms"), image)
    seen = set()
    for n, h in enumerate(rec["hands"]):
        what = f"hand {n}"
        if not isinstance(h, dict):
            raise ValueError(f"{what} is not an object")  # noqa: TRY004 - bad file content
        missing = [k for k in ("side", "track_id", "score", "keypoints") if k not in h]
        if missing:
            raise ValueError(f"{what}: missing key {missing[0]!r}")
        if h["side"] not in SIDES:
            raise ValueError(f"{what}: side must be 'left' or 'right', got {h['side']!r}")
        k = SIDES.index(h["side"])
        # every hand is checked, also one of a side's extra hands that is left out below
        score = np.float32(_number(h["score"], f"{what}: score"))    # as stored: ties compare alike
        track_id = _number(h["track_id"], f"{what}: track_id", integer=True)
        kps = _array(h["keypoints"], (NUM_KEYPOINTS, 3), f"{what}: keypoints")
        # older files have neither handedness nor box
        handedness = None if h.get("handedness") is None else _number(h["handedness"], f"{what}: handedness")
        box = None if h.get("box") is None else _array(h["box"], (4,), f"{what}: box")
        if h["side"] in seen:
            # --max-hands > 2 writes several hands of a side: keep the one as_array() keeps
            out.extra += 1
            if not slot_order(track_id, float(score)) < slot_order(arr["track_id"][k], arr["presence"][k]):
                continue
        seen.add(h["side"])
        arr["keypoints"][k * NUM_KEYPOINTS:(k + 1) * NUM_KEYPOINTS] = kps
        arr["track_id"][k] = track_id
        arr["presence"][k] = score
        arr["handedness"][k] = np.nan if handedness is None else handedness
        arr["box"][k] = np.nan if box is None else box


def _read_jsonl(out: _Builder, f) -> None:
    for line, text in enumerate(f, 1):
        if text.strip():
            try:
                _jsonl_line(out, text)
            except ValueError as e:
                # a JSON object that parses is complete: only a broken one (of a record) was cut
                if isinstance(e, _NotJSON) and _unfinished(text) and text.lstrip().startswith("{"):
                    out.cut = line
                    break
                raise ValueError(f"line {line}: {e}") from None


def _read_csv(out: _Builder, f) -> None:
    header = csv_header()
    col = {c: j for j, c in enumerate(header)}
    # each side's cells in keypoints order: (2, 17 * 3) column indices
    cells = [[col[f"{side}_{name}_{c}"] for name in KEYPOINT_NAMES for c in ("x", "y", "score")]
             for side in SIDES]
    last_text, last_n = "", 0   # the text line the reader took last (was its row cut short?), its number

    def lines() -> Iterator[str]:
        nonlocal last_text, last_n
        for n, text in enumerate(f, 1):
            last_text, last_n = text, n
            _check_utf8(text)
            yield text
    # QUOTE_NONE: the writer never quotes (numbers only), so a row is one line; a '"' opening a
    # cell made the reader run on over the following lines and name the file's last one
    reader = csv.reader(lines(), quoting=csv.QUOTE_NONE)
    try:
        first = next(reader, None)
        if first is None:
            raise ValueError("empty file, expected the CSV header")
        for j, (got, want) in enumerate(zip(first, header)):
            if got != want:
                raise ValueError(f"header column {j + 1} is {got!r}, expected {want!r}")
        if len(first) != len(header):
            raise ValueError(f"header has {len(first)} columns, expected {len(header)}")
        for row in reader:
            if not row:         # a blank line: "\r\r\n" row ends of a text-mode stdout on Windows, a trailing one
                continue
            kept = len(out.frame)
            try:
                if len(row) != len(header):
                    raise ValueError(f"row has {len(row)} cells, expected {len(header)}")
                arr = out.add(_number(row[col["frame"]], "frame", integer=True), _number(row[col["t_ms"]], "t_ms"))
                for k, side in enumerate(SIDES):
                    empty = sum(row[j] == "" for j in cells[k])
                    if empty == len(cells[k]):
                        continue
                    if empty:
                        raise ValueError(f"{side} hand has {empty} of its {len(cells[k])} cells empty (all or none)")
                    vals = [_number(row[j], f"column {header[j]!r}") for j in cells[k]]
                    arr["keypoints"][k * NUM_KEYPOINTS:(k + 1) * NUM_KEYPOINTS] = np.reshape(vals, (NUM_KEYPOINTS, 3))
            except ValueError:
                if not _unfinished(last_text):
                    raise
                out.drop_from(kept)
                out.cut = last_n
                break
    except (ValueError, csv.Error) as e:
        raise ValueError(f"line {max(last_n, 1)}: {e}") from None


def read_tracks(path: str | os.PathLike[str], format: str | None = None) -> Tracks:
    """Read a ``handtrack video`` JSONL (``format="jsonl"``) or CSV (``"csv"``) file; the format
    defaults to the suffix (.jsonl, .json, .csv).

    Raises:
        FileNotFoundError: no such file. ValueError: unknown suffix or format, a folder, malformed
        file (the message names the file and the line).
    """
    path = Path(path)
    if format is None:
        if path.suffix.lower() not in FORMATS:
            raise ValueError(f"{path}: unknown track file suffix {path.suffix!r}; accepted: "
                             f"{', '.join(FORMATS)} (or pass format='jsonl' or 'csv')")
        format = FORMATS[path.suffix.lower()]
    elif format not in ("jsonl", "csv"):
        raise ValueError(f"format must be 'jsonl' or 'csv', got {format!r}")
    if not path.exists():
        raise FileNotFoundError(f"track file {path} does not exist")
    if path.is_dir():
        raise ValueError(f"track file {path} is a folder")
    out = _Builder()
    # -sig: skips a byte order mark; surrogateescape: a byte that is no UTF-8 is told with its line
    with open(path, encoding="utf-8-sig", errors="surrogateescape", newline="") as f:
        try:
            (_read_jsonl if format == "jsonl" else _read_csv)(out, f)
        except ValueError as e:             # "line N: what is wrong"
            raise ValueError(f"{path}, {e}") from None
    tracks = out.build(path)
    if out.cut is not None:
        log.warning("%s: line %d is unfinished (no line break after it, as a run stopped mid-write leaves "
                    "it) and not readable; left out, %d frames read", path, out.cut, len(tracks))
    if out.extra:
        log.warning("%s: %d hands left out (more than one left or right hand in a frame, as --max-hands > 2 "
                    "writes); Tracks keep the oldest track of each side (as as_array())", path, out.extra)
    log.debug("read %d frames from %s", len(tracks), path)
    return tracks
