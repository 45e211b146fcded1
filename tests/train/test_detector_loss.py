"""The detector's box losses: GIoU on the regression cells' boxes, on hand-made boxes."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")


def _maps(boxes_cells):
    """(N, 4) cell-relative x0, y0, x1, y1 -> (N, 4, 1, 1) offset / log-size maps."""
    b = torch.tensor(boxes_cells, dtype=torch.float32)
    c, wh = (b[:, :2] + b[:, 2:]) / 2, b[:, 2:] - b[:, :2]
    return torch.cat([c, wh.log()], 1)[:, :, None, None]


@pytest.mark.parametrize("a, b, expected", [
    ([0, 0, 2, 2], [0, 0, 2, 2], 1.0),               # the same box
    ([0, 0, 2, 2], [1, 0, 3, 2], 1 / 3),             # half overlap: IoU 1/3, the hull is the union
    ([0, 0, 1, 1], [2, 0, 3, 1], -1 / 3),            # apart: IoU 0, hull 3, union 2 -> -1/3
    ([0, 0, 4, 4], [1, 1, 3, 3], 0.25),              # one inside the other
])
def test_giou_hand_made(a, b, expected):
    from train.train_detector import cell_boxes, giou
    got = giou(cell_boxes(_maps([a])), cell_boxes(_maps([b])))
    assert got.item() == pytest.approx(expected, abs=1e-5)


def test_giou_term_is_zero_for_a_perfect_box_and_pulls_a_far_one_in():
    from train.train_detector import detector_loss
    t_reg = torch.zeros(1, 8, 4, 4)
    t_reg[:, :4] = _maps([[-1, -1, 2, 1]])
    t_mask = torch.zeros(1, 1, 4, 4)
    t_mask[..., 1, 2] = 1.0
    heat = torch.zeros(1, 1, 4, 4)
    _, parts = detector_loss(heat, t_reg.clone(), heat, t_reg, t_mask, torch.ones_like(heat), w_giou=1.0)
    assert parts["giou"] == pytest.approx(0.0, abs=1e-6)
    reg = t_reg.clone()
    reg[:, 0] += 5.0                                  # centre 5 cells off: no overlap at all
    reg.requires_grad_(True)
    loss, parts = detector_loss(heat, reg, heat, t_reg, t_mask, torch.ones_like(heat), w_regress=0.0, w_giou=1.0)
    assert parts["giou"] > 1.0
    loss.backward()
    assert reg.grad[0, 0, 1, 2] > 0                   # the gradient moves the box back toward the target
    assert np.count_nonzero(reg.grad.numpy()) > 0 and reg.grad[0, :, 0, 0].abs().sum() == 0   # masked cells: none


def test_without_w_giou_the_loss_is_the_v06_one():
    from train.train_detector import detector_loss
    g = torch.Generator().manual_seed(0)
    args = [torch.randn(2, 1, 6, 6, generator=g), torch.randn(2, 8, 6, 6, generator=g),
            torch.rand(2, 1, 6, 6, generator=g), torch.randn(2, 8, 6, 6, generator=g),
            (torch.rand(2, 1, 6, 6, generator=g) > 0.7).float(), torch.ones(2, 1, 6, 6)]
    base, parts = detector_loss(*args)
    assert "giou" not in parts
    with_giou, parts = detector_loss(*args, w_giou=0.5)
    assert with_giou.item() == pytest.approx(base.item() + 0.5 * parts["giou"], rel=1e-5)
