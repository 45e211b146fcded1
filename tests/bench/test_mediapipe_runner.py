"""MediaPipe side-by-side runner: venv handling, and the real runner when its venv exists."""
from __future__ import annotations

import numpy as np
import pytest

from bench import mediapipe_runner as mpr


def test_missing_venv_without_creation_is_skipped_cleanly(tmp_path):
    assert mpr.check_venv(tmp_path / "nope") is False
    assert mpr.ensure_venv(tmp_path / "nope", create=False) is None


def test_side_conversion_table():
    # the legacy API names hands as if the image were mirrored
    assert mpr.AS_SEEN == {"Left": "right", "Right": "left"}


def test_runner_on_val_photos(hands21):
    venv = mpr.default_venv()
    if not mpr.check_venv(venv):
        pytest.skip(f"no MediaPipe venv at {venv} (python -m bench creates it)")
    from train.data import load_records, read_image
    recs = [r for r in load_records(hands21, "val")[:60]
            if r.handedness in (0, 1) and r.handedness_score >= 0.95 and not r.others][:4]
    with mpr.MediaPipeHands(venv, static_image_mode=True) as mp:
        assert mp.info["mediapipe"] == mpr.MP_VERSION
        agree = 0
        for r in recs:
            hands, ms = mp.process(read_image(r.image))
            assert ms > 0 and hands
            h = min(hands, key=lambda h: np.nanmean(np.linalg.norm(h.keypoints - r.keypoints, axis=1)))
            # the labels were made by this MediaPipe: keypoints agree within a few pixels
            assert np.median(np.linalg.norm(h.keypoints - r.keypoints, axis=1)) < 5.0
            agree += h.side == ("left", "right")[r.handedness]
        assert agree >= len(recs) - 1
