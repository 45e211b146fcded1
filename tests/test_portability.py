"""Portability to macOS and Windows, checked on Linux by simulating what differs there.

- Text files: Windows' default text encoding is the locale's (cp1252 and the like), not UTF-8.
  A child Python run with an ASCII locale (``LC_ALL=C``, UTF-8 mode and locale coercion off) has
  a non-UTF-8 default as well, so a file read or written without ``encoding=`` fails there as it
  would on Windows. :func:`test_text_files_name_their_encoding` catches the whole class statically.
- File names: macOS and Windows file systems ignore case by default, so ``IMG_1.jpg`` and
  ``img_1.jpg`` are one file there.
- Memory figures: macOS reports ``ru_maxrss`` in bytes (Linux in KiB); Windows has no
  ``resource`` module.
"""
from __future__ import annotations

import argparse
import ast
import json
import os
import subprocess
import sys
import types
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.conftest import require_torch

ROOT = Path(__file__).resolve().parents[1]
#: an ASCII default text encoding, as a Windows code page is a non-UTF-8 one
NON_UTF8_ENV = {**os.environ, "LC_ALL": "C", "LANG": "C", "PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0",
                "PYTHONIOENCODING": "utf-8"}


def _run_non_utf8(code: str) -> subprocess.CompletedProcess:
    env = {**NON_UTF8_ENV, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, encoding="utf-8",
                          env=env, cwd=ROOT, timeout=120)


def test_child_locale_is_not_utf8():
    # the simulation the tests below rely on
    r = _run_non_utf8("import locale; print(locale.getpreferredencoding(False))")
    assert r.returncode == 0, r.stderr
    assert "utf" not in r.stdout.lower(), r.stdout


def _coco_folder(src, encoding: str, info: dict | None = None):
    """A hands21-like folder: train and val of one 32x32 photo with one hand each, the JSON saved in
    ``encoding`` (non-ASCII text kept as it is)."""
    for split in ("train", "val"):
        name = f"images/{split}/a.png"
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(src / name), np.full((32, 32, 3), 128, np.uint8))
        kp = [v for j in range(21) for v in (5.0 + j, 4.0 + j, 1)]
        data = {"categories": [{"id": 1, "name": "Hand"}],
                "images": [{"id": 1, "file_name": name, "width": 32, "height": 32}],
                "annotations": [{"id": 1, "image_id": 1, "keypoints": kp}]}
        if info:
            data["info"] = info
        (src / f"{split}.json").write_text(json.dumps(data, ensure_ascii=False), encoding=encoding)
    return src


def test_pack_reads_utf8_annotations_with_a_non_utf8_default(tmp_path):
    # a COCO file saved as UTF-8 (every labelling tool does) with a non-ASCII name in it
    src = _coco_folder(tmp_path / "src", "utf-8", info={"contributor": "Zoë Müller – Köln"})
    out = tmp_path / "out"
    r = _run_non_utf8(f"from train.pack import pack; pack({str(src)!r}, {str(out)!r}, parts=1, val_hands=0)")
    assert r.returncode == 0, r.stderr
    packed = json.loads((out / "part0" / "train.json").read_text(encoding="utf-8"))
    assert packed["info"]["contributor"] == "Zoë Müller – Köln"


def test_pack_reads_annotations_with_a_byte_order_mark(tmp_path):
    # Windows editors save UTF-8 with a BOM; train.data.load_coco reads such a file, so pack must too
    from train.pack import pack
    src = _coco_folder(tmp_path / "src", "utf-8-sig")
    pack(src, tmp_path / "out", parts=1, val_hands=0)
    assert len(json.loads((tmp_path / "out" / "part0" / "val.json").read_text(encoding="utf-8"))["images"]) == 1


def test_train_log_is_utf8_with_a_non_utf8_default(tmp_path):
    require_torch()
    # a data folder under a user name such as "Jürgen" or "Дмитрий" is logged to train.log
    folder = "C:/Users/Дмитрий/hands"
    code = ("import logging; from pathlib import Path; from train.common import setup_logging; "
            f"setup_logging(Path({str(tmp_path)!r})); "   # ascii(): the child's command line is ASCII
            f"logging.getLogger('train').info('data: %s', {ascii(folder)}); logging.shutdown()")
    r = _run_non_utf8(code)
    assert r.returncode == 0, r.stderr
    assert "Logging error" not in r.stderr, r.stderr
    assert f"data: {folder}" in (tmp_path / "train.log").read_text(encoding="utf-8")


