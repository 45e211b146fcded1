"""Train the landmark model, from scratch or (``--init``) from a checkpoint's weights.

    python -m train.train_landmarks --data ../shared/data/hands21 --out runs/landmarks --minutes 120

A flat loop: time-budgeted cosine learning rate, checkpoint every few minutes (resumes from
``<out>/last.pt`` automatically), validation on a fixed val subset every few minutes with
PCK@0.05/0.1 and the mean heatmap peak logged, a curve (val PCK@0.1 against wall-clock minutes)
and a grid of predicted val crops written as PNG. Runs on CUDA when present and under ``torchrun``
(DDP) unchanged.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from tracker.codec import HeatmapCodec
from tracker.geometry import invert_affine, transform_points
from tracker.draw import draw_skeleton, tile_grid
from tracker.metrics import pck
from tracker.video import write_image_file

from .augment import AugmentConfig, augment_preset, sample_crop
from .common import (LOSS_WEIGHT, MAX_INPUT_SIDE, MAX_LOSS_WEIGHT, RUN_FILES, DataWait, LoopClock, LoopConfig, Range,
                     SIZE_MULTIPLE, check_batches, check_input_size, check_loss, check_out, check_resumable,
                     finish_run, given, init_distributed, loader_options, log, normalization, normalize_batch,
                     optimizer_step, plot_history, run_cli, save_checkpoint, saved_on_stop, setup_cpu, setup_logging,
                     start_run, wrap_ddp, write_history)
from .data import UNKNOWN, ImageCache, LoadReport, load_train_val, val_subset_indices
from .model import LandmarkModelConfig, LandmarkNet


@dataclass
class TrainConfig(LoopConfig):
    """The landmark loop's options; ``metadata["help"]`` is each one's ``--help`` line."""

    out: str = field(default="runs/landmarks", metadata={
        "help": "run folder: checkpoints (last.pt, final.pt), train.log, history.json, PNGs"})
    input_size: int = field(default=128, metadata={
        "help": f"crop side the net sees, pixels (a multiple of 16, at most {MAX_INPUT_SIDE})"})
    heatmap_stride: int = field(default=4, metadata={"help": "input pixels per heatmap cell (4: the net's)"})
    sigma: float = field(default=1.5, metadata={
        "help": "Gaussian target sigma, heatmap cells; at most the heatmap's side (--input-size / 4)",
        "range": Range(0.0, open_low=True, finite=True)})
    eval_hands: int = field(default=800, metadata={"help": "size of the fixed val subset used during training",
                                                   "range": Range(1)})
    w_presence: float = field(default=0.5, metadata={"help": "loss weight of the hand-presence output",
                                                     "range": LOSS_WEIGHT})
    w_handedness: float = field(default=0.5, metadata={"help": "loss weight of the left/right output",
                                                       "range": LOSS_WEIGHT})
    fused: bool = field(default=False, metadata={  # model.FusedIR
        "help": "full 3x3 convs in the first blocks: ~1.2x steps/min on the 2-core CPU"})
    light: bool = field(default=False, metadata={  # the same 90-minute curve (MODEL_CARD)
        "help": "3x3 depthwise convs, a lighter last decoder block: ~1.2x steps/min on the 2-core CPU, "
                "less learned per step"})
    augment: str = field(default="tracker", metadata={  # train.augment.AUGMENT_PRESETS
        "help": "augmentation preset: tracker (shipped models), light (short runs), degraded "
                "(fine-tunes toward grey, noisy, JPEG-damaged images)", "metavar": "tracker|light|degraded"})
    lowres_p: float = field(default=0.0, metadata={  # train.augment.lowres
        "help": "share of crops made to look like a small hand's, in [0, 1]",
        "range": Range(0.0, 1.0, text="a share in [0, 1]")})
    edge_positive_p: float = field(default=0.0, metadata={  # AugmentConfig.edge_positive_p: hands at the frame's side
        "help": "share of hand crops cut by a frame edge that still count as a hand, in [0, 1]",
        "range": Range(0.0, 1.0, text="a share in [0, 1]")})
    # nan or inf reached torch.multinomial (a RuntimeError traceback), 1e308 summed to inf there
    small_hand_weight: float = field(default=1.0, metadata={
        "help": "sampling weight of hands whose box side is under --small-hand-px (1: all equally often)",
        "range": Range(0.0, MAX_LOSS_WEIGHT, open_low=True, note="1: all hands equally often")})
    small_hand_px: float = field(default=96.0, metadata={
        "help": "box side under which --small-hand-weight applies, photo pixels (the PCK normaliser)",
        "range": Range(0.0, finite=True, note="photo pixels")})
    # the net is fully convolutional: it trains at one size and validates at another
    progressive_size: int = field(default=0, metadata={
        "help": "> 0: train on crops of this side first (pixels, a multiple of 16; 0: off), then at "
                "--input-size; validation always at --input-size"})
    progressive_until: float = field(default=0.5, metadata={
        "help": "share of --minutes trained at --progressive-size, in (0, 1)",
        "range": Range(0.0, 1.0, open_low=True, open_high=True, text="a share in (0, 1)")})

    def check(self) -> None:
        """:meth:`LoopConfig.check`, then the landmark options (ValueError naming the option)."""
        super().check()
        check_input_size("--input-size", self.input_size)
        if self.heatmap_stride != 4:  # the net's heatmaps are at stride 4 (LandmarkNet)
            raise ValueError(f"--heatmap-stride {self.heatmap_stride}: expected 4, the net's heatmap stride")
        side = self.input_size // self.heatmap_stride
        if self.sigma > side:   # a flat target; 1e308 overflowed at the first crop (HeatmapCodec named no option)
            raise ValueError(f"--sigma {self.sigma}: expected at most the heatmap's side, {side} cells "
                             f"(--input-size {self.input_size} / 4)")
        augment_preset(self.augment)  # ValueError naming the presets
        if self.progressive_size and not (0 < self.progressive_size < self.input_size
                                          and self.progressive_size % SIZE_MULTIPLE == 0):  # as --input-size
            raise ValueError(f"--progressive-size {self.progressive_size}: expected a multiple of {SIZE_MULTIPLE} "
                             f"below --input-size {self.input_size} (0: off)")
        # options that do nothing without another: they were ignored without a word
        if not self.progressive_size and given(self, "progressive_until"):
            raise ValueError(f"--progressive-until {self.progressive_until}: applies with --progressive-size, "
                             "which is 0 (off)")
        if self.small_hand_weight == 1.0 and given(self, "small_hand_px"):
            raise ValueError(f"--small-hand-px {self.small_hand_px}: applies with a --small-hand-weight other "
                             "than 1 (every hand is drawn equally often)")


class CropDataset(Dataset):
    """Random augmented crops with heatmap targets for each record."""

    def __init__(self, records, cache: ImageCache, codec: HeatmapCodec, aug: AugmentConfig,
                 train: bool = True, seed: int = 0):
        self.records, self.cache, self.codec, self.aug, self.train = records, cache, codec, aug, train
        self.seed = seed
        self.rng = np.random.default_rng(seed)

    def __len__(self):
        return len(self.records)

    def __getitem__(self, i):
        rng = self.rng if self.train else np.random.default_rng(self.seed + i)
        rec = self.records[i]
        occ = None
        if self.train:
            other = self.records[int(rng.integers(len(self.records)))]
            occ = self.cache[other.image]
        s = sample_crop(self.cache[rec.image], rec, self.codec.input_size[0], self.aug, rng,
                        train=True, occluder_src=occ)
        target, weight = self.codec.encode(s["keypoints"], s["visible"])
        if not s["presence"]:
            weight[:] = 0
        return (torch.from_numpy(s["crop"]), torch.from_numpy(target), torch.from_numpy(weight),
                torch.tensor(float(s["presence"])), torch.tensor(float(s["handedness"])),
                torch.tensor(float(s["handedness_score"])))


def landmark_loss(heat_logits, logits, target, weight, presence, side, side_score,
                  w_presence=0.5, w_handedness=0.5):
    """Spatial-softmax cross-entropy against the Gaussian target + presence/handedness BCE.

    An all-zero or constant output gives a uniform softmax and a large cross-entropy, and a
    mean pose is wrong for most crops, so neither collapse can minimise this loss.
    """
    b, k, h, w = heat_logits.shape
    logp = F.log_softmax(heat_logits.reshape(b, k, h * w), dim=-1)
    ce = -(target.reshape(b, k, h * w) * logp).sum(-1)  # (B, K)
    # subtract the target entropy so that a perfect prediction scores 0 (KL divergence)
    t = target.reshape(b, k, h * w)
    ent = -(t * torch.log(t.clamp_min(1e-12))).sum(-1)
    heat_loss = ((ce - ent) * weight).sum() / weight.sum().clamp_min(1.0)
    pres_loss = F.binary_cross_entropy_with_logits(logits[:, 0], presence)
    known = (side != UNKNOWN) & (presence > 0)
    if known.any():
        side_loss = F.binary_cross_entropy_with_logits(
            logits[known, 1], side[known], weight=side_score[known].clamp(0.3, 1.0))
    else:
        side_loss = logits.sum() * 0
    total = heat_loss + w_presence * pres_loss + w_handedness * side_loss
    return total, {"heat": heat_loss.item(), "presence": pres_loss.item(), "side": side_loss.item()}


def sample_weights(records, small_px: float, weight: float) -> np.ndarray:
    """(N,) sampling weight per record: ``weight`` for hands whose PCK box side (photo pixels,
    ``HandRecord.norm_side``) is under ``small_px``, 1 for the others."""
    side = np.array([r.norm_side for r in records], np.float64)
    return np.where(side < small_px, weight, 1.0)


def make_sampler(records, cfg: TrainConfig, world: int, seed: int = 0, ddp_seed: int = 0):
    """None (plain shuffling), a DistributedSampler under DDP (its shuffle seeded by ``ddp_seed``),
    or a weighted sampler (with replacement, one epoch = len(records) draws, seeded by ``seed``)
    when ``cfg.small_hand_weight`` != 1."""
    if cfg.small_hand_weight != 1.0:
        if world > 1:
            raise ValueError(f"--small-hand-weight {cfg.small_hand_weight}: not supported under torchrun (DDP)")
        w = sample_weights(records, cfg.small_hand_px, cfg.small_hand_weight)
        log.info("small-hand sampling: %d of %d hands under %.0f px drawn %.2fx as often (%.1f%% of draws)",
                 int((w != 1).sum()), len(w), cfg.small_hand_px, cfg.small_hand_weight,
                 100 * w[w != 1].sum() / w.sum())
        return torch.utils.data.WeightedRandomSampler(torch.from_numpy(w), len(w), replacement=True,
                                                      generator=torch.Generator().manual_seed(seed))
    return torch.utils.data.DistributedSampler(records, shuffle=True, seed=ddp_seed) if world > 1 else None


def make_val_set(records, cache, codec, aug, n, seed=123):
    """A fixed list of jittered val crops (like the runtime's crops), drawn once."""
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(records), size=min(n, len(records)), replace=False)
    items = []
    val_aug = AugmentConfig(**{**asdict(aug), "full_rotation_p": 0.0, "negative_p": 0.0,
                               "flip_p": 0.0, "photometric": False, "angle_sigma_deg": 10.0,
                               "scale_range": (0.9, 1.15), "shift_sigma": 0.05})
    for i in idx:
        rec = records[i]
        s = sample_crop(cache[rec.image], rec, codec.input_size[0], val_aug, rng, train=True)
        items.append((rec, s))
    return items


