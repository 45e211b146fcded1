"""Session 41 seeded randomized audit of the track files: what ``handtrack video``/``webcam`` write
(``cli.Outputs``: JSONL ``--json`` via ``cli.frame_record``, CSV ``--csv`` via ``cli.csv_row``) and
what ``tracker.io.read_tracks`` reads back (README "Output formats").

1. Round trip: random ``HandTrackerResult`` objects (0-5 hands, ``max_hands`` > 2 included, video
   and static ids, keypoints anywhere, scores at their edges, odd timestamps and frame numbers,
   image names with any character a file name can hold) written with the CLI's own ``Outputs`` and
   read back equal within the documented rounding (pixels 0.01, scores 1e-4, t_ms 1e-3 ms), with
   the CSV's one hand per side (the oldest track; without ids the surest).
2. Malformed files: random corruptions of a good file read back correctly (the harmless ones: CRLF,
   byte order mark, blank lines, a deleted or repeated line, a cut last line) or raise exactly one
   ``ValueError`` (``FileNotFoundError`` for a missing path) naming the file and the line.
3. The JSONL is strict JSON (no NaN / Infinity tokens) for any result the tracker can produce.
"""
from __future__ import annotations

import json
import logging
import re

import numpy as np
import pytest

from tracker import cli
from tracker.hand_tracker import SIDES, Hand, HandTrackerResult
from tracker.io import read_tracks
from tracker.keypoints import NUM_KEYPOINTS

SEED = 4141


# -- random results ------------------------------------------------------------------------------
def _coord(rng) -> float:
    """A pixel coordinate anywhere: in a frame, negative, far outside, large enough that float32 has
    less than 0.01 px resolution."""
    kind = rng.integers(6)
    if kind == 0:
        return float(rng.uniform(-5, 5))
    if kind == 1:
        return float(rng.uniform(0, 4000))
    if kind == 2:
        return float(rng.uniform(-1e5, 1e5))
    if kind == 3:
        return float(rng.choice([0.0, -0.0, 0.005, -0.005, 0.125, 1e-30, 12345.675]))
    if kind == 4:
        return float(rng.uniform(-1e8, 1e8))
    return float(rng.normal(300, 200))


def _score(rng) -> float:
    """A score in [0, 1], often at or next to the edges (and where rounding to 1e-4 carries)."""
    edge = [0.0, 1.0, 1e-12, 1 - 1e-12, 0.00005, 0.99995, 0.99994999, 0.5, 0.12345, 0.99985]
    return float(rng.choice(edge)) if rng.random() < 0.4 else float(rng.uniform(0, 1))


def _hand(rng, side: str, track_id: int) -> Hand:
    kps = np.array([[_coord(rng), _coord(rng)] for _ in range(NUM_KEYPOINTS)], np.float32)
    scores = np.array([_score(rng) for _ in range(NUM_KEYPOINTS)], np.float32)
    box = np.array([*kps.min(0), *kps.max(0)], np.float32)
    return Hand(side, track_id, _score(rng), kps, kps.copy(), scores, box, _score(rng))


def _result(rng, index: int, static: bool) -> HandTrackerResult:
    """Hands as the tracker lists them: left first; of one side by track id in video mode, the surer
    first in static mode (track id -1). Up to 5 hands (``max_hands`` > 2) now and then."""
    n = int(rng.choice([0, 1, 2, 2, 3, 4, 5], p=[0.15, 0.25, 0.3, 0.1, 0.1, 0.05, 0.05]))
    many = n > 2
    sides = [str(rng.choice(SIDES)) for _ in range(n)] if many else \
        [str(s) for s in rng.choice(SIDES, size=n, replace=False)]
    hands = []
    ids = rng.choice(10 ** 6, size=n, replace=False) if rng.random() < 0.5 else \
        rng.choice(2 ** 40, size=n, replace=False)
    for s, tid in zip(sides, ids):
        hands.append(_hand(rng, s, -1 if static else int(tid)))
    if static:
        # one side's hands with the same score after the writers' rounding are another test's
        # subject (test_jsonl_tie_of_rounded_scores_keeps_the_hand_as_array_keeps)
        for h in hands:
            while sum(round(g.score, 4) == round(h.score, 4) for g in hands if g.side == h.side) > 1:
                h.score = float(rng.uniform(0, 1))
        hands.sort(key=lambda h: (SIDES.index(h.side), -h.score))
    else:
        hands.sort(key=lambda h: (SIDES.index(h.side), h.track_id))
    return HandTrackerResult(hands=hands, frame_index=index, timestamp_ms=None, image_size=(640, 480))