# -- every text file of the project names its encoding ----------------------------------------
#: calls that open a file as text unless their mode says binary
_TEXT_CALLS = {"open", "read_text", "write_text", "fdopen"}
_FOLDERS = ("tracker", "train", "export", "bench", "examples")


def _mode(call: ast.Call) -> ast.expr | None:
    for kw in call.keywords:
        if kw.arg == "mode":
            return kw.value
    f = call.func
    if isinstance(f, ast.Name) or (isinstance(f, ast.Attribute) and f.attr == "fdopen"):
        return call.args[1] if len(call.args) > 1 else None       # open(path, mode), os.fdopen(fd, mode)
    return call.args[0] if call.args and f.attr == "open" else None   # Path.open(mode)


def _unencoded_text_calls() -> list[str]:
    """``file:line`` of each call in the project's code that opens a file as text (``open``,
    ``Path.open/read_text/write_text``, ``os.fdopen``) without ``encoding=``; ``os.open``
    (a file descriptor) and calls whose mode contains ``b`` are binary and left out."""
    found = []
    for folder in _FOLDERS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if not isinstance(node, ast.Call):
                    continue
                f = node.func
                name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else None
                if name not in _TEXT_CALLS:
                    continue
                if isinstance(f, ast.Attribute) and name == "open" and isinstance(f.value, ast.Name) \
                        and f.value.id == "os":
                    continue
                if any(kw.arg in ("encoding", None) for kw in node.keywords):
                    continue
                mode = _mode(node)
                if isinstance(mode, ast.Constant) and isinstance(mode.value, str) and "b" in mode.value:
                    continue
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def test_text_files_name_their_encoding():
    assert _unencoded_text_calls() == []


def test_the_encoding_scan_finds_an_unencoded_call(tmp_path, monkeypatch):
    # the scan above is only worth something if it sees the calls it is meant to catch
    pkg = tmp_path / "tracker"
    pkg.mkdir()
    (pkg / "m.py").write_text("from pathlib import Path\nimport os\n"
                              "a = open('x')\nb = open('x', 'rb')\nc = Path('x').read_text()\n"
                              "d = Path('x').write_text('t', encoding='utf-8')\ne = os.open('x', 0)\n"
                              "f = Path('x').open('w', newline='')\ng = Path('x').read_bytes()\n",
                              encoding="utf-8")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    monkeypatch.setattr(sys.modules[__name__], "_FOLDERS", ("tracker",))
    assert _unencoded_text_calls() == ["tracker/m.py:3", "tracker/m.py:5", "tracker/m.py:8"]


# -- file names that differ only in case ---------------------------------------------------------
def _image(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.full((16, 16, 3), 100, np.uint8))


def test_annotated_images_refuse_names_differing_in_case_where_case_is_folded(tmp_path, monkeypatch):
    from tracker import cli
    from tracker.video import FrameSource
    _image(tmp_path / "a" / "IMG_1.png")
    _image(tmp_path / "b" / "img_1.png")
    (tmp_path / "out").mkdir()
    inputs = [str(tmp_path / "a"), str(tmp_path / "b")]
    sources = [FrameSource(p) for p in inputs]
    monkeypatch.setattr(cli, "folds_case", lambda folder: True)      # macOS, Windows
    with pytest.raises(cli.UsageError, match="would both write"):
        cli.annotated_image_paths(str(tmp_path / "out"), inputs, sources)
    monkeypatch.setattr(cli, "folds_case", lambda folder: False)     # Linux: two files
    dests = cli.annotated_image_paths(str(tmp_path / "out"), inputs, sources)
    assert [d[0].name for d in dests] == ["IMG_1.png", "img_1.png"]