@torch.no_grad()
def evaluate_crops(net, items, codec, device, batch=64):
    """Val PCK (predictions mapped back to image pixels; normalised by the box of the visible GT
    points, not the annotation bbox of ``train.evaluate``), handedness accuracy (labels with score
    >= 0.9; None when no val hand has one, e.g. a CSV of single hands, whose side is unknown) and
    mean heatmap peak on fixed crops."""
    net.eval()
    preds, peaks, sides = [], [], []
    for s in range(0, len(items), batch):
        chunk = items[s:s + batch]
        x = normalize_batch(torch.from_numpy(np.stack([c[1]["crop"] for c in chunk])), device)
        heat, logits = net(x)
        b, k, h, w = heat.shape
        prob = torch.softmax(heat.reshape(b, k, -1), -1).reshape(b, k, h, w).cpu().numpy()
        kps, _ = codec.decode(prob)
        peaks.append(prob.reshape(b, k, -1).max(-1).mean(1))
        sides.append(torch.sigmoid(logits[:, 1]).cpu().numpy())
        for (_, c), kp in zip(chunk, kps):
            preds.append(transform_points(kp, invert_affine(c["matrix"])))
    net.train()
    gt = np.stack([r.keypoints for r, _ in items])
    vis = np.stack([r.visible for r, _ in items])
    p = pck(np.stack(preds), gt, vis)
    side_gt = np.array([r.handedness for r, _ in items])
    side_sc = np.array([r.handedness_score for r, _ in items])
    m = (side_gt != UNKNOWN) & (side_sc >= 0.9)
    # no side to compare with: None (null in history.json), not the NaN of an empty mean
    side_acc = float(((np.concatenate(sides) > 0.5).astype(int)[m] == side_gt[m]).mean()) if m.any() else None
    return {"pck05": p[0.05], "pck10": p[0.1], "pck20": p[0.2],
            "heat_peak": float(np.concatenate(peaks).mean()), "side_acc": side_acc}


