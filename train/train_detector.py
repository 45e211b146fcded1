"""Train the hand detector (centre heatmap + box + orientation cue) on composed scenes.

    python -m train.train_detector --data ../shared/data/hands21 --out runs/detector --minutes 90

Same flat loop as the landmark model: time-budgeted cosine learning rate, checkpoints every few
minutes (auto-resume from ``<out>/last.pt``), validation on fixed composed val scenes (AP@0.5,
recall and false positives per frame at ``--threshold``, the threshold export writes into the model
unless given another; the shipped detector's is 0.45), curve and example PNGs.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from tracker.checks import MAX_COUNT
from tracker.detector_codec import CenterCodec, hand_box_and_cues
from tracker.draw import tile_grid
from tracker.metrics import average_precision, match_detections
from tracker.video import write_image_file

from .augment import AugmentConfig, augment_preset
from .common import (LOSS_WEIGHT, MAX_INPUT_SIDE, RUN_FILES, DataWait, LoopClock, LoopConfig, Range, check_input_size,
                     check_loss, check_out, check_resumable, finish_run, init_distributed, loader_options, log,
                     normalization, normalize_batch, optimizer_step, plot_history, run_cli, save_checkpoint,
                     saved_on_stop, setup_cpu, setup_logging, start_run, wrap_ddp, write_history)
from .data import ImageCache, LoadReport, check_fits_in_memory, data_root, load_train_val
from .model import DetectorModelConfig, DetectorNet
from .scenes import MAX_SCENES, SceneConfig, compose_scene, visible_hands


@dataclass
class DetTrainConfig(LoopConfig):
    """The detector loop's options; ``metadata["help"]`` is each one's ``--help`` line."""

    out: str = field(default="runs/detector", metadata={
        "help": "run folder: checkpoints (last.pt, final.pt), train.log, history.json, PNGs"})
    input_width: int = field(default=256, metadata={
        "help": f"scene (net input) width, pixels (a multiple of 16, at most {MAX_INPUT_SIDE})"})
    input_height: int = field(default=192, metadata={
        "help": f"scene (net input) height, pixels (a multiple of 16, at most {MAX_INPUT_SIDE})"})
    # all composed up front and held in memory, as python -m train.evaluate's --scenes
    eval_scenes: int = field(default=300, metadata={
        "help": "composed val scenes validated on during training (held in memory: at most half of it)",
        "range": Range(0, MAX_SCENES)})
    # NaN too: recall 0 at every validation, and export wrote it
    threshold: float = field(default=0.4, metadata={
        "help": "score threshold of the validation and of the exported model's metadata, in [0, 1]",
        "range": Range(0.0, 1.0, text="a detector score in [0, 1]")})
    epoch_scenes: int = field(default=4000, metadata={"help": "training scenes composed per epoch and process",
                                                      "range": Range(1, MAX_COUNT)})
    # NaN or inf: a FloatingPointError at step 1
    w_regress: float = field(default=1.0, metadata={"help": "loss weight of the box regression (smooth-L1)",
                                                    "range": LOSS_WEIGHT})
    w_giou: float = field(default=0.0, metadata={
        "help": "weight of a GIoU loss on the boxes of the regression cells (0: smooth-L1 only)",
        "range": LOSS_WEIGHT})
    regress_min_gauss: float = field(default=0.0, metadata={  # CenterCodec
        "help": "> 0: box regression also where a hand's Gaussian >= this, in [0, 1)",
        "range": Range(0.0, 1.0, open_high=True, text="a value in [0, 1)")})
    unlabelled: str = field(default="", metadata={
        "help": "JSON of hands mined in the train photos (python -m train.mine): not counted as background"})
    full_rotation_p: float = field(default=0.0, metadata={
        "help": "share of training photos pasted at any angle (else N(0, 30 deg)); val stays upright",
        "range": Range(0.0, 1.0, text="a value in [0, 1]")})
    augment: str = field(default="tracker", metadata={  # train.augment.AUGMENT_PRESETS, occluders off
        "help": "photometric preset of the scenes: tracker, light, degraded (more grey, noisy and "
                "JPEG-damaged scenes, for fine-tunes)", "metavar": "tracker|light|degraded"})

    def check(self) -> None:
        """:meth:`LoopConfig.check`, then the detector options (ValueError naming the option)."""
        super().check()
        check_input_size("--input-width", self.input_width)
        check_input_size("--input-height", self.input_height)
        if self.epoch_scenes < self.batch_size:  # every process draws epoch_scenes scenes per epoch
            raise ValueError(f"--epoch-scenes {self.epoch_scenes}: expected at least --batch-size {self.batch_size}")
        # the validation scenes are composed up front and held for the whole run, as evaluate --scenes
        check_fits_in_memory(f"--eval-scenes {self.eval_scenes} ({self.input_width}x{self.input_height})",
                             self.eval_scenes * self.input_width * self.input_height * 3)
        augment_preset(self.augment)  # ValueError naming the presets


def group_by_image(records):
    by = {}
    for r in records:
        by.setdefault(r.image, []).append(r)
    return list(by.values())


def scene_targets(hands, codec: CenterCodec, w: int, h: int, extra_ignore=None):
    """Training targets of one ``w`` x ``h`` px scene's ``hands`` ((17, 2) scene px, (17,) each);
    ``extra_ignore`` (M, 4) boxes (unlabelled hands) join the ignore regions of hands cut by the
    canvas edge. Returns heatmap, regress, mask (``codec.encode``), ign (1, gh, gw) float32 loss
    weight (0 in ignore regions), the positives' boxes (N, 4) and the ignore boxes (M, 4), scene px."""
    pos, ignore = visible_hands(hands, w, h)
    if extra_ignore is not None and len(extra_ignore):
        ignore = np.concatenate([ignore, np.asarray(extra_ignore, np.float32).reshape(-1, 4)])
    boxes, wr, md = [], [], []
    for kp, v in pos:
        b, a, c = hand_box_and_cues(kp, v)
        boxes.append(b), wr.append(a), md.append(c)
    heat, reg, mask = codec.encode(np.array(boxes).reshape(-1, 4), np.array(wr).reshape(-1, 2),
                                   np.array(md).reshape(-1, 2))
    ign = np.ones_like(heat)
    gw, gh = codec.grid
    for b in ignore:
        x0, y0 = int(b[0] // codec.stride), int(b[1] // codec.stride)
        x1, y1 = int(np.ceil(b[2] / codec.stride)), int(np.ceil(b[3] / codec.stride))
        ign[0, max(y0, 0):min(y1, gh), max(x0, 0):min(x1, gw)] = 0
    ign = np.maximum(ign, (heat > 0.3).astype(np.float32))  # positives always count
    return heat, reg, mask, ign, np.array(boxes, np.float32).reshape(-1, 4), ignore


class SceneDataset(Dataset):
    def __init__(self, groups, cache, codec, scfg, n, seed=0, unlabelled=None, aug: AugmentConfig | None = None):
        self.groups, self.cache, self.codec, self.scfg, self.n = groups, cache, codec, scfg, n
        self.unlabelled = unlabelled
        self.aug = aug  # None: compose_scene's default (the tracker preset without occluders)
        self.seed = seed
        self.rng = np.random.default_rng(seed)

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        img, hands, extra = compose_scene(self.groups, self.cache, self.scfg, self.rng, aug=self.aug,
                                          unlabelled=self.unlabelled)
        heat, reg, mask, ign, _, _ = scene_targets(hands, self.codec, self.scfg.width, self.scfg.height, extra)
        return (torch.from_numpy(img), torch.from_numpy(heat), torch.from_numpy(reg),
                torch.from_numpy(mask), torch.from_numpy(ign))


def focal_loss(logits, target, weight):
    """CenterNet's penalty-reduced focal loss, normalised by the number of centres."""
    p = torch.sigmoid(logits).clamp(1e-4, 1 - 1e-4)
    pos = (target >= 0.999).float()
    neg = 1 - pos
    lp = -torch.log(p) * (1 - p) ** 2 * pos
    ln = -torch.log(1 - p) * p ** 2 * (1 - target) ** 4 * neg * weight
    return (lp.sum() + ln.sum()) / pos.sum().clamp_min(1.0)


def cell_boxes(reg):
    """(B, >=4, h, w) centre offset and log size maps -> (B, 4, h, w) boxes x0, y0, x1, y1 in cells,
    relative to each cell (a prediction and its target share the cell, so it cancels in IoU)."""
    half = torch.exp(reg[:, 2:4].clamp(-5, 8)) / 2
    return torch.cat([reg[:, 0:2] - half, reg[:, 0:2] + half], 1)


def giou(a, b, eps: float = 1e-7):
    """Generalised IoU of boxes (B, 4, ...) x0, y0, x1, y1 -> (B, ...), in [-1, 1]; 1 - giou
    still has a gradient when the boxes do not overlap."""
    lo, hi = torch.max(a[:, :2], b[:, :2]), torch.min(a[:, 2:], b[:, 2:])
    inter = (hi - lo).clamp_min(0).prod(1)
    area = lambda x: (x[:, 2] - x[:, 0]) * (x[:, 3] - x[:, 1])  # noqa: E731
    union = area(a) + area(b) - inter
    hull = (torch.max(a[:, 2:], b[:, 2:]) - torch.min(a[:, :2], b[:, :2])).prod(1)
    return inter / (union + eps) - (hull - union) / (hull + eps)


def detector_loss(heat_logits, reg, t_heat, t_reg, t_mask, t_ign, w_regress=1.0, w_giou=0.0):
    """Focal heatmap loss plus smooth-L1 regression over the cells ``t_mask`` weights (and GIoU of
    the cells' boxes with ``w_giou``). A NaN regression target (an orientation cue whose point has
    no label, see ``CenterCodec.encode``) is left out of its channel's loss; the box still counts."""
    hl = focal_loss(heat_logits, t_heat, t_ign)
    norm = t_mask.sum().clamp_min(1.0)
    known = torch.isfinite(t_reg)
    t_reg = torch.where(known, t_reg, torch.zeros_like(t_reg))
    l1 = (F.smooth_l1_loss(reg, t_reg, reduction="none", beta=0.1) * t_mask * known).sum() / norm
    parts = {"heat": hl.item(), "reg": l1.item()}
    loss = hl + w_regress * l1
    if w_giou:
        lg = ((1 - giou(cell_boxes(reg), cell_boxes(t_reg))) * t_mask[:, 0]).sum() / norm
        loss = loss + w_giou * lg
        parts["giou"] = lg.item()
    return loss, parts


def make_val_scenes(groups, cache, scfg, n, seed=321):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        img, hands, hidden = compose_scene(groups, cache, scfg, rng)
        pos, ignore = visible_hands(hands, scfg.width, scfg.height)
        ignore = np.concatenate([ignore, hidden]).reshape(-1, 4)
        boxes = np.array([hand_box_and_cues(kp, v)[0] for kp, v in pos], np.float32).reshape(-1, 4)
        out.append((img, boxes, ignore))
    return out


@torch.no_grad()
def evaluate_scenes(net, scenes, codec, device, threshold, batch=32):
    """AP@0.5 (all scores), recall and false positives per frame at ``threshold``.

    On the same scenes these are the figures ``python -m train.evaluate detector --no-large-hands``
    gives for the exported file at the same threshold (tests/train/test_train_detector_options.py);
    evaluate's default adds the runtime's half-size pass for large hands, which this loop does not
    run, so its figures can differ on scenes with large hands either way (16 scenes of seed 325
    from 60 val hands, v0.6: AP 0.855 here, 0.796 with the pass). The two commands' scenes differ:
    training validates on ``--eval-scenes`` (300) scenes of seed 321 composed from the photos of
    the first 2,000 val hands (of 8,042 in hands21/val) at the net's input size; evaluate
    on ``--scenes`` (500) of seed 7 from every val photo, so their figures differ by that sampling."""
    net.eval()
    per_image, tp_at, fp_at, n_gt = [], 0, 0, 0
    for s in range(0, len(scenes), batch):
        chunk = scenes[s:s + batch]
        x = normalize_batch(torch.from_numpy(np.stack([c[0] for c in chunk])), device)
        hl, reg = net(x)
        hm = torch.sigmoid(hl).cpu().numpy()
        reg = reg.cpu().numpy()
        for (_, gt, ign), h, r in zip(chunk, hm, reg):
            d = codec.decode(h, r, threshold=0.05, max_detections=10)
            tp, sc, n = match_detections(d.boxes, d.scores, gt, 0.5, ign)
            per_image.append((tp, sc, n))
            sel = sc >= threshold
            tp_at += int(tp[sel].sum())
            fp_at += int((~tp[sel]).sum())
            n_gt += n
    net.train()
    # with no labelled hand in the scenes AP and recall are NaN (null in history.json), not 0
    return {"ap50": average_precision(per_image), "recall": tp_at / n_gt if n_gt else float("nan"),
            "fp_per_frame": fp_at / max(len(scenes), 1), "threshold": threshold}


def draw_examples(net, scenes, codec, device, threshold, path: Path, n=12):
    if not scenes:   # --eval-scenes 0: no picture (np.stack and tile_grid need at least one)
        return
    net.eval()
    with torch.no_grad():
        imgs = np.stack([c[0] for c in scenes[:n]])
        hl, reg = net(normalize_batch(torch.from_numpy(imgs), device))
        hm, reg = torch.sigmoid(hl).cpu().numpy(), reg.cpu().numpy()
    net.train()
    tiles = []
    for img, h, r, (_, gt, _) in zip(imgs, hm, reg, scenes[:n]):
        t = img.copy()
        for b in gt:
            cv2.rectangle(t, tuple(int(v) for v in b[:2]), tuple(int(v) for v in b[2:]), (255, 0, 0), 1)
        d = codec.decode(h, r, threshold=threshold)
        for b, s, wr, md in zip(d.boxes, d.scores, d.wrist, d.middle_mcp):
            cv2.rectangle(t, tuple(int(v) for v in b[:2]), tuple(int(v) for v in b[2:]), (0, 255, 0), 1)
            cv2.line(t, tuple(int(v) for v in wr), tuple(int(v) for v in md), (0, 0, 255), 2)
            cv2.putText(t, f"{s:.2f}", (int(b[0]), int(b[1]) + 10), 0, 0.35, (0, 255, 0), 1)
        tiles.append(t)
    write_image_file(path, tile_grid(tiles, 4))


def plot_detector_curve(history: list[dict], path: Path) -> None:
    """Val AP@0.5 and recall (at the validation threshold) against wall-clock training minutes,
    the weight average's recall dashed when trained with ``--ema``; the 0.97 recall bar dotted."""
    plot_history(history, [("ap50", "o-", "val AP@0.5"), ("recall", "s-", "val recall"),
                           ("ema_recall", "s--", "val recall, weight average")], path, "composed val scenes", 0.97)


def check_unlabelled_photos(unlabelled: dict, records, path: str, data: str) -> dict:
    """``unlabelled`` ({photo: (M, 4) boxes}, ``mine.load_unlabelled``) without the photos that are
    not photos of ``records`` (--data's train and val hands), their count and a few of them logged
    as a warning; ValueError naming ``path`` (--unlabelled) when none of its photos is.

    Why: a file mined on another data set (its keys are relative to that set's folder) matched no
    scene's photo, and the run trained as without it while its log said it ignored the hands."""
    photos = {str(r.image) for r in records}
    missing = [k for k in unlabelled if k not in photos]
    if not missing:
        return unlabelled
    if len(missing) == len(unlabelled):
        raise ValueError(f"--unlabelled {path}: none of its {len(unlabelled)} photos is in --data {data} "
                         f"(e.g. {missing[0]}); mine that data set: python -m train.mine --data {data} --out FILE")
    log.warning("--unlabelled %s: %d of its %d photos are not in --data %s (e.g. %s); their boxes are not used",
                path, len(missing), len(unlabelled), data, ", ".join(missing[:3]))
    return {k: v for k, v in unlabelled.items() if k in photos}


def train(cfg: DetTrainConfig) -> dict:
    cfg.check()
    out = Path(cfg.out)
    check_out(out, RUN_FILES + ("val_examples.png",))
    aug = replace(augment_preset(cfg.augment), occlusion_p=0.0)
    rank, world, device = init_distributed(cfg.device)
    setup_logging(out, rank)
    torch.manual_seed(cfg.seed)
    setup_cpu(cfg, device)
    codec = CenterCodec((cfg.input_width, cfg.input_height), 4, regress_min_gauss=cfg.regress_min_gauss)
    scfg = SceneConfig(cfg.input_width, cfg.input_height)
    train_scfg = replace(scfg, full_rotation_p=cfg.full_rotation_p)

    # the net, its checkpoints and --unlabelled before the data load (minutes of photo decoding on
    # hands21): a resume, --init or --new-cycle no run can use, or a bad file, failed after it
    mcfg = DetectorModelConfig(cfg.input_width, cfg.input_height, cfg.width, expand=cfg.expand)
    check_resumable(out / "last.pt", cfg.resume, "detector", DetectorNet, mcfg,
                    {"width": "--width", "expand": "--expand"}, ("input_width", "input_height"))
    net = DetectorNet(mcfg).to(device, memory_format=torch.channels_last)  # see common.normalize_batch
    opt, state, cycle, ema = start_run(net, mcfg, cfg, out, device)
    unlabelled = None
    if cfg.unlabelled:
        from .mine import load_unlabelled
        unlabelled = load_unlabelled(cfg.unlabelled, data_root(cfg.data))

    report = LoadReport()
    train_recs, val_recs = load_train_val(cfg.data, cfg.train_split, cfg.val_split, cfg.skip_bad, report,
                                          cfg.val_fraction)
    if unlabelled is not None:
        unlabelled = check_unlabelled_photos(unlabelled, train_recs + val_recs, cfg.unlabelled, cfg.data)
        log.info("ignoring %d mined unlabelled hands in %d photos", sum(len(v) for v in unlabelled.values()),
                 len(unlabelled))
    if cfg.limit:
        train_recs = train_recs[:cfg.limit]
    val_recs = val_recs[:2000]
    cache = ImageCache(train_recs + val_recs, cfg.skip_bad, report, progress=rank == 0)
    train_groups = group_by_image(cache.filter(train_recs))
    val_groups = group_by_image(cache.filter(val_recs))
    if not train_groups:
        raise ValueError(f"no usable training hands in {cfg.data}")
    val_scenes = make_val_scenes(val_groups, cache, scfg, cfg.eval_scenes)
    log.info("detector: %d train photos, %d val scenes", len(train_groups), len(val_scenes))

    model = wrap_ddp(net, world, device)
    ds = SceneDataset(train_groups, cache, codec, train_scfg, cfg.epoch_scenes, seed=cfg.seed + rank + state["step"],
                      unlabelled=unlabelled, aug=aug)
    loader = DataWait(DataLoader(ds, batch_size=cfg.batch_size, drop_last=True, **loader_options(cfg.workers, device)))

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
        m = evaluate_scenes(net, val_scenes, codec, device, cfg.threshold)
        m.update(minutes=round(state["minutes"], 2), step=state["step"])
        log.info("val step %d %.1f min: AP@0.5 %.3f recall %.3f FP/frame %.3f (thr %.2f)", state["step"],
                 state["minutes"], m["ap50"], m["recall"], m["fp_per_frame"], cfg.threshold)
        if ema:
            e = clock.excluded(evaluate_scenes, ema.net, val_scenes, codec, device, cfg.threshold)
            m.update({f"ema_{k}": v for k, v in e.items() if k != "threshold"})
            log.info("val step %d weight average: AP@0.5 %.3f recall %.3f FP/frame %.3f", state["step"],
                     e["ap50"], e["recall"], e["fp_per_frame"])
        state["history"].append(m)
        if rank == 0:
            write_history(out / "history.json", state["history"])
            plot_detector_curve(state["history"], out / "curve.png")
            draw_examples(net, val_scenes, codec, device, cfg.threshold, out / "val_examples.png")
        return m

    from tqdm import tqdm
    bar = tqdm(total=None, disable=rank != 0, unit="step", mininterval=10, dynamic_ncols=True)
    clock = LoopClock(cfg, state, cycle, device)
    clock.validate_untrained(validate)
    with saved_on_stop(checkpoint, state, out / "last.pt"):
        while not clock.finished():
            for img, heat, reg, mask, ign in loader:
                lr = clock.tick(opt)
                hl, rp = model(normalize_batch(img, device))
                loss, parts = detector_loss(hl, rp, heat.to(device), reg.to(device), mask.to(device),
                                            ign.to(device), cfg.w_regress, cfg.w_giou)
                optimizer_step(opt, loss, state, ema, net)
                bar.update(1)
                if state["step"] % 200 == 0:
                    log.info("step %d %.1f min loss %.4f heat %.4f reg %.4f giou %.4f lr %.2e", state["step"],
                             state["minutes"], loss.item(), parts["heat"], parts["reg"], parts.get("giou", 0.0), lr)
                check_loss(loss.item(), state["step"])
                if clock.eval_due():
                    validate()
                if clock.checkpoint_due():
                    checkpoint()
                if clock.finished():
                    break
            state["epoch"] += 1
        bar.close()
        # inside saved_on_stop: a stop during the final validation or writes still saves last.pt
        m = finish_run(state, validate, checkpoint, ema, rank, out, meta)
    if world > 1:
        torch.distributed.destroy_process_group()
    return m


def main(argv=None):
    run_cli(DetTrainConfig, train, __doc__, argv, prog="python -m train.train_detector")


if __name__ == "__main__":
    main()
