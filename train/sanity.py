"""Convergence check: overfit the landmark recipe on a few dozen hands.

A working recipe drives the loss down >= 10x and reaches PCK@0.1 >= 0.9 on the hands it saw; a
model that outputs a constant (mean) pose or all-zero heatmaps cannot. ``broken`` deliberately
breaks the targets to show that the check catches both collapses:

- ``"mean_pose"``: every crop's target is the mean pose of the set (what coordinate regression
  collapses to);
- ``"zero"``: all-zero target heatmaps (what an MSE heatmap net collapses to).

    python -m train.sanity --data ../shared/data/hands21 --hands 32 --steps 300
"""
from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass

import numpy as np
import torch

from tracker.codec import HeatmapCodec
from tracker.cli import int_at_least
from tracker.metrics import pck

from .augment import AugmentConfig, sample_crop
from .common import normalize_batch
from .data import ImageCache
from .evaluate import eval_records, finite_figures
from .model import LandmarkModelConfig, LandmarkNet
from .train_landmarks import landmark_loss

#: the most --steps: the check needs a few hundred; a count without a bound trained for ever
MAX_STEPS = 100_000


@dataclass
class _LossDrop:
    first_loss: float
    last_loss: float

    @property
    def loss_drop(self) -> float:
        return self.first_loss / self.last_loss if self.last_loss > 0 else float("nan")


@dataclass
class OverfitResult(_LossDrop):
    pck10: float
    pck05: float
    seconds: float

    @property
    def converged(self) -> bool:
        return bool(self.loss_drop >= 10 and self.pck10 >= 0.9)