def test_output_folder_refuses_inputs_whose_names_differ_in_case_where_case_is_folded(tmp_path, monkeypatch):
    from tracker import cli
    for p in ("a/Clip.mp4", "b/clip.mp4"):
        (tmp_path / p).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / p).write_bytes(b"")
    (tmp_path / "out").mkdir()
    args = argparse.Namespace(output=None, json=str(tmp_path / "out"), csv=None)
    inputs = [str(tmp_path / "a/Clip.mp4"), str(tmp_path / "b/clip.mp4")]
    monkeypatch.setattr(cli, "folds_case", lambda folder: True)
    with pytest.raises(cli.UsageError, match="would both write"):
        cli.output_paths(args, inputs)
    monkeypatch.setattr(cli, "folds_case", lambda folder: False)
    assert [Path(d["json"]).name for d in cli.output_paths(args, inputs)] == ["Clip.jsonl", "clip.jsonl"]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux file systems keep case")
def test_folds_case_probe_leaves_nothing_behind(tmp_path):
    from tracker.cli import folds_case
    assert folds_case(tmp_path) is False
    assert list(tmp_path.iterdir()) == []


# -- memory figures of the soak benchmark ----------------------------------------------------------
def _no_proc(*args, **kwargs):
    raise FileNotFoundError("/proc/self/status")


def test_soak_rss_is_mib_on_macos(monkeypatch):
    from bench import soak
    monkeypatch.setattr(soak, "open", _no_proc, raising=False)       # no /proc on macOS
    monkeypatch.setattr(sys, "platform", "darwin")
    fake = types.SimpleNamespace(RUSAGE_SELF=0,
                                 getrusage=lambda who: types.SimpleNamespace(ru_maxrss=300 * 2**20))  # bytes
    monkeypatch.setitem(sys.modules, "resource", fake)
    assert soak.rss_mib() == pytest.approx(300.0)


def test_soak_rss_without_resource_module_is_nan(monkeypatch):
    from bench import soak
    monkeypatch.setattr(soak, "open", _no_proc, raising=False)
    monkeypatch.setattr(sys, "platform", "win32")
    monkeypatch.setitem(sys.modules, "resource", None)               # Windows: import fails
    assert np.isnan(soak.rss_mib())


# -- paths written to files that another machine reads ---------------------------------------------
def test_mined_boxes_are_keyed_with_forward_slashes_on_windows(tmp_path, monkeypatch):
    """train.mine on Windows, train_detector on a Linux training machine: the keys must be the
    portable ``images/train/a.png``, which ``load_unlabelled`` joins to the data folder on either
    system; ``images\\train\\a.png`` names no file on Linux and every mined box was dropped."""
    require_torch()
    from pathlib import PureWindowsPath
    from types import SimpleNamespace

    from train import mine as mine_mod
    from train.data import load_csv
    photo = tmp_path / "images" / "train" / "a.png"
    photo.parent.mkdir(parents=True)
    photo.touch()                                            # load_csv checks that the image exists
    hand = ",".join(str(10 + i) for i in range(34))
    (tmp_path / "hands.csv").write_text(f"image,x0\nimages/train/a.png,{hand}\n", encoding="utf-8")
    recs = load_csv(tmp_path / "hands.csv")

    def det(image, score_threshold, max_detections):   # a second hand far from the labelled one
        return [SimpleNamespace(box=np.array([150, 150, 190, 200], np.float32), score=0.9)]

    monkeypatch.setattr(mine_mod, "Path", PureWindowsPath)   # the paths as Windows builds them
    boxes = mine_mod.mine(det, recs, {r.image: np.zeros((240, 240, 3), np.uint8) for r in recs}, 0.3, tmp_path)
    assert list(boxes) == ["images/train/a.png"]


# -- the webcam window ---------------------------------------------------------------------------
@pytest.mark.parametrize("platform", ["darwin", "win32"])
def test_webcam_window_is_not_refused_without_display_variable_off_linux(monkeypatch, platform):
    """DISPLAY / WAYLAND_DISPLAY are X11/Wayland's: macOS and Windows have a display without them."""
    from tracker import cli
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setattr(sys, "platform", platform)
    assert cli.has_display() is True
    assert cli.window_problem() is None
