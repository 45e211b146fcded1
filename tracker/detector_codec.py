"""Centre-heatmap detector codec (CenterNet style) and NMS, numpy only.

Targets per hand, on a grid of ``stride``-pixel cells of the detector input:
    heatmap  (1, h, w)  Gaussian splat at the hand-box centre cell, peak 1
    regress  (8, h, w)  at the centre cell (and its 3x3 neighbours, so that a peak one cell off
                        still decodes well; with ``regress_min_gauss`` > 0 at every cell where
                        the hand's Gaussian is at least that, as TTFNet does), relative to that cell:
        0-1  centre - (cell + 0.5), in cells
        2-3  log(box width / stride), log(box height / stride)
        4-5  (wrist - centre) / box side          (box side = max(width, height))
        6-7  (middle_mcp - centre) / box side
The wrist -> middle-MCP vector is the orientation cue that makes the first landmark crop upright.
Coordinates are pixels of the detector input.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .keypoints import HandKeypoint

NUM_REGRESS = 8
FAR_WEIGHT = 2.0  # total regression weight of one hand's cells outside its 3x3 (regress_min_gauss > 0)


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU between boxes (N, 4) and (M, 4), x0, y0, x1, y1 -> (N, M)."""
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    x0 = np.maximum(a[:, None, 0], b[None, :, 0])
    y0 = np.maximum(a[:, None, 1], b[None, :, 1])
    x1 = np.minimum(a[:, None, 2], b[None, :, 2])
    y1 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / np.maximum(area_a[:, None] + area_b[None] - inter, 1e-9)


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float = 0.4) -> np.ndarray:
    """Greedy non-maximum suppression of (N, 4) x0, y0, x1, y1 ``boxes`` by (N,) ``scores``;
    returns kept indices, best score first. A box with a NaN coordinate overlaps no other."""
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    order = np.argsort(-np.asarray(scores), kind="stable")
    keep = []
    while order.size:
        i = order[0]
        keep.append(i)
        if order.size == 1:
            break
        ious = iou_matrix(boxes[i:i + 1], boxes[order[1:]])[0]
        # a NaN box's IoU is NaN: it overlaps nothing (``ious <= t`` dropped every box after it)
        order = order[1:][~(ious > iou_threshold)]
    return np.array(keep, dtype=np.int64)


@dataclass
class DecodedDetections:
    """Detections in detector-input pixels: boxes (N, 4), scores (N,), wrist (N, 2), middle_mcp (N, 2)."""

    boxes: np.ndarray
    scores: np.ndarray
    wrist: np.ndarray
    middle_mcp: np.ndarray

    def __len__(self):
        return len(self.scores)

    def select(self, idx) -> "DecodedDetections":
        return DecodedDetections(self.boxes[idx], self.scores[idx], self.wrist[idx], self.middle_mcp[idx])


