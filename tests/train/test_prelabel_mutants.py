"""Session 46 mutation audit of train/prelabel.py: tests that kill hand-made mutants the earlier
tests (test_prelabel.py, test_tools_bad_input.py, test_data_malformed_files.py, the prelabel part
of test_evaluate_mutants.py and of test_tools_cli_fuzz.py,
test_video_image_inputs.py, test_mine.py) let through. Everything runs on generated photos and a
stand-in tracker (no models, no shared data).

Mutants killed here (47 made; 20 were already caught by the earlier tests, 2 of them only by the
s42 CLI fuzz; 24 are killed here, 3 left):

- P1 / P2 / P3 ``label_header``: the sides, the x/y order, or the loops' nesting swapped (the
  header no longer names the values under it)
- P4 ``label_row``: no shape check (a MediaPipe-style (21, 3) array wrote a short row)
- P8 ``label_row``: ``np.mean`` for ``np.nanmean`` (a hand with one point without a confidence
  always kept, whatever --min-score)
- P15 / P16 ``image_files``: extensions compared case-sensitively (``IMG_0001.JPG`` refused as
  "not an image", ``CLIP.MP4`` not named as a video)
- P18 / P20 ``relative_to_csv``: the CSV's or the image's path not resolved (relative paths, as a
  command line run in the photos' parent gives them, written absolute)
- P23 ``prelabel``: rows not flushed one by one (an interrupted run kept nothing)
- P26 / P27 ``prelabel`` / ``main``: --min-score not passed on (every hand written)
- P28 - P33 ``main``: the tracker not built as documented: static mode, ``refine_score=1``, up to
  two hands, ``--mirror``, ``--detector-turns``, ``--threads`` (default 2)
- P35 ``main``: --min-score 1 (in [0, 1]) refused
- P37 ``main``: ``-o LABELS.CSV`` refused (suffix compared case-sensitively)
- P40 ``main``: a write error (a full disk) exiting 2, the status of a bad command line, not 1
- P45 ``prelabel``: the CSV written in the locale's encoding, not UTF-8 (as the loader reads it)
- P46 ``main``: a --min-score default other than 0 ("every hand found")
- P47 ``main``: only the first INPUT labelled

Left alive, equivalent:

- P14 ``image_files`` keeping the last spelling of an image named twice (not the first): the row
  is named from the resolved path either way.
- P19 ``str()`` for ``.as_posix()`` in ``relative_to_csv``: the same on POSIX (a Windows-only
  difference; this suite runs on Linux).
- P36 dropping ``math.isfinite`` from the --min-score check: NaN and +-inf fail ``0 <= v <= 1``
  anyway (the table below holds them refused).
"""
from __future__ import annotations

import builtins
import csv
import os
from pathlib import Path

import cv2
import numpy as np
import pytest

import train.prelabel as pl
from tracker.keypoints import KEYPOINT_NAMES, NUM_KEYPOINTS
from train.data import RIGHT, load_csv

from .test_prelabel import _array, _hand, _Result

N = NUM_KEYPOINTS


def _photos(folder: Path, names):
    folder.mkdir(parents=True, exist_ok=True)
    for n in names:
        cv2.imwrite(str(folder / n), np.full((24, 32, 3), 90, np.uint8))
    return [folder / n for n in names]


class _Tracker:
    """Answers every frame with ``answer`` (a (34, 3) array); ``seen`` is called with each call's
    index before it answers."""

    def __init__(self, answer, seen=None):
        self.answer, self.seen, self.calls = answer, seen, 0

    def process(self, frame):
        if self.seen:
            self.seen(self.calls)
        self.calls += 1
        return _Result(self.answer)


# == label_header / label_row ====================================================================
def test_the_header_names_the_value_under_each_column():
    """Each column's name is ``<side>_<point>_<x|y>`` of the value label_row writes under it
    (left hand first, x before y: the layout load_csv reads): the values here encode their own
    side, point and coordinate."""
    left = np.c_[1000 + np.arange(N), 2000 + np.arange(N), np.ones(N)]
    right = np.c_[3000 + np.arange(N), 4000 + np.arange(N), np.ones(N)]
    header, row = pl.label_header(), pl.label_row("a.png", _array(left, right))
    assert header[0] == "image" and len(header) == len(row) == 1 + 4 * N
    for name, cell in zip(header[1:], row[1:]):
        code = int(float(cell))
        side = "left" if code < 3000 else "right"
        coord = "x" if code // 1000 in (1, 3) else "y"
        assert name == f"{side}_{KEYPOINT_NAMES[code % 1000]}_{coord}", (name, cell)
    assert header[1:3] == [f"left_{KEYPOINT_NAMES[0]}_x", f"left_{KEYPOINT_NAMES[0]}_y"]


@pytest.mark.parametrize("shape", [(21, 3), (17, 3), (34, 2), (68, 3), (2, 17, 3)])
def test_label_row_refuses_an_array_of_another_layout(shape):
    """Only HandTrackerResult.as_array()'s (34, 3) is a row: a (21, 3) MediaPipe array, one hand,
    or no confidences would write a short or shifted row that loads as other keypoints."""
    with pytest.raises(ValueError, match=r"\(34, 3\)"):
        pl.label_row("a.png", np.zeros(shape))


