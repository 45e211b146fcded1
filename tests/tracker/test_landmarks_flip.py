"""Test-time flip of the landmark stage: the averaged result of a mirrored crop is the mirror of
the averaged result of the crop (this fails if the heatmap columns are reversed with any shift)."""
import numpy as np
import pytest

from tracker.landmarks import LandmarkModel


@pytest.fixture(scope="module")
def models():
    return LandmarkModel(threads=1), LandmarkModel(threads=1, flip_test=True)


def _batch(model, n=3, seed=0):
    rng = np.random.default_rng(seed)
    s = model.input_size
    img = rng.normal(0, 1, (n, 3, s, s)).astype(np.float32)
    # a bright blob off the vertical axis so that the maps are not symmetric by themselves
    img[:, :, s // 4:s // 2, s // 8:s // 3] += 2.0
    return img


def test_flip_test_is_mirror_symmetric(models):
    _, flip = models
    b = _batch(flip)
    heat, pres, side = flip.inference(b)
    heat_m, pres_m, side_m = flip.inference(np.ascontiguousarray(b[..., ::-1]))
    np.testing.assert_allclose(heat_m, heat[..., ::-1], atol=1e-6)
    np.testing.assert_allclose(pres_m, pres, atol=1e-6)
    np.testing.assert_allclose(side_m, 1.0 - side, atol=1e-6)
    kps, _ = flip.codec.decode(heat)
    kps_m, _ = flip.codec.decode(heat_m)
    s = flip.input_size
    np.testing.assert_allclose(kps_m[..., 0], s - 1 - kps[..., 0], atol=1e-3)
    np.testing.assert_allclose(kps_m[..., 1], kps[..., 1], atol=1e-3)


def test_flip_test_averages_the_plain_outputs(models):
    plain, flip = models
    b = _batch(plain, seed=1)
    h1, p1, s1 = plain.inference(b)
    h2, p2, s2 = plain.inference(np.ascontiguousarray(b[..., ::-1]))
    h, p, s = flip.inference(b)
    np.testing.assert_allclose(h, 0.5 * (h1 + h2[..., ::-1]), atol=1e-6)
    np.testing.assert_allclose(p, 0.5 * (p1 + p2), atol=1e-6)
    np.testing.assert_allclose(s, 0.5 * (s1 + 1 - s2), atol=1e-6)
    assert h.shape == h1.shape and np.allclose(h.sum(axis=(2, 3)), 1.0, atol=1e-4)
