"""The project as a user gets it from a package index: the sdist (what ``pip install`` builds from and
what packagers test from) and the wheel built from that sdist, unpacked as an install outside the
clone. The bench commands' default outputs go to the current folder there, never into
site-packages; the commands that need a clone or ``../shared`` say so in one line."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# .gitignore's build outputs and caches: a clean clone has none of them
_IGNORED = {".git", ".venv", ".venv-ci", "runs", "build", "dist", "__pycache__", ".pytest_cache"}
_TIMEOUT = 120


def _setuptools_ok() -> bool:
    try:
        import setuptools
    except ImportError:
        return False
    return int(setuptools.__version__.split(".")[0]) >= 77


def _ignore(folder: str, names: list[str]) -> set[str]:
    top = Path(folder).resolve() == ROOT
    return {n for n in names if n in _IGNORED or n.endswith((".egg-info", ".pyc"))
            or (top and n.startswith("out"))}


def _build(kind: str, src: Path, dist: Path) -> Path:
    """``build_sdist`` / ``build_wheel`` of setuptools in ``src`` (what pip and ``python -m build``
    call; no network, no build isolation)."""
    code = f"from setuptools import build_meta as b; print(b.build_{kind}({str(dist)!r}))"
    r = subprocess.run([sys.executable, "-c", code], cwd=src, capture_output=True, text=True,
                       timeout=_TIMEOUT)
    assert r.returncode == 0, r.stderr[-2000:]
    return dist / r.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """(sdist path, its member names relative to its top folder, wheel built from the unpacked
    sdist, that wheel unpacked as an install: a site-packages folder)."""
    if not _setuptools_ok():
        pytest.skip("needs setuptools >= 77 (pyproject's build requirement) to build offline")
    tmp = tmp_path_factory.mktemp("installed")
    src = tmp / "clone"
    shutil.copytree(ROOT, src, ignore=_ignore)
    sdist = _build("sdist", src, tmp / "dist")
    with tarfile.open(sdist) as t:
        members = t.getnames()
        t.extractall(tmp / "unpacked", filter="data")
    top = members[0].split("/")[0]
    names = {m.split("/", 1)[1] for m in members if "/" in m}
    wheel = _build("wheel", tmp / "unpacked" / top, tmp / "wheels")
    site = tmp / "site"
    zipfile.ZipFile(wheel).extractall(site)
    (tmp / "user").mkdir()
    return sdist, names, wheel, site


def _files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}


def _run_installed(site: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    """``python args`` in ``cwd`` with the unpacked wheel first on the path (ahead of the clone's
    editable install, which is a meta-path finder after the path's own)."""
    env = dict(os.environ, PYTHONPATH=str(site), OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=_TIMEOUT)


def test_sdist_ships_what_a_user_builds_and_tests_from(built):
    """The sdist had README and LICENSE but no CHANGELOG.md, no docs/ (the README's links and
    its picture), no examples/ and only four of the tests (no conftest.py): its tests could not run."""
    _, names, _, _ = built
    for f in ("README.md", "LICENSE", "CHANGELOG.md", "pyproject.toml", "MANIFEST.in",
              "docs/options.md", "docs/example.png", "examples/pinch.py", "tests/conftest.py",
              "tests/nets.py", "tests/tracker/test_io.py", "tests/bench/test_report.py",
              "assets/landmarks.onnx", "assets/checkpoints/landmarks_last.pt"):
        assert f in names, f
    # every test file of the clone, and every file the README links to
    clone_tests = {str(p.relative_to(ROOT)) for p in (ROOT / "tests").rglob("*.py")
                   if "__pycache__" not in p.parts}
    assert clone_tests <= names, sorted(clone_tests - names)
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    linked = {m.split("#")[0] for m in re.findall(r"\]\(([^)\s]+)\)", readme)
              if not m.startswith(("http:", "https:", "#", "mailto:"))}
    linked = {p for p in linked if (ROOT / p).is_file()}
    assert linked and linked <= names, sorted(linked - names)
    junk = [n for n in names if n.startswith(("runs/", ".venv", "build/", "dist/", ".pytest_cache"))
            or "__pycache__" in n or n.endswith(".pyc")]
    assert not junk, junk[:10]


def test_wheel_built_from_the_sdist_is_the_runtime_only(built):
    """With the sdist carrying assets/checkpoints, setuptools' default include-package-data put
    all eight .pt files (23 MB) into a wheel built from it."""
    _, _, wheel, _ = built
    names = zipfile.ZipFile(wheel).namelist()
    for f in ("landmarks.onnx", "detector.onnx", "landmarks_int8.onnx", "detector_any_angle.onnx",
              "MODEL_CARD.md"):
        assert f"tracker/assets/{f}" in names, f
    junk = [n for n in names if n.endswith((".pt", ".pyc")) or "__pycache__" in n or "checkpoints" in n
            or n.startswith(("runs/", "tests/", "docs/", "examples/", "assets/"))]
    assert not junk, junk[:10]
    # tracker/assets holds exactly the clone's shipped assets (package-data), nothing picked up
    shipped = {n.split("/", 2)[2] for n in names if n.startswith("tracker/assets/")}
    clone = {p.name for p in (ROOT / "assets").iterdir()
             if p.is_file() and p.suffix in (".onnx", ".md", ".json", ".png", ".py")}
    assert shipped == clone, shipped ^ clone


def test_installed_soak_writes_into_the_current_folder(built):
    """``python -m bench soak`` from an install wrote soak.json and soak_rss.png into
    site-packages/docs/bench (the clone's default, ROOT/docs/bench, with ROOT = site-packages)."""
    import cv2
    import numpy as np
    _, _, _, site = built
    user = site.parent / "user"
    video = user / "clip.mp4"
    w = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 30, (64, 48))
    for _ in range(3):
        w.write(np.full((48, 64, 3), 127, np.uint8))
    w.release()
    before = _files(site)
    r = _run_installed(site, user, "-m", "bench", "soak", "--video", str(video), "--frames", "2",
                       "--size", "64x48", "--threads", "1")
    assert r.returncode == 0, r.stderr[-2000:]
    assert _files(site) == before, sorted(_files(site) - before)
    assert (user / "handtrack-bench" / "soak.json").is_file()
    assert "soak.json and soak_rss.png go to handtrack-bench" in r.stdout, r.stdout