def overfit(records, cache, steps: int = 300, batch: int = 16, lr: float = 3e-3, input_size: int = 128,
            broken: str | None = None, seed: int = 0, threads: int | None = None) -> OverfitResult:
    """Train a fresh landmark net on fixed, un-augmented crops of ``records``; score it on them."""
    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(seed)
    codec = HeatmapCodec((input_size,) * 2, (input_size // 4,) * 2, 1.5)
    cfg = AugmentConfig(photometric=False)
    rng = np.random.default_rng(seed)
    crops = [sample_crop(cache[r.image], r, input_size, cfg, rng, train=False) for r in records]
    x_all = torch.from_numpy(np.stack([c["crop"] for c in crops]))
    true_kps = np.stack([c["keypoints"] for c in crops])
    vis = np.stack([c["visible"] for c in crops])
    tgt_kps = true_kps.copy()
    if broken == "mean_pose":
        tgt_kps[:] = true_kps.mean(0)
    elif broken not in (None, "zero"):
        raise ValueError(f"broken must be None, 'mean_pose' or 'zero', got {broken!r}")
    targets, weights = zip(*(codec.encode(k, v) for k, v in zip(tgt_kps, vis)))
    targets = torch.from_numpy(np.stack(targets))
    if broken == "zero":
        targets.zero_()
    weights = torch.from_numpy(np.stack(weights))
    pres = torch.ones(len(records))
    side = torch.tensor([float(r.handedness) for r in records])
    side_sc = torch.tensor([r.handedness_score for r in records], dtype=torch.float32)
    net = LandmarkNet(LandmarkModelConfig(input_size))
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=0)
    dev = torch.device("cpu")
    losses = []
    t0 = time.time()
    n = len(records)
    for step in range(steps):
        idx = torch.from_numpy(rng.choice(n, size=min(batch, n), replace=False))
        for g in opt.param_groups:
            g["lr"] = lr * min(1.0, (step + 1) / 20)
        heat, logits = net(normalize_batch(x_all[idx], dev))
        loss, _ = landmark_loss(heat, logits, targets[idx], weights[idx], pres[idx], side[idx], side_sc[idx], 0, 0)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    net.eval()
    with torch.no_grad():
        heat, _ = net(normalize_batch(x_all, dev))
        b, k, h, w = heat.shape
        prob = torch.softmax(heat.reshape(b, k, -1), -1).reshape(b, k, h, w).numpy()
    pred, _ = codec.decode(prob)
    p = pck(pred, true_kps, vis)
    m = max(1, min(10, steps // 10))
    return OverfitResult(float(np.mean(losses[:m])), float(np.mean(losses[-m:])), p[0.1], p[0.05],
                         time.time() - t0)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m train.sanity", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="../shared/data/hands21")
    ap.add_argument("--split", default="train",
                    help="a dataset folder's split (default train); for a single --data file: 'train' the images "
                         "training trains on (val fraction 0.1), 'val' those it holds out, 'all' every row")
    # --hands -2 took all but 2 of the split, 0 failed in np.stack; --steps 0 gave NaN
    ap.add_argument("--hands", type=int_at_least("--hands", 1), default=32,
                    help="the first N hands of the split (default 32)")
    ap.add_argument("--steps", type=int_at_least("--steps", 1, MAX_STEPS), default=300,
                    help=f"training steps (default 300, at most {MAX_STEPS})")
    ap.add_argument("--broken", choices=["mean_pose", "zero"], default=None)
    a = ap.parse_args(argv)
    try:
        recs = eval_records(a.data, a.split)[: a.hands]   # a single file's --split as train.evaluate reads it
        if not recs:
            raise ValueError(f"--data {a.data}: no labelled hands to train on")
        cache = ImageCache(recs)
    except (FileNotFoundError, ValueError) as e:
        raise SystemExit(f"error: {e}")
    r = overfit(recs, cache, a.steps, broken=a.broken)
    # strict JSON: --broken zero's loss drop is 0/0, printed null (not NaN)
    print(json.dumps(finite_figures({**r.__dict__, "loss_drop": r.loss_drop, "converged": r.converged}),
                     allow_nan=False))



@dataclass
class DetectorOverfitResult(_LossDrop):
    recall: float
    fp_per_frame: float
    seconds: float


def overfit_detector(records, cache, scenes: int = 8, steps: int = 200, size=(128, 96), lr: float = 3e-3,
                     threshold: float = 0.3, seed: int = 0, threads: int | None = None) -> DetectorOverfitResult:
    """Train a fresh detector on a few fixed composed scenes; report loss drop and recall on them."""
    from tracker.detector_codec import CenterCodec
    from tracker.metrics import match_detections

    from .model import DetectorModelConfig, DetectorNet
    from .scenes import SceneConfig, compose_scene
    from .train_detector import detector_loss, group_by_image, scene_targets

    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    codec = CenterCodec(size, 4)
    scfg = SceneConfig(size[0], size[1], hand_frac=(0.2, 0.5), count_p=(0.0, 0.5, 0.5, 0.0, 0.0))
    groups = group_by_image(records)
    items = []
    while len(items) < scenes:
        img, hands, extra = compose_scene(groups, cache, scfg, rng, photometric_aug=False)
        t = scene_targets(hands, codec, *size, extra)
        if len(t[4]):
            items.append((img, *t))
    x = torch.from_numpy(np.stack([i[0] for i in items]))
    heat, reg, mask, ign = (torch.from_numpy(np.stack([i[k] for i in items])) for k in (1, 2, 3, 4))
    net = DetectorNet(DetectorModelConfig(size[0], size[1]))
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=0)
    dev = torch.device("cpu")
    xn = normalize_batch(x, dev)
    losses = []
    t0 = time.time()
    for step in range(steps):
        for g in opt.param_groups:
            g["lr"] = lr * min(1.0, (step + 1) / 20)
        hl, rp = net(xn)
        loss, _ = detector_loss(hl, rp, heat, reg, mask, ign)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    net.eval()
    with torch.no_grad():
        hl, rp = net(xn)
        hm, rp = torch.sigmoid(hl).numpy(), rp.numpy()
    tp_n, fp_n, n_gt = 0, 0, 0
    for i, item in enumerate(items):
        d = codec.decode(hm[i], rp[i], threshold)
        tp, _, n = match_detections(d.boxes, d.scores, item[5], 0.5, item[6])
        tp_n += int(tp.sum())
        fp_n += int((~tp).sum())
        n_gt += n
    m = max(1, min(10, steps // 10))
    return DetectorOverfitResult(float(np.mean(losses[:m])), float(np.mean(losses[-m:])), tp_n / max(n_gt, 1),
                                 fp_n / len(items), time.time() - t0)


if __name__ == "__main__":
    main()