def _times(rng, n: int) -> list[float]:
    """Timestamps as a video, a camera or a photo folder gives them: irregular, equal, huge,
    negative (a stream's own clock), fractional."""
    start = float(rng.choice([0.0, -40.0, 1e12, 1.7e12 + 0.0005, 123.4567891, 1e15]))
    steps = [0.0, 1e-4, 0.0005, 33.3333333, 16.6666667, 1e3, 1e9, 41.70833]
    t, out = start, []
    for _ in range(n):
        out.append(t)
        t += float(rng.choice(steps))
    return out


def _frames(rng, n: int) -> list[int]:
    """Frame numbers: 0.. in order, with gaps (skipped images, dropped camera frames), or huge."""
    start = int(rng.choice([0, 0, 7, 2 ** 40, 2 ** 62]))
    out, f = [], start
    for _ in range(n):
        out.append(f)
        f += int(rng.choice([1, 1, 1, 2, 5, 1000]))
    return out


#: characters a file name on Linux can hold ("/" and NUL excepted): separators of CSV and JSON,
#: line breaks, unicode line separators, emoji, combining marks, a byte that is no UTF-8 (as
#: os.fsdecode gives it, a lone surrogate)
NAME_CHARS = list("abcXYZ019 ._-,;\"'\\\n\r\t{}[]:") + ["ä", "é", "ß", "中", "文", "🖐", "\u2028", "\u2029",
                                                        "\u0301", "\ufeff", "\udcff", "\x7f", "\x01", "\u00a0"]


def _image_name(rng) -> str:
    n = int(rng.integers(1, 12))
    stem = "".join(str(rng.choice(NAME_CHARS)) for _ in range(n))
    return stem + str(rng.choice([".png", ".jpg", ".JPEG", "", ".tar.gz", ".png "]))


def _scenario(rng, n: int | None = None):
    """(frames, times, results, image names or None) of one run."""
    n = int(rng.integers(0, 12)) if n is None else n
    static = bool(rng.random() < 0.4)
    frames, times = _frames(rng, n), _times(rng, n)
    results = [_result(rng, i, static) for i in range(n)]
    images = [_image_name(rng) for _ in range(n)] if rng.random() < 0.4 else None
    return frames, times, results, images


def _write(folder, frames, times, results, images, stem="t"):
    """The CLI's own writers (``Outputs``, as ``handtrack video --json --csv``)."""
    js, cs = folder / f"{stem}.jsonl", folder / f"{stem}.csv"
    out = cli.Outputs(None, str(js), str(cs), fps=30.0)
    for i, (f, t, r) in enumerate(zip(frames, times, results)):
        out.write(f, t, r, None, None if images is None else images[i])
    out.close()
    return js, cs


# -- comparing -----------------------------------------------------------------------------------
def _near(got, want, step: float) -> bool:
    """|got - want| within half the writers' rounding ``step`` plus float32 storage (one ulp of
    the value, which exceeds 0.01 px beyond about 131072 px)."""
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    tol = step / 2 * (1 + 1e-9) + np.spacing(np.abs(want).astype(np.float32)).astype(np.float64)
    same_nan = np.isnan(got) == np.isnan(want)
    return bool(same_nan.all() and (np.abs(np.nan_to_num(got - want)) <= np.nan_to_num(tol)).all())


def _check_keypoints(got: np.ndarray, want: np.ndarray, what: str) -> None:
    assert got.shape == want.shape and got.dtype == np.float32, what
    assert np.array_equal(np.isnan(got), np.isnan(want)), f"{what}: NaN where the frame has no hand"
    assert _near(got[..., :2], want[..., :2], 0.01), f"{what}: x, y beyond 0.01 px rounding"
    assert _near(got[..., 2], want[..., 2], 1e-4), f"{what}: scores beyond 1e-4 rounding"