def test_installed_bench_defaults_are_said_and_shared_is_looked_for_from_here(built):
    """Installed, ``--shared`` defaulted to site-packages/../shared (lib/python3.X/shared): the
    error named that folder though the help said ../shared."""
    _, _, _, site = built
    user = site.parent / "user"
    h = _run_installed(site, user, "-m", "bench", "--help")
    assert h.returncode == 0, h.stderr
    assert "./handtrack-bench when installed" in " ".join(h.stdout.split())
    r = _run_installed(site, user, "-m", "bench", "--only", "speed", "--no-mediapipe")
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    assert "no videos/*.mp4 under --shared ../shared" in r.stderr, r.stderr
    assert str(site.parent) not in r.stderr, r.stderr


def test_installed_report_names_the_shipped_models(built):
    """REPORT.md's model lines (size and date of landmarks.onnx / detector.onnx) came from
    ROOT/assets, which an install does not have: they were silently left out."""
    _, _, _, site = built
    code = ("import json, bench, bench.run; "
            "print(json.dumps([bench.__file__, sorted(bench.run.machine_info())]))")
    r = _run_installed(site, site.parent / "user", "-c", code)
    assert r.returncode == 0, r.stderr[-2000:]
    import json
    where, keys = json.loads(r.stdout.strip().splitlines()[-1])
    assert Path(where).is_relative_to(site), where
    assert {"landmarks.onnx", "detector.onnx"} <= set(keys), keys


def test_installed_train_step_says_it_needs_a_clone(built):
    """The checkpoints train-step times are not in the wheel: the first child process failed with
    a FileNotFoundError of site-packages/assets/checkpoints/..."""
    _, _, _, site = built
    r = _run_installed(site, site.parent / "user", "-m", "bench", "train-step", "--rounds", "1")
    assert r.returncode == 2, r.stderr[-2000:]
    assert "Traceback" not in r.stderr
    assert "needs a clone of the project" in r.stderr and "landmarks_last.pt" in r.stderr, r.stderr


@pytest.mark.parametrize("args, needs", [
    (("-c", "import sys; from tracker.cli import main; sys.argv = ['handtrack', '--version']; main()"), None),
    (("-c", "import sys; from tracker.cli import main; sys.argv = ['handtrack', 'video', '--help']; main()"),
     None),
    (("-m", "train.train_landmarks", "--help"), "torch"),
    (("-m", "export.onnx_export", "--help"), "onnx"),
])
def test_installed_commands_run_from_the_install(built, args, needs):
    if needs:
        pytest.importorskip(needs)
    _, _, _, site = built
    r = _run_installed(site, site.parent / "user", *args)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "usage" in r.stdout.lower() or str(site / "tracker" / "assets" / "landmarks.onnx") in r.stdout, r.stdout
