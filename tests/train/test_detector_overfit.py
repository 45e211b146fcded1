"""The detector recipe converges on a few composed scenes: loss falls >= 10x and the hands it
was trained on are found."""
import pytest

from tests.conftest import HANDS21, require_shared

pytestmark = pytest.mark.slow


def test_detector_overfits_few_scenes():
    from train.data import ImageCache, load_records
    from train.sanity import overfit_detector
    require_shared(HANDS21)
    recs = load_records(HANDS21, "train")[:24]
    # one torch thread, as in test_overfit.py (40 steps beside another busy process: 16-21 s with
    # two threads, 5-6 s with one)
    r = overfit_detector(recs, ImageCache(recs), scenes=8, steps=200, threads=1)
    assert r.loss_drop >= 10, r
    assert r.recall >= 0.9, r
    assert r.fp_per_frame <= 0.25, r
