"""When filterpy (and scipy.stats with it, ~0.7 s) is imported: when a video-mode tracker with
smoothing is made, so no frame waits for it; never for a static-mode tracker, which smooths nothing
(session 50: a photo run started 0.6 s sooner), nor by ``import tracker``. Each case runs in a
fresh interpreter, where nothing has imported it yet."""
from __future__ import annotations

import subprocess
import sys

import pytest

from ..conftest import ROOT

SCRIPT = """
import sys
import numpy as np
from tracker import HandTracker
print("import", "filterpy" in sys.modules)
t = HandTracker({kwargs})
print("made", "filterpy" in sys.modules)
t.process(np.zeros((120, 160, 3), np.uint8))
print("frame", "filterpy" in sys.modules)
"""


@pytest.mark.parametrize("kwargs, made", [
    ("", True),                                      # video mode, smoothing on: at construction
    ("static_image_mode=True", False),
    ("smoothing=False", False),
])
def test_filterpy_is_imported_only_by_a_tracker_that_smooths(kwargs, made):
    out = subprocess.run([sys.executable, "-c", SCRIPT.format(kwargs=kwargs)], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["import", "False", "made", str(made), "frame", str(made)]
