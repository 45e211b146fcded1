"""The runtime package type-checks clean: ``tracker/`` ships a ``py.typed`` marker, which tells a
user's type checker to trust its annotations, so they must hold (mypy, settings in
pyproject.toml's ``[tool.mypy]``). Until session 46, 64 errors: missing annotations and
Optional values used without a check that the code made elsewhere."""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

needs_mypy = pytest.mark.skipif(importlib.util.find_spec("mypy") is None and os.environ.get("CI") != "true",
                                reason="mypy is not installed (pip install -e '.[dev]')")


@needs_mypy
def test_the_runtime_package_type_checks(tmp_path):
    r = subprocess.run([sys.executable, "-m", "mypy", "tracker", "--cache-dir", str(tmp_path / "cache"),
                        "--config-file", str(ROOT / "pyproject.toml")],
                       cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-6000:] + r.stderr[-2000:]
    assert "Success: no issues found" in r.stdout


@needs_mypy
def test_the_check_finds_a_type_error(tmp_path):
    """The same command fails on a package with a type error (the check above is not vacuous)."""
    pkg = tmp_path / "tracker"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("def f(x: int) -> str:\n    return x\n")
    r = subprocess.run([sys.executable, "-m", "mypy", "tracker", "--cache-dir", str(tmp_path / "cache"),
                        "--config-file", str(ROOT / "pyproject.toml")],
                       cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert r.returncode == 1 and "Incompatible return value type" in r.stdout, r.stdout