def _check_tracks(t, frames, times, results, images, fmt: str, source) -> None:
    n = len(results)
    assert len(t) == n and t.source == source
    assert t.frame.dtype == np.int64 and t.frame.tolist() == frames
    assert t.t_ms.dtype == np.float64
    for i in range(n):
        assert abs(t.t_ms[i] - times[i]) <= 5e-4 * (1 + 1e-9) + np.spacing(abs(times[i])), (i, t.t_ms[i], times[i])
    want = np.stack([r.as_array() for r in results]) if n else np.empty((0, 34, 3), np.float32)
    _check_keypoints(t.keypoints, want, f"{fmt} keypoints")
    assert t.keypoints.shape == (n, 34, 3) and t.box.shape == (n, 2, 4)
    if fmt == "csv":
        assert (t.track_id == -1).all() and np.isnan(t.presence).all() and np.isnan(t.handedness).all()
        assert np.isnan(t.box).all() and t.image is None
        return
    if images is None or n == 0:
        assert t.image is None
    else:
        assert t.image.tolist() == images
    for i, r in enumerate(results):
        for k, side in enumerate(SIDES):
            h = r.hand(side)
            if h is None:
                assert t.track_id[i, k] == -1 and np.isnan(t.presence[i, k]) and np.isnan(t.box[i, k]).all()
                continue
            assert t.track_id[i, k] == h.track_id
            assert _near(t.presence[i, k], h.score, 1e-4) and _near(t.handedness[i, k], h.handedness, 1e-4)
            assert _near(t.box[i, k], h.box, 0.01)


def _strict_json(text: str) -> dict:
    def refuse(token):
        raise AssertionError(f"not strict JSON: {token}")
    return json.loads(text, parse_constant=refuse)


# -- 1 and 3: round trip, strict JSON ------------------------------------------------------------
def test_random_results_read_back_within_the_rounding(tmp_path, caplog):
    """200 random runs through the CLI's writers: both files read back as written (within the
    rounding), the JSONL has every hand and is strict JSON, the CSV is the header and one
    ``\\r\\n`` row per frame, and several hands of a side are counted in one warning."""
    rng = np.random.default_rng(SEED)
    for run in range(200):
        frames, times, results, images = _scenario(rng)
        folder = tmp_path / f"r{run}"
        folder.mkdir()
        js, cs = _write(folder, frames, times, results, images)
        # the JSONL: one strict JSON object per line, each the result's own to_dict()
        lines = js.read_bytes().split(b"\n")
        assert lines[-1] == b"" and len(lines) == len(results) + 1
        for i, line in enumerate(lines[:-1]):
            rec = _strict_json(line.decode("ascii"))
            want = results[i].to_dict(frames[i], times[i])
            if images is not None:
                assert list(rec)[:3] == ["frame", "t_ms", "image"] and rec.pop("image") == images[i]
            assert rec == want
        rows = cs.read_bytes().split(b"\r\n")
        assert rows[-1] == b"" and len(rows) == len(results) + 2
        assert rows[0].decode() == ",".join(cli.csv_header())
        for path, fmt in ((js, "jsonl"), (cs, "csv")):
            caplog.clear()
            with caplog.at_level(logging.WARNING, logger="tracker.io"):
                t = read_tracks(path)
            _check_tracks(t, frames, times, results, images, fmt, path)
            extra = sum(max(0, sum(h.side == s for h in r.hands) - 1) for r in results for s in SIDES)
            if fmt == "jsonl" and extra:
                assert f"{extra} hands left out" in caplog.text
            else:
                assert caplog.text == "", caplog.text


def test_format_by_suffix_and_explicit(tmp_path):
    """The suffix picks the format case-blind (.jsonl, .json, .csv); any other name (no suffix, a
    dot file, .jsonl.bak, .txt) is a ValueError naming the file unless ``format`` is given, which
    then wins over the suffix. Odd characters in the path are no problem."""
    rng = np.random.default_rng(SEED + 1)
    frames, times, results, images = _scenario(rng, n=6)
    js, cs = _write(tmp_path, frames, times, results, images)
    content = {"jsonl": js.read_bytes(), "csv": cs.read_bytes()}
    by_suffix = {"x.JSONL": "jsonl", "x.Json": "jsonl", "x.json": "jsonl", "ä, \"q\" 'x'.jsonl": "jsonl",
                 "x.CSV": "csv", "a b,c.csv": "csv", "x.tar.csv": "csv", "中文.csv": "csv"}
    for name, fmt in by_suffix.items():
        p = tmp_path / name
        p.write_bytes(content[fmt])
        _check_tracks(read_tracks(p), frames, times, results, images, fmt, p)
        _check_tracks(read_tracks(str(p), format=fmt), frames, times, results, images, fmt, p)
    for name in ("x", ".jsonl", "x.jsonl.bak", "x.txt", "x.jsonl ", "x.", "x.tsv"):
        for fmt in ("jsonl", "csv"):
            p = tmp_path / name
            p.write_bytes(content[fmt])
            with pytest.raises(ValueError) as e:
                read_tracks(p)
            assert str(p) in str(e.value) and "format=" in str(e.value)
            _check_tracks(read_tracks(p, format=fmt), frames, times, results, images, fmt, p)
    # format given against the suffix: the content is read as that format
    p = tmp_path / "really_jsonl.csv"
    p.write_bytes(content["jsonl"])
    _check_tracks(read_tracks(p, format="jsonl"), frames, times, results, images, "jsonl", p)
    for bad in ("JSONL", "json", "CSV", "", "tsv"):
        with pytest.raises(ValueError, match="format must be"):
            read_tracks(js, format=bad)