def _share(value: float | None) -> str:
    """A share for the log, "n/a" when nothing was counted (None)."""
    return "n/a" if value is None else f"{value:.3f}"


def draw_grid(net, items, codec, device, path: Path, n=16):
    """PNG grid of val crops with predicted (colour) keypoints and skeletons."""
    net.eval()
    with torch.no_grad():
        crops = np.stack([c[1]["crop"] for c in items[:n]])
        heat, _ = net(normalize_batch(torch.from_numpy(crops), device))
        b, k, h, w = heat.shape
        prob = torch.softmax(heat.reshape(b, k, -1), -1).reshape(b, k, h, w).cpu().numpy()
    net.train()
    kps, _ = codec.decode(prob)
    tiles = []
    for crop, kp in zip(crops, kps):
        t = cv2.resize(crop, None, fx=2, fy=2, interpolation=cv2.INTER_LINEAR)
        tiles.append(draw_skeleton(t, kp * 2, thickness=1))
    write_image_file(path, tile_grid(tiles, 4))


def plot_curve(history: list[dict], path: Path, cycle_starts: tuple[float, ...] = ()) -> None:
    """Val PCK against wall-clock training minutes; dashed lines where a new lr cycle began."""
    plot_history(history, [("pck10", "o-", "val PCK@0.1"), ("pck05", "s-", "val PCK@0.05"),
                           ("ema_pck10", "o--", "val PCK@0.1, weight average")], path, "PCK", 0.9, cycle_starts)


