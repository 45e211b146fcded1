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


# One torch thread: the README's test command runs two pytest-xdist workers on the 2 cores, and two
# torch threads beside the other worker wait at every barrier for a thread that is not running
# (session 77, beside another busy process: 20 steps 26 s with two threads against 6 s with one).
THREADS = 1


def test_recipe_overfits_few_hands(few_hands):
    from train.sanity import overfit
    r = overfit(*few_hands, steps=160, batch=12, threads=THREADS)
    assert r.loss_drop >= 10, r
    assert r.pck10 >= 0.9, r
    assert r.converged


@pytest.mark.parametrize("broken", ["mean_pose", "zero"])
def test_check_fails_for_collapsed_targets(few_hands, broken):
    """A deliberately broken target makes the model collapse, and the same check catches it."""
    from train.sanity import overfit
    r = overfit(*few_hands, steps=60, batch=12, broken=broken, threads=THREADS)
    assert not r.converged, r
    assert r.pck10 < 0.5, r