def test_jsonl_is_strict_json_for_any_finite_result():
    """Extreme but finite values (what the tracker gives: its timestamps are checked finite, its
    keypoints and scores are model outputs) write no NaN / Infinity token."""
    rng = np.random.default_rng(SEED + 2)
    big = [3.4e38, -3.4e38, 1e-45, -1e-45, 1e300, -1e300, 5e-324]
    for _ in range(300):
        r = _result(rng, 0, bool(rng.random() < 0.5))
        for h in r.hands:
            h.keypoints[rng.integers(17), rng.integers(2)] = np.float32(rng.choice(big[:4]))
        t = float(rng.choice(big + [0.0, -0.0]))
        line = json.dumps(cli.frame_record(int(rng.integers(2 ** 62)), t, r, _image_name(rng)),
                          separators=(",", ":"))
        _strict_json(line)
        assert "\n" not in line and "\r" not in line and line.isascii()
        row = cli.csv_row(0, t, r)
        assert not any(isinstance(c, float) and not np.isfinite(c) for c in row)


# -- 2: malformed files --------------------------------------------------------------------------
def _lines(data: bytes) -> list[bytes]:
    return data.splitlines(keepends=True)


def _same(t, ref, keep: list[int]) -> None:
    """``t`` holds frames ``keep`` of ``ref``, field for field."""
    assert len(t) == len(keep)
    for name in ("frame", "t_ms", "keypoints", "track_id", "presence", "handedness", "box"):
        got, want = getattr(t, name), getattr(ref, name)[keep]
        assert got.dtype == want.dtype and np.array_equal(got, want, equal_nan=got.dtype.kind == "f"), name
    if ref.image is None or not keep:
        assert t.image is None
    else:
        assert t.image.tolist() == ref.image[keep].tolist()


def _consistent(t) -> None:
    """Whatever a lenient read gave: arrays of one length and the documented shapes and dtypes."""
    n = len(t)
    assert t.frame.shape == (n,) and t.frame.dtype == np.int64 and t.t_ms.shape == (n,)
    assert t.keypoints.shape == (n, 34, 3) and t.keypoints.dtype == np.float32
    assert t.track_id.shape == (n, 2) and t.presence.shape == (n, 2) and t.box.shape == (n, 2, 4)
    assert t.image is None or t.image.shape == (n,)


def _number_spans(line: bytes) -> list[tuple[int, int]]:
    return [m.span() for m in re.finditer(rb"-?\d+(\.\d+)?([eE][-+]?\d+)?", line)]


