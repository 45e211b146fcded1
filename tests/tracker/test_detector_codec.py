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