def train(cfg: TrainConfig) -> dict:
    """Run training; returns the last validation metrics."""
    cfg.check()
    out = Path(cfg.out)
    check_out(out, RUN_FILES + ("val_grid.png",))
    rank, world, device = init_distributed(cfg.device)
    setup_logging(out, rank)
    torch.manual_seed(cfg.seed)
    setup_cpu(cfg, device)
    codec = HeatmapCodec((cfg.input_size,) * 2, (cfg.input_size // cfg.heatmap_stride,) * 2, cfg.sigma)
    aug = replace(augment_preset(cfg.augment), lowres_p=cfg.lowres_p, edge_positive_p=cfg.edge_positive_p)

    # the net and its checkpoints before the data load (minutes of photo decoding on hands21), as the
    # detector loop: a resume, --init or --new-cycle no run can use failed after it
    mcfg = LandmarkModelConfig(cfg.input_size, 17, cfg.width, expand=cfg.expand, fused=cfg.fused,
                               light=cfg.light)
    check_resumable(out / "last.pt", cfg.resume, "landmarks", LandmarkNet, mcfg,
                    {"width": "--width", "expand": "--expand", "fused": "--fused", "light": "--light"},
                    ("input_size",))
    net = LandmarkNet(mcfg).to(device, memory_format=torch.channels_last)  # see common.normalize_batch
    opt, state, cycle, ema = start_run(net, mcfg, cfg, out, device)
    resumed_at = state["step"]

    report = LoadReport()
    train_recs, val_recs = load_train_val(cfg.data, cfg.train_split, cfg.val_split, cfg.skip_bad, report,
                                          cfg.val_fraction)
    if cfg.limit:
        train_recs = train_recs[:cfg.limit]
    val_recs = [val_recs[i] for i in val_subset_indices(len(val_recs), cfg.eval_hands, cfg.seed)]
    t0 = time.time()
    cache = ImageCache(train_recs + val_recs, cfg.skip_bad, report, progress=rank == 0)
    train_recs, val_recs = cache.filter(train_recs), cache.filter(val_recs)
    log.info("loaded %d train / %d val hands (%d skipped) in %.0fs", len(train_recs), len(val_recs),
             report.skipped, time.time() - t0)
    if not train_recs:
        raise ValueError(f"no usable training hands in {cfg.data}")
    check_batches(cfg.batch_size, len(train_recs), world)
    val_items = make_val_set(val_recs, cache, codec, AugmentConfig(), cfg.eval_hands)  # same crops for every --augment
    model = wrap_ddp(net, world, device)

    def crop_size() -> int:
        """The training crops' side now: progressive_size for the first progressive_until of the budget."""
        if cfg.progressive_size and state["minutes"] < cfg.progressive_until * cfg.minutes:
            return cfg.progressive_size
        return cfg.input_size

    def make_loader(size: int):
        # The same targets relative to the crop at every size: sigma scales with the heatmap.
        c = codec if size == cfg.input_size else HeatmapCodec(
            (size,) * 2, (size // cfg.heatmap_stride,) * 2, cfg.sigma * size / cfg.input_size)
        ds = CropDataset(train_recs, cache, c, aug, seed=cfg.seed + rank + state["step"])
        # A resumed run shuffles the hands with a generator seeded by --seed and the step (as the
        # crops' generator above): the torch generator restarts from --seed at every start, so each
        # resume drew the first epoch's order again from its beginning and a run stopped and
        # resumed within an epoch trained on the same hands again. A fresh run shuffles as it did
        # (under DDP by --seed: the sampler's seed was 0 whatever --seed said).
        shuffle = cfg.seed + state["step"] if resumed_at else None
        sampler = make_sampler(train_recs, cfg, world, cfg.seed + state["step"],
                               cfg.seed if shuffle is None else shuffle)
        return sampler, DataWait(DataLoader(ds, batch_size=cfg.batch_size, shuffle=sampler is None, sampler=sampler,
                                            generator=None if shuffle is None else torch.Generator().manual_seed(shuffle),
                                            drop_last=True, **loader_options(cfg.workers, device)))

    def meta() -> dict:
        """What every checkpoint (last, final, final_ema) carries beside weights and state."""
        return dict(model_config=mcfg.to_dict(), codec=codec.to_dict(), train_config=asdict(cfg),
                    normalization=normalization())

    def checkpoint(name="last.pt"):
        if rank == 0:
            extra = {"ema": ema.state_dict()} if ema else {}
            save_checkpoint(out / name, model=net.state_dict(), optimizer=opt.state_dict(), state=state,
                            **meta(), **extra)

    def validate():
        m = evaluate_crops(net, val_items, codec, device)
        m.update(minutes=round(state["minutes"], 2), step=state["step"])
        log.info("val step %d %.1f min: PCK@0.05 %.3f PCK@0.1 %.3f PCK@0.2 %.3f side %s heat-peak %.3f",
                 state["step"], state["minutes"], m["pck05"], m["pck10"], m["pck20"], _share(m["side_acc"]),
                 m["heat_peak"])
        if ema:
            # the average's validation stays out of the budget: the run it measures trains as long
            e = clock.excluded(evaluate_crops, ema.net, val_items, codec, device)
            m.update({f"ema_{k}": v for k, v in e.items()})
            log.info("val step %d weight average: PCK@0.05 %.3f PCK@0.1 %.3f PCK@0.2 %.3f side %s",
                     state["step"], e["pck05"], e["pck10"], e["pck20"], _share(e["side_acc"]))
        state["history"].append(m)
        if rank == 0:
            write_history(out / "history.json", state["history"])
            plot_curve(state["history"], out / "curve.png", (cycle["minutes"],) if cycle else ())
            draw_grid(net, val_items, codec, device, out / "val_grid.png")
        return m

    from tqdm import tqdm
    clock = LoopClock(cfg, state, cycle, device)
    bar = tqdm(total=None, disable=rank != 0, unit="step", mininterval=10, dynamic_ncols=True)
    metrics = clock.validate_untrained(validate)
    size, loader = None, None
    with saved_on_stop(checkpoint, state, out / "last.pt"):
        while not clock.finished():
            if crop_size() != size:
                size = crop_size()
                loader = None                   # its worker process ends before the next one starts
                sampler, loader = make_loader(size)
                log.info("training crops %dx%d from step %d (%.1f min)", size, size, state["step"], state["minutes"])
            if hasattr(sampler, "set_epoch"):
                sampler.set_epoch(state["epoch"])
            for img, target, weight, pres, side, side_sc in loader:
                lr = clock.tick(opt)
                x = normalize_batch(img, device)
                heat, logits = model(x)
                loss, parts = landmark_loss(heat, logits, target.to(device), weight.to(device), pres.to(device),
                                            side.to(device), side_sc.to(device), cfg.w_presence, cfg.w_handedness)
                optimizer_step(opt, loss, state, ema, net)
                bar.update(1)
                if state["step"] % 50 == 0:
                    bar.set_postfix(loss=f"{loss.item():.3f}", heat=f"{parts['heat']:.3f}", lr=f"{lr:.2e}")
                if state["step"] % 200 == 0:
                    log.info("step %d %.1f min loss %.4f heat %.4f pres %.4f side %.4f lr %.2e", state["step"],
                             state["minutes"], loss.item(), parts["heat"], parts["presence"], parts["side"], lr)
                check_loss(loss.item(), state["step"])
                if clock.eval_due():
                    metrics = validate()
                if clock.checkpoint_due():
                    checkpoint()
                if clock.finished() or crop_size() != size:
                    break
            else:
                state["epoch"] += 1
        bar.close()
        # inside saved_on_stop: a stop during the final validation or writes still saves last.pt
        metrics = finish_run(state, validate, checkpoint, ema, rank, out, meta)
    log.info("done: %d steps, %.1f min", state["step"], state["minutes"])
    if world > 1:
        torch.distributed.destroy_process_group()
    return metrics


def main(argv=None):
    run_cli(TrainConfig, train, __doc__, argv, prog="python -m train.train_landmarks")


if __name__ == "__main__":
    main()