@pytest.mark.parametrize("known, min_score, kept", [(0.1, 0.5, False), (0.8, 0.5, True)])
def test_min_score_averages_the_confidences_a_hand_has(known, min_score, kept):
    """A point without a confidence (NaN, the rest of the hand present) does not decide: the mean
    is over the points that have one, so a hand of 0.1s is still left out at 0.5 and one of 0.8s
    kept (a plain mean is NaN, and ``NaN < 0.5`` is False: every such hand kept)."""
    hand = _hand(5, 5, known)
    hand[3, 2] = np.nan
    row = pl.label_row("a.png", _array(left=hand), min_score)
    assert (row[1] != "") is kept


# == image_files ==================================================================================
@pytest.mark.parametrize("name", ["IMG_0001.JPG", "scan.Png", "b.JPEG", "c.TIF", "d.WebP"])
def test_image_extensions_are_matched_whatever_their_case(tmp_path, name):
    """Cameras and Windows write upper-case extensions: ``IMG_0001.JPG`` is an image."""
    (p,) = _photos(tmp_path, [name.rsplit(".", 1)[0] + ".png"])
    q = p.rename(tmp_path / name)
    assert pl.image_files([str(q)]) == [q]


@pytest.mark.parametrize("name", ["CLIP.MP4", "a.Mov", "b.AVI"])
def test_a_video_is_named_as_one_whatever_its_extension_case(tmp_path, name):
    (tmp_path / name).write_bytes(b"x")
    with pytest.raises(ValueError, match="is a video; labels need image files"):
        pl.image_files([str(tmp_path / name)])


# == relative_to_csv ===============================================================================
@pytest.mark.parametrize("image, out, want", [
    ("photos/a.png", "photos/labels.csv", "a.png"),
    ("photos/a.png", "labels.csv", "photos/a.png"),
    ("photos/sub/../a.png", "photos/labels.csv", "a.png"),
    ("photos/a.png", "photos/sub/../labels.csv", "a.png"),
    ("./photos/a.png", "./labels.csv", "photos/a.png"),
])
def test_relative_paths_from_the_working_folder_are_written_relative(tmp_path, monkeypatch, image, out, want):
    """``python -m train.prelabel photos/ -o photos/labels.csv`` gives both paths relative to the
    working folder: an image under the CSV's folder is written relative to it (what load_csv
    resolves against), not as an absolute path."""
    (tmp_path / "photos" / "sub").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    assert pl.relative_to_csv(Path(image), Path(out)) == want
    assert (Path(out).resolve().parent / want).resolve() == (tmp_path / "photos" / "a.png")


# == prelabel ======================================================================================
def test_each_row_is_on_disk_before_the_next_image_is_processed(tmp_path):
    """"Rows are flushed one by one, so an interrupted run keeps what it wrote": when image k is
    processed (k >= 1), the file already holds the header and the k rows before it (the header
    alone goes out with the first row)."""
    imgs = _photos(tmp_path / "p", [f"i{k}.png" for k in range(4)])
    out = tmp_path / "labels.csv"
    lines = []
    pl.prelabel(imgs, out, _Tracker(_array(_hand(1, 1)), seen=lambda k: lines.append(
        len(out.read_text(encoding="utf-8").splitlines()))))
    assert lines[0] in (0, 1) and lines[1:] == [2, 3, 4]


def test_prelabel_leaves_out_hands_under_min_score(tmp_path):
    imgs = _photos(tmp_path, ["a.png", "b.png"])
    s = pl.prelabel(imgs, tmp_path / "labels.csv", _Tracker(_array(_hand(1, 1, 0.4), _hand(9, 9, 0.8))), 0.5)
    assert (s.images, s.hands, s.empty) == (2, 2, 0)
    assert [r.handedness for r in load_csv(tmp_path / "labels.csv")] == [RIGHT, RIGHT]


def test_the_csv_is_utf8_whatever_the_locale_s_encoding(tmp_path, monkeypatch):
    """The CSV is UTF-8 (load_csv reads it so): on a machine whose default text encoding is not
    (Windows' cp1252; here open() is given that default), a name like ``café.png`` must still be
    written as UTF-8 bytes."""
    def cp1252_default(file, mode="r", *a, encoding=None, **kw):
        if "b" not in mode and encoding is None:
            encoding = "cp1252"
        return builtins.open(file, mode, *a, encoding=encoding, **kw)
    monkeypatch.setattr(pl, "open", cp1252_default, raising=False)
    imgs = _photos(tmp_path, ["café.png"])
    pl.prelabel(imgs, tmp_path / "labels.csv", _Tracker(_array(_hand(1, 1))))
    text = (tmp_path / "labels.csv").read_bytes().decode("utf-8")
    assert "\ncafé.png," in text.replace("\r\n", "\n")
    assert [r.image.name for r in load_csv(tmp_path / "labels.csv")] == ["café.png"]


