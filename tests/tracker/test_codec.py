import numpy as np
import pytest

from tracker.codec import HeatmapCodec


@pytest.mark.parametrize("input_size,heatmap_size,sigma", [
    ((128, 128), (32, 32), 1.5),
    ((160, 160), (40, 40), 2.0),
    ((128, 96), (64, 48), 1.0),
])
def test_round_trip_within_0_1_px(input_size, heatmap_size, sigma):
    codec = HeatmapCodec(input_size, heatmap_size, sigma)
    rng = np.random.default_rng(0)
    kps = rng.uniform(0, np.array(input_size) - 1, (500, 2)).astype(np.float32)
    heat, weight = codec.encode(kps)
    assert heat.shape == (500, heatmap_size[1], heatmap_size[0])
    assert np.all(weight == 1)
    np.testing.assert_allclose(heat.sum(axis=(1, 2)), 1.0, rtol=1e-5)
    dec, scores = codec.decode(heat)
    err = np.abs(dec - kps).max()
    assert err < 0.1, err
    assert scores.min() > 0.75  # an exact target is a confident prediction wherever it lies


def test_decode_batched_equals_single():
    codec = HeatmapCodec()
    rng = np.random.default_rng(1)
    kps = rng.uniform(0, 127, (2, 17, 2)).astype(np.float32)
    heat = np.stack([codec.encode(k)[0] for k in kps])
    both, s_both = codec.decode(heat)
    one, s_one = codec.decode(heat[1])
    assert both.shape == (2, 17, 2) and s_both.shape == (2, 17)
    np.testing.assert_allclose(both[1], one)
    np.testing.assert_allclose(s_both[1], s_one)


def test_invisible_and_outside_points_get_zero_weight():
    codec = HeatmapCodec()
    kps = np.array([[10, 10], [-20, 50], [50, 300], [60, 60]], np.float32)
    heat, w = codec.encode(kps, np.array([1, 1, 1, 0]))
    assert list(w) == [1, 0, 0, 0]
    assert heat[1:].sum() == 0


def test_flat_heatmap_scores_low_and_shape_errors():
    codec = HeatmapCodec()
    flat = np.full((17, 32, 32), 1 / 1024, np.float32)
    _, s = codec.decode(flat)
    assert s.max() < 0.05
    with pytest.raises(ValueError, match="heatmaps"):
        codec.decode(np.zeros((32, 32)))


def test_dict_round_trip():
    c = HeatmapCodec((160, 160), (40, 40), 2.0)
    assert HeatmapCodec.from_dict(c.to_dict()) == c


@pytest.mark.parametrize("kwargs, message", [
    (dict(heatmap_size=(2, 2)), "heatmap_size"),          # DARK reads a 3x3 patch around the peak
    (dict(heatmap_size=(40, 1)), "heatmap_size"),
    (dict(heatmap_size=(32.5, 32)), "heatmap_size"),
    (dict(input_size=(0, 128)), "input_size"),
    (dict(input_size=(128,)), "input_size"),
    (dict(sigma=0.0), "sigma"),
    (dict(sigma=float("nan")), "sigma"),
])
def test_codec_parameters_are_checked(kwargs, message):
    """A codec that cannot decode (maps under 3 cells wrapped the 3x3 patch around to the far
    side, or raised IndexError) is refused when made, e.g. from a model file's metadata."""
    with pytest.raises(ValueError, match=message):
        HeatmapCodec(**kwargs)


def test_decode_refuses_maps_of_another_size():
    """Maps of another size than the codec's would be decoded with the wrong stride: keypoints
    silently scaled (a 64x64 map read by a 32x32 codec lands every point at half its place)."""
    codec = HeatmapCodec((128, 128), (32, 32), 1.5)
    heat, _ = HeatmapCodec((128, 128), (64, 64), 3.0).encode(np.array([[100.0, 100.0]]))
    with pytest.raises(ValueError, match=r"64x64.*32x32"):
        codec.decode(heat)


def test_decode_of_an_empty_batch_is_empty():
    # reshape(n * k, -1) cannot infer a size from 0 elements: no hands in a batch raised
    codec = HeatmapCodec((160, 160), (40, 40), 2.0)
    kps, scores = codec.decode(np.zeros((0, 17, 40, 40), np.float32))
    assert kps.shape == (0, 17, 2) and scores.shape == (0, 17)
