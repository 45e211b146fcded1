"""Gaussian heatmap codec with DARK sub-pixel decoding (numpy only).

The same class builds the training targets (``encode``) and decodes the network output at run
time (``decode``), so training and inference can't disagree on coordinates.

Coordinate convention: keypoints are in pixels of the model input (``input_size``). Heatmap cell
``j`` covers input pixels around ``(j + 0.5) * stride - 0.5``.

The network is trained with a spatial-softmax cross-entropy against the normalised Gaussian
target, so its output is a probability map per keypoint (sums to 1). Decoding takes the arg-max
and refines it with a DARK-style step (Zhang et al. 2020: Taylor expansion of the log heatmap),
which is exact for a Gaussian.
"""
from __future__ import annotations

import functools
from dataclasses import asdict, dataclass

import numpy as np

from .checks import is_int


@dataclass(frozen=True)
class HeatmapCodec:
    """Heatmap encoder/decoder.

    Attributes:
        input_size: (width, height) of the model input in pixels.
        heatmap_size: (width, height) of the heatmaps in cells.
        sigma: Gaussian standard deviation in heatmap cells.
    """

    input_size: tuple[int, int] = (128, 128)
    heatmap_size: tuple[int, int] = (32, 32)
    sigma: float = 1.5

    def __post_init__(self):
        def pair(name: str, low: int) -> None:
            v = getattr(self, name)
            ok = (isinstance(v, (tuple, list)) and len(v) == 2
                  and all(is_int(x) and x >= low for x in v))
            if not ok:
                raise ValueError(f"HeatmapCodec: {name} must be two integers >= {low} (width, height), got {v!r}")
        pair("input_size", 1)
        # decoding refines the peak from the 3x3 cells around it
        pair("heatmap_size", 3)
        if not (isinstance(self.sigma, (int, float, np.number)) and np.isfinite(self.sigma) and self.sigma > 0):
            raise ValueError(f"HeatmapCodec: sigma must be a positive number of heatmap cells, got {self.sigma!r}")

    @property
    def stride(self) -> np.ndarray:
        """Input pixels per heatmap cell, (sx, sy)."""
        return np.array(self.input_size, np.float32) / np.array(self.heatmap_size, np.float32)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["input_size"] = list(self.input_size)
        d["heatmap_size"] = list(self.heatmap_size)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "HeatmapCodec":
        return cls(tuple(d["input_size"]), tuple(d["heatmap_size"]), float(d["sigma"]))

    # -- coordinates -------------------------------------------------------------------------
    def input_to_heatmap(self, pts: np.ndarray) -> np.ndarray:
        """(..., 2) input pixels -> heatmap cell coordinates."""
        return (np.asarray(pts, np.float32) + 0.5) / self.stride - 0.5

    def heatmap_to_input(self, pts: np.ndarray) -> np.ndarray:
        """(..., 2) heatmap cell coordinates -> input pixels."""
        return (np.asarray(pts, np.float32) + 0.5) * self.stride - 0.5

    # -- encode ------------------------------------------------------------------------------
    def encode(self, keypoints: np.ndarray, visible: np.ndarray | None = None
               ) -> tuple[np.ndarray, np.ndarray]:
        """Gaussian targets for one hand.

        Args:
            keypoints: (K, 2) input pixels. visible: (K,) weights (all 1 when None).

        Returns:
            heatmaps (K, H, W) float32, each summing to 1 (zeros where the weight is 0), and
            weights (K,) float32: 0 for invisible points and for points whose Gaussian centre
            lies outside the heatmap.
        """
        kps = np.asarray(keypoints, np.float32)
        k = len(kps)
        w, h = self.heatmap_size
        vis = np.ones(k, np.float32) if visible is None else np.asarray(visible, np.float32).copy()
        mu = self.input_to_heatmap(kps)
        # inside tested in input pixels (the same bounds: mu = (p + 0.5) / stride - 0.5): with a
        # non-integer stride float32 put a point on the far border past w - 0.5, at weight 0
        iw, ih = self.input_size
        inside = (kps[:, 0] >= -0.5) & (kps[:, 0] <= iw - 0.5) & (kps[:, 1] >= -0.5) & (kps[:, 1] <= ih - 0.5)
        vis = np.where(inside & np.all(np.isfinite(mu), 1), vis, 0.0).astype(np.float32)
        mu = np.nan_to_num(mu)
        xs = np.arange(w, dtype=np.float32)
        ys = np.arange(h, dtype=np.float32)
        gx = np.exp(-((xs[None] - mu[:, :1]) ** 2) / (2 * self.sigma ** 2))  # (K, W)
        gy = np.exp(-((ys[None] - mu[:, 1:]) ** 2) / (2 * self.sigma ** 2))  # (K, H)
        hm = gy[:, :, None] * gx[:, None, :]
        hm /= np.maximum(hm.sum(axis=(1, 2), keepdims=True), 1e-12)
        hm *= (vis > 0)[:, None, None]
        return hm.astype(np.float32), vis

    # -- decode ------------------------------------------------------------------------------
    def decode(self, heatmaps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Keypoints from probability heatmaps.

        Args:
            heatmaps: (K, H, W) or (N, K, H, W) non-negative maps (softmax output).

        Returns:
            keypoints (..., K, 2) float32 in input pixels, and scores (..., K) float32 in [0, 1]:
            the probability mass in the 3x3 cells around the peak divided by the mass an exact
            target has there (so a perfect, sharp prediction scores 1; 0 where that mass is not
            finite).
        """
        hm = np.asarray(heatmaps, np.float32)
        squeeze = hm.ndim == 3
        if squeeze:
            hm = hm[None]
        if hm.ndim != 4:
            raise ValueError(f"heatmaps must be (K,H,W) or (N,K,H,W), got shape {hm.shape}")
        n, k, h, w = hm.shape
        if (w, h) != tuple(self.heatmap_size):
            # another stride than the codec's would scale every keypoint silently
            raise ValueError(f"heatmaps are {w}x{h} cells, this codec decodes "
                             f"{self.heatmap_size[0]}x{self.heatmap_size[1]} (heatmap_size)")
        flat = hm.reshape(n * k, h, w)
        idx = flat.reshape(n * k, h * w).argmax(axis=1)   # h * w, not -1: an empty batch (N = 0) too
        py, px = np.divmod(idx, w)
        # only 3x3 neighbourhoods are read (not the whole maps): decoding runs on every frame
        r = np.arange(n * k)[:, None, None]
        d = np.arange(-1, 2)
        yy, xx = py[:, None, None] + d[None, :, None], px[:, None, None] + d[None, None, :]
        inside = (yy >= 0) & (yy < h) & (xx >= 0) & (xx < w)
        around = flat[r, np.clip(yy, 0, h - 1), np.clip(xx, 0, w - 1)]
        mass = np.where(inside, around, 0.0).sum(axis=(1, 2))  # cells outside the map count 0
        # a non-finite map (a broken model, a half-precision overflow) has no peak to trust: score
        # 0 rather than NaN, which would pass every confidence check downstream (NaN compares False)
        scores = np.clip(np.where(np.isfinite(mass), mass, 0.0) / self._ideal_mass, 0.0, 1.0)
        # expand around an interior cell: at an edge peak the expansion at the neighbour still
        # finds the vertex of the (log-)quadratic exactly
        cx, cy = np.clip(px, 1, w - 2), np.clip(py, 1, h - 2)
        patch = flat[r, cy[:, None, None] + d[None, :, None], cx[:, None, None] + d[None, None, :]]
        # No usable expansion (a peak whose log is not concave) leaves the interior cell: at the
        # border one cell inward of the argmax. Taking the argmax cell instead (session 41) moved 1
        # of 135,864 val keypoints either way and cost ali_hand a few hand-frames: not changed.
        coords = np.stack([cx, cy], axis=1).astype(np.float32)
        # the floor: the smallest normal float32, not 1e-10, which flattened the patch of a sharp
        # target (sigma < 0.5 cells) near the corners
        coords += self._dark_offset(np.log(np.maximum(patch, np.finfo(np.float32).tiny)))
        kps = self.heatmap_to_input(coords).reshape(n, k, 2)
        scores = scores.reshape(n, k).astype(np.float32)
        return (kps[0], scores[0]) if squeeze else (kps, scores)

    @functools.cached_property
    def _ideal_mass(self) -> float:
        # the reference target sits on a cell centre (integer heatmap coordinates): w / 2 on a map
        # of odd width lies between two cells, whose 3x3 mass is smaller, and every score came out
        # about 8 % too high (sigma 1.5) on such codecs
        w0, h0 = self.heatmap_size[0] // 2, self.heatmap_size[1] // 2
        hm, _ = self.encode(self.heatmap_to_input(np.array([w0, h0], np.float32))[None])
        return float(hm[0, h0 - 1:h0 + 2, w0 - 1:w0 + 2].sum())

    def _dark_offset(self, logp: np.ndarray) -> np.ndarray:
        """Sub-cell offsets (M, 2) from a Taylor expansion of the log heatmap at the peak (0 where
        the expansion is not concave or not finite).

        ``logp`` (M, 3, 3): the log heatmap around an interior cell (row = y, column = x). No blur
        first (unlike the DARK paper): the softmax output is already smooth, and a blur with any
        border mode shifts peaks that lie near the heatmap edge.
        """
        def at(dy, dx):
            return logp[:, 1 + dy, 1 + dx]

        dx = 0.5 * (at(0, 1) - at(0, -1))
        dy = 0.5 * (at(1, 0) - at(-1, 0))
        dxx = at(0, 1) - 2 * at(0, 0) + at(0, -1)
        dyy = at(1, 0) - 2 * at(0, 0) + at(-1, 0)
        dxy = 0.25 * (at(1, 1) - at(1, -1) - at(-1, 1) + at(-1, -1))
        det = dxx * dyy - dxy ** 2
        ok = (det > 1e-8) & (dxx < 0)
        safe = np.where(ok, det, 1.0)
        with np.errstate(invalid="ignore"):     # an inf cell: inf / inf, refused just below
            ox = -(dyy * dx - dxy * dy) / safe
            oy = -(dxx * dy - dxy * dx) / safe
        off = np.stack([ox, oy], axis=1)
        ok &= np.isfinite(off).all(axis=1)      # a +inf cell passes the checks above (det inf, dxx -inf)
        off = np.where(ok[:, None], np.clip(off, -1.5, 1.5), 0.0)
        return off.astype(np.float32)
