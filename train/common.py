"""Pieces shared by the landmark and detector training loops: config <-> argparse, logging,
checkpoints, DDP set-up, device choice."""
from __future__ import annotations

import argparse
import contextlib
import copy
import ctypes
import dataclasses
import logging
import math
import os
import sys
import time
from time import perf_counter   # DataWait's own clock: tests stand in for ``time``
from pathlib import Path

import torch

from tracker.checks import MAX_THREADS, is_number, is_positive_int
from tracker.cli import new_folders, remove_new_folders

from .data import check_val_fraction_applies

log = logging.getLogger("train")

MEAN_RGB = (0.485 * 255, 0.456 * 255, 0.406 * 255)
STD_RGB = (0.229 * 255, 0.224 * 255, 0.225 * 255)


@dataclasses.dataclass(frozen=True)
class Range:
    """The values a numeric option takes, kept in its config field's ``metadata["range"]``: from
    ``low`` (excluded with ``open_low``) to ``high`` (None: no bound; excluded with ``open_high``).
    NaN is never in a range; inf only without ``high`` and ``finite``. ``text`` replaces the
    generated "expected ..." wording (a share "in [0, 1]"); ``note`` is added to it in brackets.
    :meth:`LoopConfig.check` applies them all; ``--help`` shows the upper bound."""

    low: float
    high: float | None = None
    open_low: bool = False
    open_high: bool = False
    finite: bool = False
    note: str = ""
    text: str = ""

    def holds(self, v) -> bool:
        return (is_number(v) and (v > self.low if self.open_low else v >= self.low)
                and (self.high is None or (v < self.high if self.open_high else v <= self.high))
                and (not self.finite or math.isfinite(v)))

    def expected(self) -> str:
        text = self.text or ((("a finite number " if self.finite else "") + (">" if self.open_low else ">=")
                              + f" {_shown(self.low)}") + (f", {self.help_note()}" if self.high is not None else ""))
        return f"{text} ({self.note})" if self.note else text

    def help_note(self) -> str:
        """The upper bound for ``--help`` ("" where the help line states the range itself)."""
        return f"at most {_shown(self.high)}" if self.high is not None and not self.text else ""


def _shown(v: float) -> str:
    """A bound as typed: 1000, not 1000.0."""
    return str(int(v)) if isinstance(v, float) and v.is_integer() else str(v)


# Upper bounds of options that otherwise passed the checks and then failed deep inside torch,
# numpy or OpenCV (an OverflowError traceback, a loader forking processes until the machine gave out).
#: --width, --expand: 16 times the shipped nets' channels, far past any trained (0.5 to 1.5)
MAX_WIDTH = 16.0
#: --workers: loader processes, each with its own batches in memory (10**30 forked until the machine gave out)
MAX_WORKERS = 256
#: --seed: numpy's and torch's generators take seeds of 32 bits (--seed 10**30: "Overflow when unpacking")
MAX_SEED = 2 ** 32 - 1
#: --lr: AdamW's peak learning rate (the shipped nets: 3e-3); 1e308 turned the weights to inf/NaN at the
#: first step, and the run saved them over a good last.pt
MAX_LR = 10.0
#: loss and sampling weights: a term 1000 times another leaves the other untrained; beyond, the loss
#: overflowed to inf (1e308) at the first step
MAX_LOSS_WEIGHT = 1000.0
#: one range for every loss weight of both loops (--w-presence, --w-handedness, --w-regress, --w-giou)
LOSS_WEIGHT = Range(0.0, MAX_LOSS_WEIGHT, note="a finite loss weight")


