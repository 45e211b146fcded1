"""The training recipe converges: overfit a few dozen real hands (<= 3 min on 2 CPU cores),
and the same check fails for the two classic collapses (mean pose, all-zero heatmaps)."""
import pytest

from tests.conftest import HANDS21, require_shared

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def few_hands():
    from train.data import ImageCache, load_records
    require_shared(HANDS21)
    recs = load_records(HANDS21, "train")[:24]
    return recs, ImageCache(recs)


def test_recipe_overfits_few_hands(few_hands):
    from train.sanity import overfit
    r = overfit(*few_hands, steps=160, batch=12, threads=2)
    assert r.loss_drop >= 10, r
    assert r.pck10 >= 0.9, r
    assert r.converged


@pytest.mark.parametrize("broken", ["mean_pose", "zero"])
def test_check_fails_for_collapsed_targets(few_hands, broken):
    """A deliberately broken target makes the model collapse, and the same check catches it."""
    from train.sanity import overfit
    r = overfit(*few_hands, steps=60, batch=12, broken=broken, threads=2)
    assert not r.converged, r
    assert r.pck10 < 0.5, r
