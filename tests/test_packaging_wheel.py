"""Packaging audit: what a wheel (``pip install .``, not editable) ships, and what the training and
export commands say when the ``[train]`` extra is missing."""
from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run_without(module: str, blocked: str, *args: str) -> subprocess.CompletedProcess:
    """``python -m module args`` in a process where ``import blocked`` fails as if the package were
    not installed (``sys.modules[name] = None`` raises ModuleNotFoundError with that name)."""
    code = ("import runpy, sys\n"
            f"sys.modules[{blocked!r}] = None\n"
            f"sys.argv = [{module!r}, *{list(args)!r}]\n"
            f"runpy.run_module({module!r}, run_name='__main__', alter_sys=True)\n")
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)


@pytest.mark.parametrize("module, blocked", [("train.train_landmarks", "torch"),
                                             ("train.train_detector", "torch"),
                                             ("export.onnx_export", "onnx"),
                                             ("export.quantize", "onnx")])
def test_missing_train_extra_is_one_line_naming_the_extra(module, blocked):
    r = _run_without(module, blocked, "--help")
    assert r.returncode != 0
    assert "Traceback" not in r.stderr, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert blocked in lines[0] and "[train]" in lines[0] and "pip install" in lines[0], lines[0]


def test_other_errors_keep_their_traceback_without_the_extra():
    """The hint replaces only the missing extra's error: any other uncaught error is shown as before."""
    code = ("import sys\nsys.modules['torch'] = None\nimport train\n"
            "raise ModuleNotFoundError('No module named nothing_here', name='nothing_here')\n")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode != 0
    assert "Traceback" in r.stderr and "nothing_here" in r.stderr


def test_torch_free_train_modules_still_import_without_torch():
    """bench.robustness and train.evaluate use train/ modules that need no torch."""
    code = ("import sys\nsys.modules['torch'] = None\nsys.modules['onnx'] = None\n"
            "import train.augment, train.data, bench.robustness, export\nprint('ok')\n")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr


def test_declared_packages_and_assets_cover_the_runtime():
    """Every file the runtime loads by name from ``tracker.assets`` is matched by the package data."""
    tomllib = pytest.importorskip("tomllib")   # Python 3.11+; requires-python is 3.10
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())
    tool = cfg["tool"]["setuptools"]
    assert tool["package-dir"]["tracker.assets"] == "assets"
    patterns = tool["package-data"]["tracker.assets"]
    for name in ("landmarks.onnx", "detector.onnx", "landmarks_int8.onnx", "detector_any_angle.onnx"):
        assert (ROOT / "assets" / name).is_file()
        assert any(Path(name).match(p) for p in patterns), name
    for pkg in ("tracker", "tracker.assets", "train", "export", "bench"):
        assert pkg in tool["packages"]
    torch_pins = [d for extra in cfg["project"]["optional-dependencies"].values() for d in extra
                  if d.startswith("torch")]
    assert torch_pins == ["torch==2.13.0"]
    assert not any(d.startswith(("torch", "onnx>", "onnx=")) for d in cfg["project"]["dependencies"])


def _setuptools_ok() -> bool:
    try:
        import setuptools
    except ImportError:
        return False
    return int(setuptools.__version__.split(".")[0]) >= 77


def test_wheel_ships_models_and_no_checkpoints(tmp_path):
    """``pip wheel --no-deps`` of a copy of the project (no build/ or egg-info left in the checkout):
    the shipped ONNX models and the model card are in ``tracker/assets``; no training checkpoints,
    runs or tests are."""
    src = tmp_path / "src"
    src.mkdir()
    for f in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / f, src / f)
    skip = shutil.ignore_patterns("__pycache__", "checkpoints", "*.pt")
    for d in ("tracker", "assets", "train", "export", "bench"):
        shutil.copytree(ROOT / d, src / d, ignore=skip)
    # a checkpoint in the copy: the wheel must still leave it out
    (src / "assets" / "checkpoints").mkdir()
    (src / "assets" / "checkpoints" / "landmarks_last.pt").write_bytes(b"not a checkpoint")
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path / "wheels"), str(src)]
    if _setuptools_ok():
        cmd.insert(4, "--no-build-isolation")   # offline and faster; otherwise pip fetches setuptools
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    (wheel,) = (tmp_path / "wheels").glob("handtrack-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for f in ("landmarks.onnx", "detector.onnx", "landmarks_int8.onnx", "detector_any_angle.onnx",
              "MODEL_CARD.md", "__init__.py"):
        assert f"tracker/assets/{f}" in names, f
    for f in ("tracker/__init__.py", "tracker/cli.py", "tracker/keypoints.py", "tracker/py.typed",
              "train/__init__.py", "export/__init__.py", "bench/__init__.py"):
        assert f in names, f
    assert not [n for n in names if n.endswith(".pt") or n.startswith(("runs/", "tests/", "assets/"))]
    entry = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert "handtrack = tracker.cli:main" in zipfile.ZipFile(wheel).read(entry).decode()
