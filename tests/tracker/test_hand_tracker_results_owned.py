"""Results handed to the application are the application's: changing them does not change tracking."""
import numpy as np
import pytest

from .tracker_fakes import SceneHand, blank, fake_tracker, hand_keypoints


def _run(mutate, static=False):
    """Six frames of a right hand moving right, hands' arrays changed in place after each call when
    ``mutate`` (as an application normalising to [0, 1] would: ``hand.keypoints /= image_size``);
    returns each frame's (track ids, as_array())."""
    # one hand at most: the detector does not run while it is tracked, so its crop comes from the
    # track's own state
    tr, scene, _, _ = fake_tracker(static_image_mode=static, max_hands=1)
    out = []
    for i in range(6):
        scene.hands = [SceneHand(hand_keypoints(100 + 8 * i, 120), True)]
        r = tr.process(blank(), timestamp_ms=i * 33.3)
        out.append(([h.track_id for h in r.hands], r.as_array()))
        if mutate:
            for h in r.hands:
                for a in (h.keypoints, h.raw_keypoints):
                    a /= np.asarray(r.image_size, np.float32)
                h.scores[:] = 0.0
    return out


@pytest.mark.parametrize("static", [False, True])
def test_changing_a_results_arrays_in_place_does_not_change_tracking(static):
    clean, mutated = _run(False, static), _run(True, static)
    for (ids_a, arr_a), (ids_b, arr_b) in zip(clean, mutated):
        assert ids_a == ids_b
        np.testing.assert_array_equal(arr_a, arr_b)