# == main ==========================================================================================
class _Recorder(_Tracker):
    """Stands in for HandTracker in ``main``: records its keyword arguments."""

    made: list[dict] = []

    def __init__(self, **kw):
        _Recorder.made.append(kw)
        super().__init__(_Recorder.answer_array)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


@pytest.fixture
def stub(monkeypatch):
    import tracker
    _Recorder.made = []
    _Recorder.answer_array = _array(_hand(1, 1, 0.9))
    monkeypatch.setattr(tracker, "HandTracker", _Recorder)
    return _Recorder


@pytest.mark.parametrize("extra, want", [
    ([], dict(mirrored=False, detector_turns=1, threads=2, landmark_model_path=None, detector_model_path=None)),
    (["--mirror", "--detector-turns", "4", "--threads", "3"], dict(mirrored=True, detector_turns=4, threads=3)),
    (["--detector-turns", "2", "--landmark-model", "lm.onnx", "--detector-model", "det.onnx"],
     dict(detector_turns=2, landmark_model_path="lm.onnx", detector_model_path="det.onnx")),
])
def test_main_builds_the_documented_tracker(tmp_path, stub, extra, want):
    """The module docstring: "the tracker's in static mode (each image on its own), every hand
    measured again in the crop of its own keypoints (``refine_score=1``)", both hands of the
    two-hand layout; the options as their help says (--threads default 2)."""
    _photos(tmp_path, ["a.png"])
    assert pl.main([str(tmp_path / "a.png"), "-o", str(tmp_path / "labels.csv"), *extra]) == 0
    (kw,) = stub.made
    assert kw["static_image_mode"] is True and kw["refine_score"] == 1.0 and kw["max_hands"] == 2
    for k, v in want.items():
        assert kw[k] == v, k


@pytest.mark.parametrize("value, ok", [("0", True), ("1", True), ("0.5", True), ("1.0", True),
                                       ("-0.01", False), ("1.01", False), ("nan", False), ("inf", False)])
def test_min_score_takes_exactly_the_interval_0_1(tmp_path, stub, capsys, value, ok):
    """--min-score P "must be in [0, 1]": both ends included (1: only hands sure of every point)."""
    _photos(tmp_path, ["a.png"])
    rc = pl.main([str(tmp_path / "a.png"), "-o", str(tmp_path / "labels.csv"), "--min-score", value])
    assert (rc == 0) is ok
    if not ok:
        assert rc == 2 and "--min-score must be in [0, 1]" in capsys.readouterr().err


@pytest.mark.parametrize("score, args, written", [
    (0.1, [], True),                          # default 0: "every hand found"
    (0.1, ["--min-score", "0.05"], True),
    (0.4, ["--min-score", "0.5"], False),
    (0.6, ["--min-score", "0.5"], True),
])
def test_main_applies_min_score(tmp_path, stub, score, args, written):
    stub.answer_array = _array(right=_hand(3, 3, score))
    _photos(tmp_path, ["a.png"])
    assert pl.main([str(tmp_path / "a.png"), "-o", str(tmp_path / "labels.csv"), *args]) == 0
    assert len(load_csv(tmp_path / "labels.csv")) == int(written)


@pytest.mark.parametrize("name", ["labels.CSV", "Labels.Csv"])
def test_an_upper_case_csv_suffix_is_a_csv(tmp_path, stub, name):
    _photos(tmp_path, ["a.png"])
    assert pl.main([str(tmp_path / "a.png"), "-o", str(tmp_path / name)]) == 0
    assert (tmp_path / name).read_text(encoding="utf-8").startswith("image,")


def test_main_labels_every_input(tmp_path, stub):
    """INPUT is "image files and folders of images" (nargs +): each one is labelled, in order."""
    a = _photos(tmp_path / "one", ["a.png"])
    bc = _photos(tmp_path / "two", ["b.png", "c.png"])
    d = _photos(tmp_path / "three", ["d.png"])
    out = tmp_path / "labels.csv"
    assert pl.main([str(a[0]), str(tmp_path / "two"), str(d[0]), "-o", str(out)]) == 0
    with open(out, newline="", encoding="utf-8") as f:
        names = [r[0] for r in csv.reader(f)][1:]
    assert names == ["one/a.png", "two/b.png", "two/c.png", "three/d.png"]
    assert [r.image for r in load_csv(out)] == [*a, *bc, *d]


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (a device whose writes fail: disk full)")
def test_a_full_disk_exits_1_with_one_line(tmp_path, stub, capsys):
    """A run-time write error (here ENOSPC, as on a full disk) is status 1 with one error line,
    not 2, the status of a command line refused before any work (the tools' convention)."""
    _photos(tmp_path, ["a.png"])
    out = tmp_path / "labels.csv"
    out.symlink_to("/dev/full")
    rc = pl.main([str(tmp_path / "a.png"), "-o", str(out), "--overwrite"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 1 and len(err) == 1 and "cannot write" in err[0] and "-o/--out" in err[0]
