"""Shared fixtures. Tests that need ../shared skip with a reason when it is absent, except under
CI=true, where its absence is a failure."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("HANDTRACK_SHARED", ROOT.parent / "shared"))
HANDS21 = SHARED / "data" / "hands21"
VIDEOS = SHARED / "videos"


def require_shared(path: Path = SHARED) -> Path:
    """Return ``path``; skip the test when it is missing, fail when CI=true."""
    if not path.exists():
        msg = f"needs {path} (the shared data beside the project root)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(msg + " but CI=true")
        pytest.skip(msg)
    return path


@pytest.fixture
def hands21() -> Path:
    return require_shared(HANDS21)


@pytest.fixture
def videos() -> Path:
    return require_shared(VIDEOS)


@pytest.fixture
def restore_training_state():
    """Put back what the training loops change process-wide: torch's thread count and the root
    logger's handlers and level (a run adds its train.log handler)."""
    import logging

    import torch
    threads, root = torch.get_num_threads(), logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for h in list(root.handlers):
        if h not in handlers:
            root.removeHandler(h)
            h.close()
    for h in handlers:
        if h not in root.handlers:
            root.addHandler(h)
    root.setLevel(level)
    torch.set_num_threads(threads)