@dataclasses.dataclass
class LoopConfig:
    """Options shared by both training loops (each adds its model and data options). Each field's
    ``metadata["help"]`` is its ``--help`` line (what it is, its unit or values; add_dataclass_args
    appends the default)."""

    data: str = dataclasses.field(default="../shared/data/hands21", metadata={
        "help": "dataset folder (<split>.json or .csv), or one CSV or COCO JSON file of your labels"})
    train_split: str = dataclasses.field(default="train", metadata={
        "help": "a --data folder's training split: <name>.json or <name>.csv"})
    val_split: str = dataclasses.field(default="val", metadata={
        "help": "a --data folder's validation split: <name>.json or <name>.csv"})
    val_fraction: float = dataclasses.field(default=0.1, metadata={
        "help": "--data a single file (CSV, COCO JSON): share of its photos held out for val, in [0, 1)",
        "range": Range(0.0, 1.0, open_high=True, text="a share in [0, 1)")})
    out: str = dataclasses.field(default="runs/model", metadata={
        "help": "run folder: checkpoints (last.pt, final.pt), train.log, history.json, PNGs"})
    # inf/nan widths overflowed or failed deep in torch when the net was built, 1e308 too
    width: float = dataclasses.field(default=1.0, metadata={
        "help": "channel multiplier of the net (with --init: the checkpoint's)",
        "range": Range(0.0, MAX_WIDTH, open_low=True, finite=True)})
    expand: float = dataclasses.field(default=1.0, metadata={
        "help": "hidden-width multiplier of the expanding blocks (train.widen grows it)",
        "range": Range(0.0, MAX_WIDTH, open_low=True, finite=True)})
    batch_size: int = dataclasses.field(default=32, metadata={
        "help": "samples per step and process (landmarks: crops, detector: scenes)", "range": Range(1)})
    lr: float = dataclasses.field(default=3e-3, metadata={  # 0: no weight change (BatchNorm statistics alone)
        "help": "peak learning rate (AdamW), reached after the warm-up", "range": Range(0.0, MAX_LR, finite=True)})
    weight_decay: float = dataclasses.field(default=1e-4, metadata={
        "help": "AdamW weight decay", "range": Range(0.0, finite=True)})
    minutes: float = dataclasses.field(default=90.0, metadata={
        "help": "wall-clock budget, minutes; the learning rate follows it (cosine)",
        "range": Range(0.0, open_low=True, note="the wall-clock budget")})
    max_steps: int = dataclasses.field(default=0, metadata={
        "help": "stop after this many steps (0: no limit)", "range": Range(0, note="0: no limit")})
    warmup_steps: int = dataclasses.field(default=300, metadata={
        "help": "steps of linear learning-rate warm-up", "range": Range(0)})
    eval_every_min: float = dataclasses.field(default=5.0, metadata={
        "help": "validate every this many training minutes", "range": Range(0.0)})
    checkpoint_every_min: float = dataclasses.field(default=3.0, metadata={
        "help": "save <out>/last.pt every this many wall-clock minutes", "range": Range(0.0)})
    workers: int = dataclasses.field(default=1, metadata={
        "help": "data loader processes (0: batches made in the training process)",
        "range": Range(0, MAX_WORKERS, note="0: load in the training process")})
    threads: int = dataclasses.field(default=2, metadata={"help": "torch CPU threads", "range": Range(1, MAX_THREADS)})
    seed: int = dataclasses.field(default=0, metadata={
        "help": "random seed (initial weights, crops or scenes and their order)", "range": Range(0, MAX_SEED)})
    skip_bad: bool = dataclasses.field(default=False, metadata={
        "help": "count and skip bad label entries and unreadable photos instead of stopping"})
    limit: int = dataclasses.field(default=0, metadata={
        "help": "use only the first N train hands (0: all)", "range": Range(0, note="0: all")})
    resume: bool = dataclasses.field(default=True, metadata={
        "help": "resume from <out>/last.pt when it is there (false: start over)"})
    new_cycle: bool = dataclasses.field(default=False, metadata={
        "help": "on resume: a fresh warm-up + cosine cycle up to --minutes (fine-tuning)"})
    init: str = dataclasses.field(default="", metadata={
        "help": "start a new run from this checkpoint's weights (e.g. a shipped one)"})
    device: str = dataclasses.field(default="auto", metadata={
        "help": "training device: auto (CUDA when torch sees a GPU, else the CPU), cpu or cuda",
        "metavar": "auto|cpu|cuda"})
    keep_freed_memory: bool = dataclasses.field(default=True, metadata={  # see keep_freed_memory
        "help": "CPU: glibc keeps freed activations for reuse (faster steps)"})
    ema: float = dataclasses.field(default=0.0, metadata={  # WeightEMA
        "help": "> 0: also keep an average of the weights, this decay per step (e.g. 0.999), "
                "validated beside them, saved as final_ema.pt"})
    freeze_bn_stats: bool = dataclasses.field(default=False, metadata={  # see freeze_bn_statistics
        "help": "keep the BatchNorm running statistics the run starts with (--init's): "
                "fine-tunes on small batches"})

    def check(self) -> None:
        """ValueError naming the option and its value for an option no run can use, before the
        data are loaded (minutes on a full set): each field's ``metadata["range"]``, then the
        checks of several options together. ``run_cli`` turns it into a usage error (status 2).
        Without it ``--minutes 0`` or ``--max-steps -3`` wrote a final.pt of an untrained net, and
        ``--batch-size 0`` or ``--threads 0`` failed after the data were loaded, deep in torch.
        The loops' configs add their own checks after these."""
        for f in dataclasses.fields(self):
            if "range" in f.metadata:
                check_option(type(self), f.name, getattr(self, f.name))
        check_device(self.device)
        if not self.out:      # an unset shell variable: the run wrote its checkpoints into the current folder
            raise ValueError("--out '': expected the run folder's name")
        if self.ema:
            check_ema_decay(self.ema)
        data_file = os.path.isfile(self.data)
        if given(self, "val_fraction"):   # as python -m train.evaluate refuses it
            check_val_fraction_applies(self.data, self.val_fraction)
        for name in ("train_split", "val_split"):
            if data_file and given(self, name):
                raise ValueError(f"{option_name(name)} {getattr(self, name)}: applies to a --data folder; "
                                 f"{self.data} is one file (--val-fraction holds out its val photos)")


def option_name(field: str) -> str:
    """The command-line option of a config field: ``batch_size`` -> ``--batch-size``."""
    return "--" + field.replace("_", "-")


def check_option(cls, field: str, value) -> None:
    """ValueError naming the option of ``cls``'s ``field`` and ``value`` unless ``value`` is in the
    field's ``metadata["range"]``: the loops' own check, for a tool that sets one of their options
    (``train.widen --expand``: a widened run must resume)."""
    r = next(f for f in dataclasses.fields(cls) if f.name == field).metadata["range"]
    _check(option_name(field), value, r.holds(value), r.expected())


def given(cfg, field: str) -> bool:
    """Whether ``cfg``'s ``field`` differs from the dataclass default (an option at its default
    value counts as not given): for options that apply only beside another."""
    return getattr(cfg, field) != next(f.default for f in dataclasses.fields(cfg) if f.name == field)


_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def parse_bool(text: str) -> bool:
    """A boolean option's value: true/yes/on/1 or false/no/off/0 (any case).

    Why not "anything else is False": ``--resume flase`` then started the run over and overwrote
    its last.pt, and ``--fused on`` trained the other net without a word."""
    t = text.strip().lower()
    if t in _TRUE or t in _FALSE:
        return t in _TRUE
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def add_dataclass_args(parser: argparse.ArgumentParser, cls) -> None:
    """One ``--field-name`` option per dataclass field, its help the field's ``metadata["help"]``
    then "(default X)"; ``metadata["metavar"]`` names a fixed set of values in the usage (e.g.
    ``auto|cpu|cuda``); bool fields take true/false (see parse_bool)."""
    for f in dataclasses.fields(cls):
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        name = option_name(f.name)
        # as typed: "(default )" read as a missing word, "(default False)" beside a true|false metavar
        shown = "none" if default == "" else str(default).lower() if isinstance(default, bool) else default
        bound = f.metadata["range"].help_note() if "range" in f.metadata else ""
        what = f"{f.metadata.get('help', '')}; {bound}" if bound else f.metadata.get("help", "")
        text = f"{what} (default {shown})" if what else f"(default {shown})"
        kw = dict(default=default, metavar=f.metadata.get("metavar"),
                  help=text.replace("%", "%%"))  # argparse %-formats help: a bare % would fail --help
        if isinstance(default, bool):
            kw["metavar"] = kw["metavar"] or "true|false"
            parser.add_argument(name, type=parse_bool, **kw)
        elif isinstance(default, (tuple, list)):
            parser.add_argument(name, type=type(default[0]), nargs=len(default), **kw)
        else:
            parser.add_argument(name, type=type(default) if default is not None else str, **kw)


def config_from_args(cls, args: argparse.Namespace):
    return cls(**{f.name: getattr(args, f.name) for f in dataclasses.fields(cls)})


def _check(flag: str, value, ok: bool, expected: str) -> None:
    if not ok:
        raise ValueError(f"{flag} {repr(value) if isinstance(value, str) else value}: expected {expected}")


# The nets halve their input four times and add the stride-16 features back at stride 4, so a
# side that is not a multiple of 16 ends in a shape error at the first step.
SIZE_MULTIPLE = 16
#: the longest input side, pixels: 32 times the shipped nets' (a batch of 32 crops of it is 1.6 GB of
#: pixels before any activation); 10**30 passed and ended in an OpenCV traceback after the data load
MAX_INPUT_SIDE = 4096


