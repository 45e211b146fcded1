import numpy as np
import pytest

from tracker.detector_codec import CenterCodec, iou_matrix, nms


def test_encode_decode_round_trip():
    c = CenterCodec((256, 192), 4)
    boxes = np.array([[10, 20, 60, 90], [150, 40, 230, 150], [100, 100, 114, 112]], np.float32)
    wr = np.array([[30, 85], [190, 140], [107, 111]], np.float32)
    md = np.array([[35, 50], [185, 80], [107, 104]], np.float32)
    heat, reg, mask = c.encode(boxes, wr, md)
    assert heat.shape == (1, 48, 64) and reg.shape == (8, 48, 64) and mask.max() == 1
    d = c.decode(heat, reg, threshold=0.5)
    assert len(d) == 3
    o = np.argsort(d.boxes[:, 0])
    ref = np.argsort(boxes[:, 0])
    np.testing.assert_allclose(d.boxes[o], boxes[ref], atol=1e-3)
    np.testing.assert_allclose(d.wrist[o], wr[ref], atol=1e-3)
    np.testing.assert_allclose(d.middle_mcp[o], md[ref], atol=1e-3)


def test_decode_empty():
    c = CenterCodec()
    d = c.decode(np.zeros((1, 48, 64), np.float32), np.zeros((8, 48, 64), np.float32))
    assert len(d) == 0 and d.boxes.shape == (0, 4)


@pytest.mark.parametrize("boxes,scores,thr,expected", [
    ([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]], [0.9, 0.8, 0.7], 0.4, [0, 2]),
    ([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]], [0.5, 0.8, 0.7], 0.4, [1, 2]),
    ([[0, 0, 10, 10], [5, 0, 15, 10]], [0.9, 0.8], 0.4, [0, 1]),   # IoU 1/3: both kept
    ([[0, 0, 10, 10], [5, 0, 15, 10]], [0.9, 0.8], 0.3, [0]),
    ([], [], 0.4, []),
])
def test_nms_hand_made(boxes, scores, thr, expected):
    assert list(nms(np.array(boxes, np.float32), np.array(scores), thr)) == expected


def test_iou_values():
    a = np.array([[0, 0, 10, 10]])
    b = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30]])
    np.testing.assert_allclose(iou_matrix(a, b)[0], [1.0, 1 / 3, 0.0])


def _cell_decode(c: CenterCodec, reg: np.ndarray, i: int, j: int) -> np.ndarray:
    """The box a peak at cell (i, j) would decode to (input px), as CenterCodec.decode computes it."""
    r = reg[:, j, i]
    cx, cy = (i + 0.5 + r[0]) * c.stride, (j + 0.5 + r[1]) * c.stride
    bw, bh = np.exp(r[2]) * c.stride, np.exp(r[3]) * c.stride
    return np.array([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2])


@pytest.mark.parametrize("min_gauss, box, wide", [
    (0.0, [100, 60, 220, 140], False),    # v0.6 targets: the 3x3 around the centre
    (0.3, [100, 60, 220, 140], True),     # a large hand: every cell where its Gaussian >= 0.3
    (0.3, [140, 100, 152, 108], False),   # a small one: its Gaussian is narrow (min_sigma), the 3x3 stays
    (0.6, [40, 20, 200, 200], True),
])
def test_every_regression_cell_decodes_to_the_hand_box(min_gauss, box, wide):
    from tracker.detector_codec import FAR_WEIGHT
    c = CenterCodec((320, 240), 4, regress_min_gauss=min_gauss)
    b = np.array([box], np.float32)
    centre = ((b[:, :2] + b[:, 2:]) / 2).astype(np.float32)
    _, reg, mask = c.encode(b, centre + [0, 10], centre - [0, 10])
    js, is_ = np.nonzero(mask[0])
    # expected cells: the 3x3 around the centre cell, and those within the Gaussian's level set
    sigma = max(0.8, max(box[2] - box[0], box[3] - box[1]) / 4 / 6)
    cx, cy = centre[0] / 4
    yy, xx = np.mgrid[0:60, 0:80] + 0.5
    want = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * sigma ** 2)) >= min_gauss if min_gauss else \
        np.zeros((60, 80), bool)
    want[int(cy) - 1:int(cy) + 2, int(cx) - 1:int(cx) + 2] = True
    assert np.array_equal(mask[0] > 0, want)
    n_cells = int(want.sum())
    assert (n_cells > 9) == wide
    for j, i in zip(js, is_):
        np.testing.assert_allclose(_cell_decode(c, reg, i, j), b[0], atol=1e-3)
    if not wide:
        assert sorted(mask[0][js, is_].tolist()) == [0.5] * 8 + [1.0]
    else:   # the 3x3 keeps its weights, the cells beyond share FAR_WEIGHT
        cj, ci = int((box[1] + box[3]) / 8), int((box[0] + box[2]) / 8)
        near = mask[0, cj - 1:cj + 2, ci - 1:ci + 2]
        assert near[1, 1] == 1.0 and np.isclose(near.sum(), 5.0)
        assert np.isclose(mask[0].sum() - near.sum(), FAR_WEIGHT, atol=1e-4)


def test_wide_regression_cells_go_to_the_nearer_hand():
    """Two hands side by side: each cell between them belongs to the hand whose centre is nearer
    in units of that hand's Gaussian, and decodes to that hand's box."""
    c = CenterCodec((320, 240), 4, regress_min_gauss=0.2)
    boxes = np.array([[20, 40, 140, 200], [150, 100, 190, 140]], np.float32)
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2
    _, reg, mask = c.encode(boxes, centre, centre)
    js, is_ = np.nonzero(mask[0])
    owners = set()
    for j, i in zip(js, is_):
        got = _cell_decode(c, reg, i, j)
        k = int(np.argmin(np.abs(boxes - got).sum(1)))
        np.testing.assert_allclose(got, boxes[k], atol=1e-3)
        owners.add(k)
        # the owner is the hand whose Gaussian (in its own sigma units) is nearer
        d = [np.hypot(i + 0.5 - cx / 4, j + 0.5 - cy / 4) / c.sigma_for(max(bx[2] - bx[0], bx[3] - bx[1]))
             for (cx, cy), bx in zip(centre, boxes)]
        assert k == int(np.argmin(d))
    assert owners == {0, 1}


@pytest.mark.parametrize("value", [-0.1, 1.0, 2.0])
def test_regress_min_gauss_outside_0_1_is_refused(value):
    with pytest.raises(ValueError, match="regress_min_gauss"):
        CenterCodec((320, 240), 4, regress_min_gauss=value)


def test_codec_dict_round_trip_keeps_the_regression_area():
    c = CenterCodec((320, 240), 4, 0.8, 0.3)
    assert CenterCodec.from_dict(c.to_dict()) == c
    old = {"input_size": [320, 240], "stride": 4, "min_sigma": 0.8}   # metadata of v0.6 and before
    assert CenterCodec.from_dict(old).regress_min_gauss == 0.0