def _corrupt(rng, data: bytes, fmt: str):
    """One random corruption of a good file: (kind, new bytes, expectation). Expectations:
    ("same", frames) reads back as those frames of the good file; ("cut", frames, line) those
    frames, the cut ``line`` left out with a warning or (its text complete but for the line
    break) kept; ("error", line) a ValueError naming the file and ``line``; ("any", lines) reads
    back or a ValueError naming the file and one of ``lines`` (None: any line)."""
    lines = _lines(data)
    head = 1 if fmt == "csv" else 0                 # the CSV's line 1 is its header
    n = len(lines) - head                            # frames
    eol = b"\r\n" if fmt == "csv" else b"\n"
    every = list(range(n))
    kind = str(rng.choice(["crlf", "bom", "blank", "delete", "duplicate", "truncate", "truncate", "truncate",
                           "swap", "wrong_type", "nan_token", "extra", "missing_header", "flip", "flip",
                           "junk_line", "non_utf8"]))
    j = int(rng.integers(head, len(lines))) if n else None     # a data line (0-based)
    if kind == "crlf":
        other = b"\n" if fmt == "csv" else b"\r\n"
        if rng.random() < 0.4:
            # classic Mac line ends (universal newlines), a Windows text-mode stdout's "\r\r\n"
            other = bytes(rng.choice([b"\r", b"\r\r\n"]))
        return kind, b"".join(ln[:-len(eol)] + other for ln in lines), ("same", every)
    if kind == "bom":
        return kind, b"\xef\xbb\xbf" + data, ("same", every)
    if kind == "blank":
        out = list(lines)
        for _ in range(int(rng.integers(1, 4))):
            blank = eol if fmt == "csv" else bytes(rng.choice([b"\n", b"\r\n", b"   \n", b"\t\r\n"]))
            out.insert(int(rng.integers(head, len(out) + 1)), blank)
        return kind, b"".join(out), ("same", every)
    if kind in ("delete", "duplicate") and n:
        out = list(lines)
        if kind == "delete":
            del out[j]
            return kind, b"".join(out), ("same", [i for i in every if i != j - head])
        out.insert(j, lines[j])
        return kind, b"".join(out), ("same", every[:j - head + 1] + every[j - head:])
    if kind == "truncate":
        cut = int(rng.integers(0, len(data) + 1))
        starts = np.cumsum([0] + [len(ln) for ln in lines])
        k = int(np.searchsorted(starts, cut, side="right")) - 1     # the line the cut falls in
        if cut == len(data) or cut == starts[k]:
            return kind, data[:cut], ("same", every[:max(0, k - head)]) if k >= head else \
                ("error", 1) if cut else ("error", 1) if fmt == "csv" else ("same", [])
        if k < head:
            return kind, data[:cut], ("any", [1])   # a CSV header cut short (the writer writes it whole)
        return kind, data[:cut], ("cut", every[:k - head], k + 1)
    if kind == "swap" and n:
        out = list(lines)
        if fmt == "jsonl":
            rec = json.loads(lines[j])
            obj = rec["hands"][int(rng.integers(len(rec["hands"])))] if rec["hands"] and rng.random() < 0.6 else rec
            a, b = rng.choice(list(obj), size=2, replace=False)
            obj[a], obj[b] = obj[b], obj[a]
            out[j] = json.dumps(rec).encode() + eol
        else:
            cells = lines[j][:-2].split(b",")
            a, b = rng.choice(len(cells), size=2, replace=False)
            cells[a], cells[b] = cells[b], cells[a]
            out[j] = b",".join(cells) + eol
        return kind, b"".join(out), ("any", [j + 1])
    if kind in ("wrong_type", "nan_token") and n:
        out = list(lines)
        spans = _number_spans(lines[j])
        a, b = spans[int(rng.integers(len(spans)))]
        if kind == "wrong_type":
            tokens = [b'"x"', b"true", b"null", b"[]", b"{}", b'"1"', b"1e999", b"0x10", b"--1", b"1.2.3",
                      b"", b"+1", b"'1'"]
        else:
            tokens = [b"NaN", b"Infinity", b"-Infinity", b"nan", b"inf", b"-inf", b"1e999", b"-1e999"]
        out[j] = lines[j][:a] + bytes(rng.choice(tokens)) + lines[j][b:]
        return kind, b"".join(out), ("any", [j + 1])
    if kind == "extra" and (fmt == "csv" or n):
        out = list(lines)
        if fmt == "csv":
            j = int(rng.integers(0, len(lines)))
            out[j] = lines[j][:-2] + bytes(rng.choice([b",1", b",", b",x,y"])) + eol
            return kind, b"".join(out), ("error", j + 1)
        rec = json.loads(lines[j])
        rec["extra"] = [1, {"a": None}]
        out[j] = json.dumps(rec).encode() + eol
        return kind, b"".join(out), ("same", every)
    if kind == "missing_header" and fmt == "csv":
        return kind, b"".join(lines[1:]), ("error", 1)
    if kind == "flip" and data:
        at = int(rng.integers(len(data)))
        new = bytes([int(rng.integers(1, 128))]) if rng.random() < 0.8 else bytes([ord(rng.choice(list(' ,"{}[]:\n\r')))])
        starts = np.cumsum([0] + [len(ln) for ln in lines])
        k = int(np.searchsorted(starts, at, side="right")) - 1
        return kind, data[:at] + new + data[at + 1:], ("any", None if new in (b'"',) else [k + 1, k + 2])
    if kind == "junk_line":
        out = list(lines)
        at = int(rng.integers(head, len(lines) + 1))
        junk = "".join(str(rng.choice(list("abc{}[]\",:0.5- \tNaN"))) for _ in range(int(rng.integers(1, 30))))
        out.insert(at, junk.encode() + eol)
        return kind, b"".join(out), ("any", [at + 1])
    if kind == "non_utf8" and n:
        out = list(lines)
        at = int(rng.integers(0, len(lines[j]) - len(eol) + 1))
        bad = bytes(rng.choice([b"\xff", b"\xfe", b"\x80", b"\xc3(", b"\xed\xa0\x80", b"\xe4\xb8"]))
        out[j] = lines[j][:at] + bad + lines[j][at:]
        return kind, b"".join(out), ("any", [j + 1])
    return "none", data, ("same", every)