def check_input_size(flag: str, value: int) -> None:
    """ValueError naming ``flag`` unless ``value`` (pixels) is a positive integer multiple of 16,
    at most :data:`MAX_INPUT_SIDE`."""
    _check(flag, value, is_positive_int(value) and value % SIZE_MULTIPLE == 0 and value <= MAX_INPUT_SIDE,
           f"a multiple of {SIZE_MULTIPLE} (pixels), at most {MAX_INPUT_SIDE}")


def check_batches(batch_size: int, hands: int, world: int, what: str = "training hands") -> None:
    """ValueError when ``hands`` split over ``world`` processes fill no batch of ``batch_size``.

    Why: the loaders drop the last incomplete batch, so such a loader yields nothing and the
    loop, which counts its minutes per step, went round for ever."""
    per_process = -(-hands // world)
    if per_process < batch_size:
        raise ValueError(f"--batch-size {batch_size}: more than the {hands} {what}"
                         + (f" ({per_process} per process of {world})" if world > 1 else "")
                         + "; give a smaller --batch-size")


def setup_logging(out_dir: Path | None = None, rank: int = 0) -> None:
    handlers = [logging.StreamHandler(sys.stderr)]
    if out_dir is not None and rank == 0:
        out_dir.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(out_dir / "train.log", encoding="utf-8"))
    logging.basicConfig(level=logging.INFO if rank == 0 else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(message)s", handlers=handlers, force=True)


DEVICES = ("auto", "cpu", "cuda")


def check_device(option: str) -> None:
    """ValueError naming ``--device`` unless it is one of :data:`DEVICES` and, for "cuda", torch
    sees a GPU (a CPU-only torch build or no driver would otherwise fail at the first tensor)."""
    if option not in DEVICES:
        raise ValueError(f"--device {option!r}: expected one of {', '.join(DEVICES)}")
    if option == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"--device cuda: torch {torch.__version__} sees no CUDA device "
                         "(a CPU build, no driver, or CUDA_VISIBLE_DEVICES empty); use --device cpu or auto")


def init_distributed(device_option: str = "auto") -> tuple[int, int, torch.device]:
    """(rank, world_size, device); sets up DDP when launched by torchrun (WORLD_SIZE > 1).

    ``device_option`` (``--device``): "auto" takes CUDA when torch sees a GPU, "cpu" never does
    (a GPU busy with something else), "cuda" requires one (:func:`check_device`)."""
    check_device(device_option)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    if device_option != "cpu" and torch.cuda.is_available():
        local, gpus = int(os.environ.get("LOCAL_RANK", "0")), torch.cuda.device_count()
        if local >= gpus:  # torchrun --nproc_per_node 2 on a one-GPU machine: "invalid device ordinal" mid-start
            raise ValueError(f"LOCAL_RANK {local}: torch sees {gpus} CUDA device(s), one per process; "
                             f"start at most {gpus} (torchrun --nproc_per_node {gpus}) or give --device cpu")
        torch.cuda.set_device(local)
        device = torch.device("cuda", local)
        torch.backends.cudnn.benchmark = True  # fixed input sizes: let cuDNN pick its fastest kernels
    else:
        device = torch.device("cpu")
    if world > 1:
        torch.distributed.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return rank, world, device


def normalize_batch(images_u8: torch.Tensor, device: torch.device) -> torch.Tensor:
    """(B, H, W, 3) uint8 BGR -> (B, 3, H, W) float32 normalised RGB (the ONNX input layout).

    The result keeps the loader's pixel-interleaved memory (channels_last strides), and the
    loops keep their nets in channels_last too: on a 2-core CPU one training step of the 128 px
    net then takes 179 instead of 139 crops/s (160 px v0.4 net: 65 instead of 59)."""
    x = images_u8.to(device, non_blocking=True).permute(0, 3, 1, 2).flip(1).float()
    mean = torch.tensor(MEAN_RGB, device=device).view(1, 3, 1, 1)
    std = torch.tensor(STD_RGB, device=device).view(1, 3, 1, 1)
    return (x - mean) / std