@dataclass(frozen=True)
class CenterCodec:
    """Encoder/decoder for the detector's heatmap + regression maps.

    Attributes:
        input_size: (width, height) of the detector input, pixels. stride: pixels per cell.
        min_sigma: smallest Gaussian radius in cells.
        regress_min_gauss: 0 (v0.6 and before): regression targets at the 3x3 cells around each
            centre, weight 1 at the centre and 0.5 around it. > 0: also at every cell where the
            hand's Gaussian is >= this, weighted by the Gaussian; those outside the 3x3
            share a total weight of :data:`FAR_WEIGHT` (the 3x3 keeps its 1 + 8 x 0.5), so that a
            peak landing further from the centre, as on large or thin hands, still reads a box
            meant for it. Decoding is the same either way.
    """

    input_size: tuple[int, int] = (256, 192)
    stride: int = 4
    min_sigma: float = 0.8
    regress_min_gauss: float = 0.0

    def __post_init__(self):
        if not 0.0 <= self.regress_min_gauss < 1.0:
            raise ValueError(f"regress_min_gauss must be in [0, 1), got {self.regress_min_gauss}")

    @property
    def grid(self) -> tuple[int, int]:
        """(w, h) cells."""
        return self.input_size[0] // self.stride, self.input_size[1] // self.stride

    def to_dict(self) -> dict:
        return {"input_size": list(self.input_size), "stride": self.stride, "min_sigma": self.min_sigma,
                "regress_min_gauss": self.regress_min_gauss}

    @classmethod
    def from_dict(cls, d: dict) -> "CenterCodec":
        return cls(tuple(d["input_size"]), int(d["stride"]), float(d.get("min_sigma", 0.8)),
                   float(d.get("regress_min_gauss", 0.0)))

    def sigma_for(self, box_side_px: float) -> float:
        return max(self.min_sigma, box_side_px / self.stride / 6.0)

    def encode(self, boxes: np.ndarray, wrists: np.ndarray, mids: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Targets for the hands of one image.

        Args:
            boxes: (N, 4) x0, y0, x1, y1 input px. wrists, mids: (N, 2) input px; NaN where the
                labels give no such point (a hand whose wrist lies outside its photo): that cue's
                two regression channels are NaN in its cells, which the training loss leaves out,
                while its box is taught as any other's.

        Returns:
            heatmap (1, h, w) float32 in [0, 1]; regress (8, h, w) float32; mask (1, h, w)
            float32: weight of each cell's regression target (0 where none).
        """
        w, h = self.grid
        if not np.isfinite(np.asarray(boxes, np.float32)).all():
            raise ValueError(f"boxes must be finite input pixels, got {np.asarray(boxes).tolist()!r:.120}")
        heat = np.zeros((h, w), np.float32)
        reg = np.zeros((NUM_REGRESS, h, w), np.float32)
        mask = np.zeros((h, w), np.float32)
        best = np.full((h, w), np.inf, np.float32)  # ownership distance of the owning hand
        ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
        for box, wr, md in zip(np.asarray(boxes, np.float32), np.asarray(wrists, np.float32),
                               np.asarray(mids, np.float32)):
            bw, bh = max(box[2] - box[0], 1.0), max(box[3] - box[1], 1.0)
            side = max(bw, bh)
            c = np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2], np.float32)
            cc = c / self.stride  # centre in cell units (cell i spans [i, i+1))
            ci, cj = int(np.floor(cc[0])), int(np.floor(cc[1]))
            if not (0 <= ci < w and 0 <= cj < h):
                continue
            s = self.sigma_for(side)
            g = np.exp(-((xs + 0.5 - cc[0]) ** 2 + (ys + 0.5 - cc[1]) ** 2) / (2 * s * s))
            heat = np.maximum(heat, g)
            heat[cj, ci] = 1.0
            # Ownership of a cell two hands share goes to the nearer centre: in cells (v0.6
            # targets), or in units of each hand's sigma when the regression area follows it.
            unit = s if self.regress_min_gauss > 0 else 1.0
            dist = lambda i, j: float(np.hypot(i + 0.5 - cc[0], j + 0.5 - cc[1])) / unit  # noqa: E731
            cells = []   # (i, j, weight, ownership distance)
            for dj in (-1, 0, 1):
                for di in (-1, 0, 1):
                    i, j = ci + di, cj + dj
                    if 0 <= i < w and 0 <= j < h:
                        cells.append((i, j, 1.0 if (di == 0 and dj == 0) else 0.5, dist(i, j)))
            if self.regress_min_gauss > 0:
                # Cells further out share a total weight of FAR_WEIGHT by their Gaussian, so the
                # 3x3 around the centre keeps its say however large the hand.
                near = {(i, j) for i, j, _, _ in cells}
                js, is_ = np.nonzero(g >= self.regress_min_gauss)
                far = [(int(i), int(j)) for j, i in zip(js, is_) if (int(i), int(j)) not in near]
                total = sum(float(g[j, i]) for i, j in far)
                cells += [(i, j, FAR_WEIGHT * float(g[j, i]) / total, dist(i, j)) for i, j in far]
            for i, j, wt, d in cells:
                if d >= best[j, i]:
                    continue
                best[j, i] = d
                reg[0, j, i] = cc[0] - (i + 0.5)
                reg[1, j, i] = cc[1] - (j + 0.5)
                reg[2, j, i] = np.log(bw / self.stride)
                reg[3, j, i] = np.log(bh / self.stride)
                reg[4:6, j, i] = (wr - c) / side          # NaN for a point the labels do not give
                reg[6:8, j, i] = (md - c) / side
                mask[j, i] = wt
        return heat[None], reg, mask[None]

    def decode(self, heatmap: np.ndarray, regress: np.ndarray, threshold: float = 0.5,
               max_detections: int = 10, iou_threshold: float = 0.4) -> DecodedDetections:
        """Peaks of ``heatmap`` (1, h, w) or (h, w) above ``threshold`` -> detections, after NMS."""
        hm = np.asarray(heatmap, np.float32).reshape(regress.shape[-2:])
        # a non-finite cell (a broken model, a half-precision overflow) is no score: an inf one
        # was a detection scored inf, a NaN one beside a peak hid it from the dilation's test
        hm = np.where(np.isfinite(hm), hm, 0.0).astype(np.float32, copy=False)
        peaks = (hm >= cv2.dilate(hm, np.ones((3, 3), np.uint8))) & (hm >= threshold)
        js, is_ = np.nonzero(peaks)
        if js.size == 0:
            z = np.zeros((0, 2), np.float32)
            return DecodedDetections(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), z, z.copy())
        sc = hm[js, is_]
        order = np.argsort(-sc)[: max_detections * 3]
        js, is_, sc = js[order], is_[order], sc[order]
        r = regress[:, js, is_]  # (8, n)
        cx = (is_ + 0.5 + r[0]) * self.stride
        cy = (js + 0.5 + r[1]) * self.stride
        bw = np.exp(np.clip(r[2], -5, 8)) * self.stride
        bh = np.exp(np.clip(r[3], -5, 8)) * self.stride
        side = np.maximum(bw, bh)
        boxes = np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], 1).astype(np.float32)
        c = np.stack([cx, cy], 1)
        wrist = (c + r[4:6].T * side[:, None]).astype(np.float32)
        mid = (c + r[6:8].T * side[:, None]).astype(np.float32)
        det = DecodedDetections(boxes, sc.astype(np.float32), wrist, mid)
        keep = nms(boxes, sc, iou_threshold)[:max_detections]
        return det.select(keep)


def hand_box_and_cues(kps17: np.ndarray, visible: np.ndarray | None = None):
    """(box (4,), wrist (2,), middle_mcp (2,)) of a labelled hand, pixels."""
    k = np.asarray(kps17, np.float32)
    v = np.ones(len(k), bool) if visible is None else np.asarray(visible) > 0
    p = k[v] if v.any() else k
    box = np.concatenate([p.min(0), p.max(0)])
    return box, k[HandKeypoint.WRIST].copy(), k[HandKeypoint.MIDDLE_MCP].copy()