def _check_corrupt(path, kind, expect, ref, caplog) -> None:
    caplog.clear()
    try:
        with caplog.at_level(logging.WARNING, logger="tracker.io"):
            t = read_tracks(path)
    except Exception as e:              # noqa: BLE001 - the type is what is checked
        msg = str(e)
        assert type(e) is ValueError, f"{kind}: {type(e).__name__}: {msg}"
        assert str(path) in msg, f"{kind}: the message does not name the file: {msg}"
        if "not UTF-8" in msg or "codec can't decode" in msg:    # test_non_utf8_byte_is_named_with_its_line
            return
        named = re.search(r", line (\d+): ", msg)
        assert named, f"{kind}: the message names no line: {msg}"
        if expect[0] == "error" or (expect[0] == "any" and expect[1] is not None):
            lines = [expect[1]] if expect[0] == "error" else expect[1]
            assert int(named.group(1)) in lines, f"{kind}: expected line {lines}: {msg}"
        else:
            assert expect[0] == "any", f"{kind}: should read back, got {msg}"
        return
    _consistent(t)
    assert expect[0] != "error", f"{kind}: should be an error naming line {expect[1]}"
    if expect[0] == "same":
        _same(t, ref, expect[1])
        assert "unfinished" not in caplog.text
    elif expect[0] == "cut":
        keep, line = expect[1], expect[2]
        if len(t) == len(keep):
            _same(t, ref, keep)
            assert str(path) in caplog.text and f"line {line} is unfinished" in caplog.text, caplog.text
        else:                           # only the line break was cut, or the CSV's last cell
            assert len(t) == len(keep) + 1 and "unfinished" not in caplog.text
            _same(_head(t, len(keep)), ref, keep)


def _head(t, n):
    from dataclasses import replace
    return replace(t, **{k: getattr(t, k)[:n] for k in ("frame", "t_ms", "keypoints", "track_id", "presence",
                                                         "handedness", "box")},
                   image=None if t.image is None else t.image[:n])


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_random_corruptions_read_back_or_name_file_and_line(tmp_path, caplog, fmt):
    """Random corruptions of good files: the harmless ones read back as the good file, a cut last
    line is left out with a warning naming it, and everything else is one ValueError naming the
    file and the line (never a KeyError, IndexError, TypeError, UnicodeDecodeError...)."""
    rng = np.random.default_rng(SEED + (3 if fmt == "jsonl" else 4))
    seen = {}
    for base in range(20):
        frames, times, results, images = _scenario(rng, n=int(rng.integers(1, 7)))
        folder = tmp_path / f"b{base}"
        folder.mkdir()
        js, cs = _write(folder, frames, times, results, images)
        good = js if fmt == "jsonl" else cs
        ref = read_tracks(good)
        data = good.read_bytes()
        for i in range(30):
            kind, bad, expect = _corrupt(rng, data, fmt)
            seen[kind] = seen.get(kind, 0) + 1
            if fmt == "csv" and b'"' in bad and expect[0] in ("any", "error"):
                # a quote opens a field that runs on over the line ends: the error names a later line
                # (test_csv_stray_quote_names_its_own_line)
                expect = ("any", None)
            path = folder / f"c{i} ä,\"x\".{fmt}"
            path.write_bytes(bad)
            _check_corrupt(path, kind, expect, ref, caplog)
    assert len(seen) >= 14, seen


