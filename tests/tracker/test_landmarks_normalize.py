"""Input normalisation of the runtime stages (one OpenCV pass) against the plain numpy formula
the training loop uses: (x - mean) / std on RGB, channels first."""
import numpy as np
import pytest

from tracker.landmarks import normalize_image

MEAN, STD = (123.675, 116.28, 103.53), (58.395, 57.12, 57.375)


@pytest.mark.parametrize("shape,bgr", [((1, 160, 160, 3), True), ((3, 20, 30, 3), True),
                                       ((2, 17, 9, 3), False)])
def test_normalize_matches_numpy(shape, bgr):
    x = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    rgb = x[..., ::-1] if bgr else x
    want = ((rgb.astype(np.float32) - np.float32(MEAN)) / np.float32(STD)).transpose(0, 3, 1, 2)
    got = normalize_image(x, MEAN, STD, bgr=bgr)
    assert got.shape == (shape[0], 3, shape[1], shape[2]) and got.dtype == np.float32
    assert got.flags["C_CONTIGUOUS"]
    np.testing.assert_allclose(got, want, atol=1e-4)
    # a pure-red BGR pixel ends up in the R plane (index 0) with its 255
    red = np.zeros((1, 2, 2, 3), np.uint8)
    red[..., 2 if bgr else 0] = 255
    np.testing.assert_allclose(normalize_image(red, MEAN, STD, bgr=bgr)[0, :, 0, 0],
                               [(255 - MEAN[0]) / STD[0], -MEAN[1] / STD[1], -MEAN[2] / STD[2]], atol=1e-4)