def _to_cpu(obj):
    """``obj`` with every tensor (nested in dicts, lists, tuples) moved to the CPU."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu()
    if isinstance(obj, dict):
        return {k: _to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_to_cpu(v) for v in obj)
    return obj


def load_checkpoint(path: str | Path, what: str = "checkpoint", device: str | torch.device = "cpu") -> dict:
    """A training checkpoint (the dict :func:`save_checkpoint` writes) from ``path``.

    Raises:
        FileNotFoundError: no such file. ValueError: a file that is not such a checkpoint (an ONNX
            model, a truncated download, another program's pickle), naming ``what`` and the file.
    """
    p = Path(path)
    if os.path.isdir(p):
        raise ValueError(f"{what} {p} is a folder, not a checkpoint file")
    if not p.is_file():
        raise FileNotFoundError(f"{what} not found: {p}")
    try:
        ck = torch.load(p, map_location=device, weights_only=False)
    except Exception as e:  # noqa: BLE001 - pickle, zip and torch errors are the same user error
        raise ValueError(f"{what} {p} is not a training checkpoint ({type(e).__name__}: {str(e)[:120]})") from None
    missing = [k for k in ("model", "model_config") if not isinstance(ck, dict) or k not in ck]
    if missing:
        raise ValueError(f"{what} {p} is not a training checkpoint: it lacks {missing}")
    return ck


def save_checkpoint(path: Path, **state) -> None:
    """Atomic save (write then rename) so a kill mid-save never leaves a broken checkpoint.
    Tensors are stored on the CPU: a checkpoint trained on a GPU loads anywhere.

    Raises:
        ValueError: weights (``state["model"]``) that are not all finite, naming the step (from
            ``state["state"]``); ``path`` keeps what it held. Why: a run whose training diverged
            (``--lr`` far too high) replaced a good last.pt and final.pt with NaN weights and
            ended with status 0.
    """
    from tracker.cli import write_replacing
    weights = state.get("model")
    bad = [k for k, v in weights.items() if isinstance(v, torch.Tensor) and v.is_floating_point()
           and not bool(torch.isfinite(v).all())] if isinstance(weights, dict) else []
    if bad:
        step = state.get("state", {}).get("step") if isinstance(state.get("state"), dict) else None
        at = f" at step {step}" if step is not None else ""
        raise ValueError(f"not saving {path}: {len(bad)} weight tensors hold NaN or inf{at} (e.g. {bad[0]}); the "
                         f"training diverged: give a lower --lr (the file keeps what it held)")
    write_replacing(path, lambda tmp: torch.save(_to_cpu(state), tmp))


def check_loss(loss: float, step: int) -> None:
    """FloatingPointError, one line naming ``step``, when the training ``loss`` is NaN or inf."""
    if not math.isfinite(loss):
        raise FloatingPointError(f"the loss is {loss} at step {step}: the training diverged; give a lower --lr "
                                 "(the checkpoints saved before stay as they were)")


def write_history(path: Path, history: list[dict]) -> None:
    """``history`` (the validations so far) as strict JSON at ``path``: a figure with nothing counted
    (AP over no val scenes: NaN) is null (``train.evaluate.figures_json``), not NaN, which JSON
    readers refuse. Written beside and renamed, as the checkpoints: a failed write keeps the last one."""
    from tracker.cli import write_replacing

    from .evaluate import figures_json
    text = figures_json(history)
    write_replacing(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


#: the files a run writes in --out (besides the loop's picture of val examples)
RUN_FILES = ("train.log", "last.pt", "final.pt", "final_ema.pt", "history.json", "curve.png")


def check_out(out: str | Path, names: tuple[str, ...] = RUN_FILES) -> None:
    """ValueError naming ``--out`` when it, or a folder above it, is a file, or when one of the files
    the run writes there (``names``) is a folder.

    Why: the first failed as "[Errno 17] File exists" naming no option; a last.pt or final.pt
    that was a folder only when it was written, after the whole training."""
    from tracker.cli import check_output_path
    check_output_path("--out", out, folder=True)
    out = Path(out)
    for name in names:
        q = out / name
        if os.path.lexists(q) and not os.path.isfile(q):
            raise ValueError(f"--out {out}: {q} is a folder, not a file; the run writes its {name} there: "
                             "move it away or give another --out")


def lr_at(cfg, step: int, minutes: float, cycle: dict | None = None) -> float:
    """Linear warm-up, then cosine decay over the wall-clock budget ``cfg.minutes`` (or
    ``cfg.max_steps`` when that ends sooner), down to 2% of ``cfg.lr``.

    ``cycle`` ({"step": s0, "minutes": m0}, from :func:`start_cycle`) restarts the schedule at
    step s0 / minute m0: warm-up again, then cosine from m0 to ``cfg.minutes``."""
    s0, m0 = (cycle["step"], cycle["minutes"]) if cycle else (0, 0.0)
    warm = min(1.0, (step - s0 + 1) / max(cfg.warmup_steps, 1))
    frac = min(1.0, (minutes - m0) / max(cfg.minutes - m0, 1e-6))
    if cfg.max_steps:
        frac = max(frac, (step - s0) / max(cfg.max_steps - s0, 1))
    return cfg.lr * warm * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * frac)))


def make_optimizer(net: torch.nn.Module, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    """AdamW with its fused kernel where this torch has one for the parameters' device.

    Why: the per-tensor loop of the default CPU AdamW took 3.8 ms per step of the 128 px net on
    the 2-core machine, the fused kernel 0.7 ms (the same update, ~2% of a step at batch 32)."""
    params = list(net.parameters())
    # torch checks devices only at the first step, so decide here: CPU and CUDA have the kernel
    fused = all(p.device.type in ("cpu", "cuda") and p.is_floating_point() for p in params)
    return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, fused=True if fused else None)


# glibc mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3


def keep_freed_memory(threshold: int = 1 << 30) -> bool:
    """Make glibc's malloc keep freed blocks of up to ``threshold`` bytes for reuse instead of
    handing them back to the kernel (``mallopt`` M_MMAP_THRESHOLD and M_TRIM_THRESHOLD; the same
    as MALLOC_MMAP_THRESHOLD_ / MALLOC_TRIM_THRESHOLD_ in the environment). Process-wide.

    Why: a training step on the CPU allocates and frees activations of tens of MB. By default
    glibc gives each block above its mmap threshold a fresh mapping and unmaps it on free, so
    every step page-faults its working set in again: on the 2-core VM a third of the CPU time of
    the landmark loop went to the kernel, and one step at batch 32 took 2.10 s instead of 1.47 s
    for the shipped landmark net, 5.06 s instead of 3.09 s for the detector (``python -m bench
    train-step``; docs/model_history.md, session 10). The cost: the process keeps its peak memory until it
    ends.

    Returns True when applied; False where the C library is not glibc (macOS, Windows, musl),
    which changes nothing else.
    """
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    return bool(mallopt(_M_MMAP_THRESHOLD, threshold)) and bool(mallopt(_M_TRIM_THRESHOLD, threshold))


def setup_cpu(cfg: LoopConfig, device: torch.device) -> None:
    """Torch's intra-op threads (``cfg.threads``) and, training on the CPU, the allocator."""
    torch.set_num_threads(cfg.threads)
    if device.type == "cpu" and cfg.keep_freed_memory and not keep_freed_memory():
        log.info("keep_freed_memory: not glibc, malloc left as it is")


def start_run(net, mcfg, cfg, out: Path, device):
    """(optimizer, state, cycle, weight average) of a run of ``net`` (built from ``mcfg``): state
    resumed from ``<out>/last.pt`` or fresh with ``--init`` applied, BatchNorm statistics frozen
    with ``--freeze-bn-stats``, the learning-rate cycle and ``--ema`` average, as both trainers
    start them."""
    opt = make_optimizer(net, cfg.lr, cfg.weight_decay)
    state = resume_state(out / "last.pt", net, opt, device, cfg.resume, dataclasses.asdict(cfg))
    init_unless_resumed(net, cfg.init, state, mcfg.to_dict(), device, out / "last.pt")
    if cfg.freeze_bn_stats:
        log.info("BatchNorm running statistics frozen in %d layers", freeze_bn_statistics(net))
    cycle = start_cycle(cfg, state)
    ema = make_ema(cfg, net, out / "last.pt", state["step"], device)
    return opt, state, cycle, ema


def check_resumable(last: Path, resume: bool, kind: str, net_cls, mcfg, shape_options: dict[str, str],
                    free_keys: tuple[str, ...]) -> None:
    """ValueError before the data load when ``last`` (``<out>/last.pt``, which the run would resume)
    holds a net that ``net_cls(mcfg)`` is not: another ``kind``'s checkpoint ("landmarks",
    "detector"), or one trained with other shape options (``shape_options``: model-config key ->
    the option that sets it; both values named).

    Why: that was refused only after the data load (minutes of photo decoding on hands21), as
    weights that "do not fit the options" naming no option. Keys in ``free_keys`` (input sizes: the
    nets are fully convolutional) may differ; ``resume_state`` logs them. A file that is no
    resumable checkpoint at all is left to ``resume_state`` as well."""
    from .model import config_kind
    if not (resume and last.is_file()):
        return
    ck = load_checkpoint(last, "the checkpoint to resume (in --out)")
    their, weights = ck["model_config"], ck["model"]
    if not (isinstance(their, dict) and isinstance(weights, dict)):
        return
    if config_kind(their) != kind:
        raise ValueError(f"cannot resume {last}: it is a {config_kind(their)} checkpoint, not a {kind} one; "
                         "give another --out")
    with torch.device("meta"):  # shapes only: no memory, and the run's random stream is left alone
        shapes = {k: tuple(v.shape) for k, v in net_cls(mcfg).state_dict().items()}
    if shapes == {k: tuple(v.shape) for k, v in weights.items()}:
        return
    their = {**dataclasses.asdict(type(mcfg)()), **their}  # keys older checkpoints lack had the defaults
    ours = mcfg.to_dict()
    changed = [f"{shape_options.get(k, 'model_config ' + k)} {their[k]} (the options give {ours[k]})"
               for k in ours if k not in free_keys and their[k] != ours[k]]
    if changed:
        raise ValueError(f"cannot resume {last}: it was trained with {', '.join(changed)}; give its options, "
                         "or another --out to start a new run")


def run_cli(config_cls, train_fn, doc: str, argv=None, prog: str | None = None):
    """Parse ``config_cls`` options and run ``train_fn``.

    An option value no run can use (argparse's refusals, and those of the config's ``check()``,
    e.g. ``--lr -1`` or ``--augment strong``) is a usage error: the usage line and one error line,
    exit status 2. Bad input (missing or corrupt data, checkpoints), a training that diverged, or
    an --out that cannot be written (a full disk, no permission, a file of that name) -> one
    ``error: ...`` line, exit 1. A run that fails leaves no ``--out`` folder it made itself and
    wrote nothing but its log into. ``prog`` is the command as typed (``python -m
    train.train_detector``) for usage lines."""
    p = argparse.ArgumentParser(prog=prog, description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_dataclass_args(p, config_cls)
    cfg = config_from_args(config_cls, p.parse_args(argv))
    if hasattr(cfg, "check"):
        try:
            cfg.check()
        except ValueError as e:
            p.error(str(e))
    # the folders this run makes (out and any missing above it), removed again if it fails before
    # writing anything but its log; other ranks make none
    made = new_folders(Path(cfg.out) / "train.log") if int(os.environ.get("RANK", "0")) == 0 else []
    try:
        train_fn(cfg)
    except (OSError, ValueError, FloatingPointError) as e:  # OSError: FileNotFoundError, and writes that failed
        _remove_unused_out(Path(cfg.out), made)
        raise SystemExit(f"error: {e}")
    except BaseException:
        _remove_unused_out(Path(cfg.out), made)
        raise


def _remove_unused_out(out: Path, made: list[Path]) -> None:
    """After a failed run: remove the folders it made (``made``: ``tracker.cli.new_folders`` of
    ``out``'s train.log, ``out`` first) when it left nothing in ``out`` but its train.log.

    Why: ``--data TYPO`` (or an option refused once the log was open) left a new folder with only
    a log, which looked like a run (and, being there, like one to resume). A folder that was there
    before, or that holds anything else (a checkpoint, a curve), is kept as it is."""
    if not made:
        return
    out = Path(os.path.abspath(out))
    try:
        if not out.is_dir() or {p.name for p in out.iterdir()} - {"train.log"}:
            return
        log_file = out / "train.log"
        root = logging.getLogger()
        for h in list(root.handlers):   # closed first: an open file cannot be removed on Windows
            if isinstance(h, logging.FileHandler) and Path(h.baseFilename) == log_file:
                root.removeHandler(h)
                h.close()
        log_file.unlink(missing_ok=True)
    except OSError:
        return
    remove_new_folders(made)            # only while empty: a folder holding anything is kept


def worker_init(worker_id: int) -> None:
    """DataLoader worker: give the dataset's random generator a distinct seed per worker.

    Each forked worker holds a copy of the dataset's generator, which would give every worker the
    same crops; the seed is the dataset's (the run's --seed, rank and start step) and the worker's
    number. Why not the clock as well (it was): the same command then trained other crops at every
    run with --workers 1 or more, so no run could be repeated (tests/train/test_loops_resume.py)."""
    import numpy as np
    ds = torch.utils.data.get_worker_info().dataset
    ds.rng = np.random.default_rng([ds.seed, worker_id])


def loader_options(workers: int, device: torch.device) -> dict:
    """DataLoader keywords of the training loops for ``workers`` loader processes (0: batches are
    made in the training process) feeding ``device``.

    The workers are forked where the platform can (Linux): they then share the parent's decoded
    images (train.data.ImageCache) page for page. Under spawn or forkserver (macOS and Windows,
    and Linux's default from Python 3.14) the DataLoader pickles the dataset, cache included, into
    every worker: on 3,000 hands21 hands (430 MB decoded) each of 2 workers held 596 MB of its own
    against 18 MB forked, the parent peaked at 1.5 GB while pickling, and the first 30 batches took
    14 s instead of 0.9 s. Where fork is not used, that is logged as a warning."""
    opts = dict(num_workers=workers, worker_init_fn=worker_init if workers else None,
                persistent_workers=workers > 0, pin_memory=device.type == "cuda")
    if workers:
        import multiprocessing
        if sys.platform.startswith("linux") and "fork" in multiprocessing.get_all_start_methods():
            opts["multiprocessing_context"] = "fork"
        else:
            log.warning("--workers %d: on %s each loader worker holds its own copy of the decoded images "
                        "(start method %s); --workers 0 keeps one", workers, sys.platform,
                        multiprocessing.get_start_method())
    return opts


class DataWait:
    """Iterates ``loader`` (the batches unchanged) and logs, every ``every`` batches (counted across
    passes over it) and at the end of the first pass, the share of the wall time the loop spent
    waiting for the next batch: near 0% the steps are the limit, a large share means more
    ``--workers`` (or a cheaper augmentation) would train faster. Validations inside the loop
    count as step time.

    Why not a line at the end of every pass (it was): on a small data set a pass is a step or two
    (37 hands in batches of 32: one), and those lines were 213 of a 1-minute run's ~220 log lines.
    The first pass's line stays, so that a short run, or one whose passes are shorter than
    ``every``, still says it early; the steps after it are told ``every`` at a time."""

    def __init__(self, loader, every: int = 200):
        self.loader, self.every = loader, every
        self.workers = getattr(loader, "num_workers", 0)
        self.passes = 0
        # steps, wait and start of the current span of steps, kept from one pass to the next
        self._steps, self._waited, self._start = 0, 0.0, None

    def __len__(self):
        return len(self.loader)

    def __iter__(self):
        if self._start is None:
            self._start = perf_counter()
        it = iter(self.loader)
        while True:
            t = perf_counter()
            try:
                batch = next(it)
            except StopIteration:
                break
            now = perf_counter()
            self._waited += now - t
            if self._steps == self.every:
                self._log(self._steps, self._waited - (now - t), t - self._start)
                self._steps, self._waited, self._start = 0, now - t, t
            self._steps += 1
            yield batch
        self.passes += 1
        if self.passes == 1 and self._steps:
            now = perf_counter()
            self._log(self._steps, self._waited, now - self._start)
            self._steps, self._waited, self._start = 0, 0.0, now

    def _log(self, steps: int, waited: float, total: float) -> None:
        log.info("waiting for data: %d%% of the time over the last %d steps (%.3f s per step, --workers %d)",
                 round(100 * waited / max(total, 1e-9)), steps, waited / steps, self.workers)


def resume_state(ckpt_path: Path, net: torch.nn.Module, opt: torch.optim.Optimizer, device: torch.device,
                 resume: bool, options: dict | None = None) -> dict:
    """Loop state from ``ckpt_path`` (weights and optimiser loaded in place), or a fresh one.

    ``options`` (the run's config as a dict): the ones that differ from those the checkpoint was
    trained with are logged, so that a resume with another --lr or --batch-size (taken, as a
    fine-tune may want) is not silent."""
    if resume and ckpt_path.is_file():
        ck = load_checkpoint(ckpt_path, "the checkpoint to resume (in --out)", device)
        if not isinstance(ck.get("state"), dict):
            raise ValueError(f"cannot resume {ckpt_path}: it has no training-loop state (a checkpoint of "
                             "another tool?); give another --out or move the file away")
        # a damaged file: a KeyError or TypeError traceback from the lines below otherwise
        broken = [f"state lacks {k!r}" for k in ("step", "minutes", "history") if k not in ck["state"]]
        if not isinstance(ck["model"], dict):
            broken.append(f"its weights ('model') are {type(ck['model']).__name__}")
        if broken:
            raise ValueError(f"cannot resume {ckpt_path}: a damaged checkpoint ({', '.join(broken)}); give another "
                             "--out or move the file away")
        try:
            net.load_state_dict(ck["model"])
        except RuntimeError as e:
            raise ValueError(f"cannot resume {ckpt_path}: its model configuration {ck.get('model_config')} "
                             f"does not fit the options ({str(e).splitlines()[0]})") from None
        if "optimizer" in ck:  # absent after train.widen: a fresh optimiser
            # load_state_dict also brings back the checkpoint's hyperparameters: keep the weight
            # decay of the options given now, as the log below says (the lr is set at every step)
            decay = [g["weight_decay"] for g in opt.param_groups]
            opt.load_state_dict(ck["optimizer"])
            for g, d in zip(opt.param_groups, decay):
                g["weight_decay"] = d
        state = ck["state"]
        log.info("resumed from %s at step %d (%.1f min)", ckpt_path, state["step"], state["minutes"])
        before = ck.get("train_config")
        if options and isinstance(before, dict):
            changed = [f"--{k.replace('_', '-')} {before[k]} -> {v}" for k, v in options.items()
                       if k in before and before[k] != v]
            if changed:
                log.info("options changed since the checkpoint: %s", ", ".join(changed))
        return state
    return {"step": 0, "minutes": 0.0, "history": [], "epoch": 0}


# Model-config keys that change no weight shape: the nets are fully convolutional (the landmark
# net's class head pools globally), so weights trained at one input size start a run at another.
INPUT_SIZE_KEYS = ("input_size", "input_width", "input_height")
# Model-config keys added after checkpoints were first written, with the value those had.
CONFIG_DEFAULTS = {"expand": 1.0, "fused": False}


def freeze_bn_statistics(net: torch.nn.Module) -> int:
    """Stop every BatchNorm layer of ``net`` from updating its running mean and variance (momentum
    0: the batch statistics still normalise in training, as before; the statistics used at
    inference stay those the run started with). Returns the number of layers frozen.

    Why: in a CPU fine-tune of the shipped landmark model, forward passes alone over 25 batches of
    32 training crops, with no weight update, took its val PCK@0.1 from 0.939 to 0.937 (session 29,
    800 val hands), the kind of drop every CPU fine-tune showed in its first minutes; re-estimating the
    statistics over 9,600 crops gave 0.937 too, over 3,200 crops cut as the tracker cuts them 0.931.
    The weights, not the statistics, are what a fine-tune should change."""
    layers = [m for m in net.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    for m in layers:
        m.momentum = 0.0
    return len(layers)


def init_unless_resumed(net: torch.nn.Module, init: str, state: dict, model_config: dict,
                        device: torch.device, resumed: Path) -> None:
    """``--init``'s weights into ``net`` for a new run (:func:`init_weights`); when the run resumed
    ``resumed`` instead, a warning that ``--init`` was not used (it was ignored without a word, and
    a user who meant to start afresh from it trained on the old run)."""
    if not init:
        return
    if state["step"] == 0:
        init_weights(net, init, model_config, device)
    else:
        log.warning("--init %s ignored: resuming %s at step %d (give a new --out to start from --init)",
                    init, resumed, state["step"])


def init_weights(net: torch.nn.Module, path: str | Path, model_config: dict, device: torch.device) -> None:
    """Load only the weights of checkpoint ``path`` into ``net`` (a new run: fresh optimiser,
    schedule and step count), e.g. to fine-tune the shipped model on one's own data.

    ``model_config`` may differ from the checkpoint's in the input size (logged) and by a larger
    ``expand`` (the weights are widened without changing what they compute, see
    :func:`train.model.widen_state_dict`). Raises FileNotFoundError for a missing file and
    ValueError for the other model's checkpoint (a detector's for a landmark net, or the reverse)
    or when anything else differs (width, keypoints, decoder, a smaller expand), naming both values."""
    from .model import config_kind, widen_state_dict

    p = Path(path)
    ck = load_checkpoint(p, "--init checkpoint", device)
    weights, their = ck["model"], ck.get("model_config", {})
    kind, their_kind = config_kind(model_config), config_kind(their)
    if their_kind != kind:
        # assets/checkpoints holds both models' checkpoints side by side: the other one failed as a
        # load_state_dict traceback, or as "expand differs" when the widths happened to differ
        raise ValueError(f"--init {p} is a {their_kind} checkpoint, not a {kind} one "
                         f"(python -m train.train_{their_kind} --init {p} ...)")
    their = {**CONFIG_DEFAULTS, **their}  # keys that older checkpoints do not carry
    diff = {k: (their.get(k), v) for k, v in model_config.items() if their.get(k, v) != v}
    sizes = {k: d for k, d in diff.items() if k in INPUT_SIZE_KEYS}
    widen = "expand" in diff and their["expand"] < model_config["expand"]
    rest = {k: d for k, d in diff.items() if k not in sizes and not (k == "expand" and widen)}
    if rest:
        raise ValueError(f"--init {p}: model configuration differs (theirs, ours): {rest}")
    if sizes:
        log.info("--init %s: input size changes (theirs, ours): %s", p, sizes)
    if widen:
        weights = widen_state_dict(weights, net)
        log.info("--init %s: widened expand %s -> %s", p, their["expand"], model_config["expand"])
    net.load_state_dict(weights)
    log.info("initialised the weights from %s (step %s)", p, ck.get("state", {}).get("step"))


def start_cycle(cfg, state: dict) -> dict | None:
    """The learning-rate cycle of this run: with ``cfg.new_cycle`` a resumed run starts a new
    one at its current step/minute (kept in ``state`` so that a later resume of the same run,
    same ``--minutes``, continues it instead of restarting again); else the stored one, if any."""
    cyc = state.get("cycle")
    if cfg.new_cycle and state["step"] > 0 and (cyc is None or cyc.get("end") != cfg.minutes):
        if cfg.minutes <= state["minutes"]:
            raise ValueError(f"--minutes {cfg.minutes} must exceed the {state['minutes']:.1f} minutes "
                             "already trained to start a new cycle")
        cyc = {"step": state["step"], "minutes": state["minutes"], "end": cfg.minutes}
        state["cycle"] = cyc
        log.info("new learning-rate cycle from step %d (%.1f min) to %.1f min, peak lr %.2e",
                 cyc["step"], cyc["minutes"], cfg.minutes, cfg.lr)
    return cyc


class LoopClock:
    """Wall-clock bookkeeping shared by the training loops.

    ``state["minutes"]`` counts training minutes across resumes (loading data before the loop is
    not counted); the learning rate follows them (:func:`lr_at`); validation is due every
    ``cfg.eval_every_min`` of them, a checkpoint every ``cfg.checkpoint_every_min`` real minutes.

    Under DDP every process takes rank 0's minutes at each step (``device``: where the process
    group's tensors live), so all of them use the same learning rate and leave the loop at the
    same step: on their own clocks, at the end of ``--minutes`` one process left the loop and
    the process group while another began one more step, and the run crashed before final.pt.
    """

    def __init__(self, cfg, state: dict, cycle: dict | None = None, device: torch.device | None = None):
        self.cfg, self.state, self.cycle = cfg, state, cycle
        self.last_eval = state["minutes"] if state["history"] else -1e9
        dist = torch.distributed
        self.sync = device if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1 else None
        self.restart()

    def restart(self) -> None:
        """Count from now (e.g. after a validation that should not eat into the budget)."""
        self.seg_start, self.seg_minutes0 = time.time(), self.state["minutes"]
        self.last_ckpt = time.time()

    def tick(self, opt: torch.optim.Optimizer) -> float:
        """Before a step: update the minutes, set and return the step's learning rate."""
        minutes = self.seg_minutes0 + (time.time() - self.seg_start) / 60
        if self.sync is not None:  # one float per step, beside the step's gradient all-reduce
            t = torch.tensor([minutes], dtype=torch.float64, device=self.sync)
            torch.distributed.broadcast(t, 0)
            minutes = float(t.item())
        self.state["minutes"] = minutes
        lr = lr_at(self.cfg, self.state["step"], self.state["minutes"], self.cycle)
        for g in opt.param_groups:
            g["lr"] = lr
        return lr

    def exclude(self, seconds: float) -> None:
        """Leave ``seconds`` just spent out of the training minutes (e.g. validating a second set of
        weights, which would otherwise shorten the budget of the run it measures)."""
        self.seg_start += seconds

    def excluded(self, fn, *args, **kwargs):
        """``fn(*args, **kwargs)``, its time left out of the training minutes (:meth:`exclude`)."""
        t = time.time()
        try:
            return fn(*args, **kwargs)
        finally:
            self.exclude(time.time() - t)

    def validate_untrained(self, validate) -> dict:
        """A fresh run's first validation, of the untrained net (its curve starts at step 0,
        minute 0), not counted in the budget; ``{}`` on a resumed run (its history has it)."""
        if self.state["history"]:
            return {}
        m = validate()
        self.evaluated()
        self.restart()
        return m

    def evaluated(self) -> None:
        """A validation ran now: the next one is due ``cfg.eval_every_min`` minutes later."""
        self.last_eval = self.state["minutes"]

    def eval_due(self) -> bool:
        """Whether a validation is due (if so, it counts as run)."""
        if self.state["minutes"] - self.last_eval >= self.cfg.eval_every_min:
            self.evaluated()
            return True
        return False

    def checkpoint_due(self) -> bool:
        if time.time() - self.last_ckpt >= self.cfg.checkpoint_every_min * 60:
            self.last_ckpt = time.time()
            return True
        return False

    def finished(self) -> bool:
        return self.state["minutes"] >= self.cfg.minutes or bool(
            self.cfg.max_steps and self.state["step"] >= self.cfg.max_steps)


def check_ema_decay(decay: float) -> None:
    """ValueError naming ``--ema`` unless ``decay`` is in (0, 1)."""
    if not 0.0 < decay < 1.0:
        raise ValueError(f"--ema {decay}: expected a decay in (0, 1), e.g. 0.999 (0: off)")


class WeightEMA:
    """An exponential moving average of a net's weights, kept beside the trained ones.

    After each optimiser step, :meth:`update` moves every floating-point tensor of the copy's
    state dict (weights and batch-norm statistics) toward the net's: ``ema = d * ema + (1 - d) *
    w`` with ``d = min(decay, (1 + n) / (10 + n))`` at the n-th update, so the first updates follow
    the net closely instead of averaging in its random start (the warm-up of timm's ModelEmaV2).
    Integer buffers (batch-norm's step counts) are copied. ``decay`` in (0, 1): 0.999 averages over
    roughly the last thousand steps.
    """

    def __init__(self, net: torch.nn.Module, decay: float):
        check_ema_decay(decay)
        self.decay, self.updates = float(decay), 0
        self.net = copy.deepcopy(net).eval()
        for p in self.net.parameters():
            p.requires_grad_(False)

    def current_decay(self) -> float:
        """The decay the next update uses."""
        n = self.updates + 1
        return min(self.decay, (1 + n) / (10 + n))

    @torch.no_grad()
    def update(self, net: torch.nn.Module) -> None:
        """Move the average toward ``net``'s weights (call after each optimiser step)."""
        d = self.current_decay()
        self.updates += 1
        floats, targets = [], []
        for e, w in zip(self.net.state_dict().values(), net.state_dict().values()):
            if e.dtype.is_floating_point:
                floats.append(e)
                targets.append(w.detach())
            else:
                e.copy_(w)
        # one fused call over all tensors: a loop of per-tensor lerps cost ~4 ms per step on the 2-core
        # CPU for the 90-minute net (2% of its step)
        torch._foreach_lerp_(floats, targets, 1.0 - d)

    def state_dict(self) -> dict:
        return {"model": self.net.state_dict(), "updates": self.updates, "decay": self.decay}

    def load_state_dict(self, state: dict) -> None:
        self.net.load_state_dict(state["model"])
        self.updates = int(state["updates"])

    def save(self, path: Path, **meta) -> None:
        """The average as a checkpoint of its own (``meta``: the loop's state, configs, codec,
        normalisation): export and ``--init`` read it as they read ``final.pt``."""
        save_checkpoint(path, model=self.net.state_dict(), **meta)


def make_ema(cfg: LoopConfig, net: torch.nn.Module, ckpt_path: Path, step: int,
             device: torch.device) -> WeightEMA | None:
    """The run's :class:`WeightEMA` when ``cfg.ema`` > 0, else None. On a resumed run
    (``step`` > 0) it continues from the average saved in ``ckpt_path`` (widened as the weights were
    when ``train.widen`` grew the net since); a checkpoint written without one starts it from the
    net's weights (logged)."""
    if not cfg.ema:
        return None
    ema = WeightEMA(net, cfg.ema)
    if step > 0 and ckpt_path.is_file():
        saved = torch.load(ckpt_path, map_location=device, weights_only=False).get("ema")
        if saved is not None:
            try:
                ema.load_state_dict(saved)
            except RuntimeError:  # the net was grown since (train.widen keeps the narrow average): grow it too
                from .model import widen_state_dict
                try:
                    ema.load_state_dict({**saved, "model": widen_state_dict(saved["model"], ema.net)})
                except ValueError as e:
                    raise ValueError(f"cannot resume the weight average of {ckpt_path}: {e}") from None
                log.info("%s: weight average widened with the net", ckpt_path)
        else:
            log.info("%s has no weight average: --ema starts from its weights at step %d", ckpt_path, step)
    return ema


@contextlib.contextmanager
def saved_on_stop(checkpoint, state: dict, path: Path):
    """Run the body of a training loop; on Ctrl-C or SIGTERM call ``checkpoint()`` (which writes
    ``path`` on rank 0) and end with one line naming the step, instead of a traceback.

    Why: timed checkpoints come every ``--checkpoint-every-min`` (3) minutes, and a stop (Ctrl-C, a
    cluster pre-empting the job with SIGTERM, torchrun ending its workers) lost the steps since
    the last one. SIGTERM is raised as KeyboardInterrupt while the body runs (main thread only);
    the handler before it is put back after."""
    from tracker.cli import sigterm_handler

    def _stop(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")
    with sigterm_handler(_stop):
        try:
            yield
        except KeyboardInterrupt:
            checkpoint()  # atomic (save_checkpoint): a second Ctrl-C here leaves the last one whole
            raise SystemExit(f"interrupted at step {state['step']} ({state['minutes']:.1f} min): saved {path}; "
                             "the same command resumes the run") from None


def finish_run(state: dict, validate, checkpoint, ema, rank: int, out: Path, meta) -> dict:
    """The end of either training loop: the final validation (none when the last step is validated
    already: the command of a finished run again appended a second entry each time, as did a
    validation due on the last step), ``last.pt`` and ``final.pt`` (``checkpoint(name)``), and
    ``final_ema.pt`` from rank 0 with a weight average. Returns the final figures."""
    h = state["history"]
    m = h[-1] if h and h[-1]["step"] == state["step"] else validate()
    checkpoint()
    checkpoint("final.pt")
    if ema and rank == 0:
        ema.save(out / "final_ema.pt", state=state, **meta())
    return m


def optimizer_step(opt: torch.optim.Optimizer, loss: torch.Tensor, state: dict, ema=None, net=None) -> None:
    """One training step of either loop: gradients of ``loss``, the optimiser's update, the
    weight average's (``ema``, of ``net``) when there is one, and ``state["step"]`` counted."""
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    if ema:
        ema.update(net)
    state["step"] += 1


def plot_history(history: list[dict], series: list[tuple[str, str, str]], path: Path, ylabel: str,
                 bar: float, cycle_starts: tuple[float, ...] = ()) -> None:
    """A 600x400 PNG of validation figures against wall-clock training minutes (y in [0, 1]).

    ``series``: (history key, matplotlib format, label) per line, each drawn over the entries that
    have the key (a weight average's only where one was validated); ``bar``: a dotted grey line
    (the issue's bar); ``cycle_starts``: minutes where a new lr cycle began, dashed. Nothing but
    a log line without matplotlib (the runtime install has none)."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log.info("matplotlib not installed: no curve PNG")
        return
    fig, ax = plt.subplots(figsize=(6, 4))
    for key, fmt, label in series:
        rows = [h for h in history if key in h]
        if rows:
            ax.plot([h["minutes"] for h in rows], [h[key] for h in rows], fmt, label=label)
    ax.axhline(bar, color="gray", ls=":", lw=1)
    for i, m in enumerate(cycle_starts):
        ax.axvline(m, color="gray", ls="--", lw=1, label="new lr cycle (resumed)" if i == 0 else None)
    ax.set_xlabel("wall-clock training minutes")
    ax.set_ylabel(ylabel)
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def wrap_ddp(net: torch.nn.Module, world: int, device: torch.device) -> torch.nn.Module:
    """DistributedDataParallel around ``net`` when running under torchrun, else ``net``."""
    if world <= 1:
        return net
    return torch.nn.parallel.DistributedDataParallel(net, device_ids=[device.index] if device.type == "cuda" else None)


def normalization() -> dict:
    """The input normalisation stored in checkpoints (and from there in the ONNX metadata)."""
    return {"mean_rgb": list(MEAN_RGB), "std_rgb": list(STD_RGB)}