def test_empty_file_folder_and_missing_path(tmp_path):
    """An empty JSONL is no frames, an empty CSV lacks its header (line 1); a folder is a ValueError
    and a missing path a FileNotFoundError, each naming the path."""
    (tmp_path / "e.jsonl").write_bytes(b"")
    assert len(read_tracks(tmp_path / "e.jsonl")) == 0
    (tmp_path / "e.csv").write_bytes(b"")
    with pytest.raises(ValueError, match=r"e\.csv, line 1: empty file"):
        read_tracks(tmp_path / "e.csv")
    for name in ("d.jsonl", "d.csv"):
        (tmp_path / name).mkdir()
        with pytest.raises(ValueError, match=re.escape(str(tmp_path / name)) + " is a folder"):
            read_tracks(tmp_path / name)
        with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / "no" / name))):
            read_tracks(tmp_path / "no" / name)


# -- found by this audit, fixed in the same session ------------------------------------------
def _good_files(tmp_path, n=5, seed=SEED + 5):
    rng = np.random.default_rng(seed)
    results = [HandTrackerResult(hands=[_hand(rng, "left", 1), _hand(rng, "right", 2)]) for _ in range(n)]
    return _write(tmp_path, list(range(n)), [33.3 * i for i in range(n)], results, None)


def test_jsonl_tie_of_rounded_scores_keeps_the_hand_as_array_keeps(tmp_path):
    rng = np.random.default_rng(SEED + 6)
    surer, other = _hand(rng, "left", -1), _hand(rng, "left", -1)
    surer.score, other.score = 0.99993, 0.99987       # both written as 0.9999
    r = HandTrackerResult(hands=[surer, other])       # static mode lists the surer first
    js, cs = _write(tmp_path, [0], [0.0], [r], None)
    tc = read_tracks(cs)
    _check_keypoints(tc.keypoints, r.as_array()[None], "csv")
    assert np.array_equal(read_tracks(js).keypoints, tc.keypoints, equal_nan=True)


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_non_utf8_byte_is_named_with_its_line(tmp_path, fmt):
    js, cs = _good_files(tmp_path)
    path = js if fmt == "jsonl" else cs
    lines = _lines(path.read_bytes())
    lines[3] = lines[3][:20] + b"\xff" + lines[3][20:]
    path.write_bytes(b"".join(lines))
    with pytest.raises(ValueError) as e:
        read_tracks(path)
    assert f"{path}, line 4:" in str(e.value), str(e.value)


@pytest.mark.parametrize("cut", [False, True])
def test_csv_stray_quote_names_its_own_line(tmp_path, cut):
    _, cs = _good_files(tmp_path, n=6)
    lines = _lines(cs.read_bytes())
    cells = lines[2].split(b",")
    cells[7] = b'"' + cells[7]
    lines[2] = b",".join(cells)                       # line 3 (frame 1)
    if cut:
        lines[-1] = lines[-1][:len(lines[-1]) // 2]
    cs.write_bytes(b"".join(lines))
    with pytest.raises(ValueError) as e:
        read_tracks(cs)
    assert f"{cs}, line 3:" in str(e.value), str(e.value)


def test_deeply_nested_jsonl_line_is_one_value_error(tmp_path):
    js, _ = _good_files(tmp_path)
    lines = _lines(js.read_bytes())
    lines[1] = b'{"frame":1,"t_ms":0,"hands":' + b"[" * 100_000 + b"]" * 100_000 + b"}\n"
    js.write_bytes(b"".join(lines))
    with pytest.raises(ValueError, match=re.escape(f"{js}, line 2:")):
        read_tracks(js)


def test_jsonl_left_out_hand_is_still_checked(tmp_path):
    rng = np.random.default_rng(SEED + 7)
    r = HandTrackerResult(hands=[_hand(rng, "left", 1), _hand(rng, "left", 5)])
    js, _ = _write(tmp_path, [0], [0.0], [r], None)
    rec = json.loads(js.read_text())
    rec["hands"][1]["keypoints"] = "garbage"
    rec["hands"][1]["box"] = {"x": 1}
    js.write_text(json.dumps(rec) + "\n")
    with pytest.raises(ValueError, match=re.escape(f"{js}, line 1: hand 1")):
        read_tracks(js)
