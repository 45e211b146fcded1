"""Grow a trained checkpoint's hidden widths without changing what it computes.

    python -m train.widen assets/checkpoints/landmarks_last.pt runs/lm3/last.pt --expand 1.5

The written checkpoint keeps the loop state (step, minutes, history, lr cycle) so that
``train_landmarks``/``train_detector --out runs/lm3 --new-cycle true --minutes M`` resumes it,
with a fresh optimiser (the old one's moments have the old shapes). See
:func:`train.model.widen_state_dict`.
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

from tracker.cli import check_output_path, refuse_overwrite

from .common import MAX_WIDTH, LoopConfig, check_option, load_checkpoint, save_checkpoint, setup_logging
from .model import build_net, widen_state_dict

log = logging.getLogger("train.widen")

def check_expand(expand: float) -> None:
    """ValueError naming ``--expand`` unless the training loops take it (``LoopConfig.expand``'s
    range: finite, > 0, at most ``MAX_WIDTH``), so that the widened run resumes; 1e30 failed inside
    build_net with a traceback."""
    check_option(LoopConfig, "expand", expand)


def _expand(text: str) -> float:
    """argparse type of --expand (:func:`check_expand`)."""
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--expand {text!r}: expected a number") from None
    try:
        check_expand(v)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return v


def widen_checkpoint(src: str | Path, dst: str | Path, expand: float, overwrite: bool = False) -> dict:
    """Write ``dst``: checkpoint ``src`` with ``model_config["expand"] = expand``; returns it.

    An existing ``dst`` is refused unless ``overwrite``: it is usually the run trained on since the
    widening (its folder is where training resumes), which the same command run again replaced."""
    src, dst = Path(src), Path(dst)
    check_expand(expand)
    if dst.is_dir():
        raise ValueError(f"dst {dst}: is a folder; name the checkpoint file (e.g. {dst / 'last.pt'})")
    check_output_path("dst", dst)     # under a file: said before loading, naming dst (not "[Errno 17]")
    ck = load_checkpoint(src)
    refuse_overwrite(src, dst, "dst")
    if dst.exists() and not overwrite:
        raise ValueError(f"dst {dst}: already exists (training may have gone on there since it was "
                         "widened); name another file, or --overwrite to replace it")
    mc = dict(ck["model_config"])
    if expand < mc.get("expand", 1.0):
        raise ValueError(f"--expand {expand} is below the checkpoint's {mc.get('expand', 1.0)}")
    mc["expand"] = expand
    net = build_net(mc)
    net.load_state_dict(widen_state_dict(ck["model"], net))
    out = {k: v for k, v in ck.items() if k != "optimizer"}
    out.update(model=net.state_dict(), model_config=mc)
    dst.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(dst, **out)
    n_old = sum(v.numel() for k, v in ck["model"].items() if "running" not in k and "num_batches" not in k)
    n_new = sum(p.numel() for p in net.parameters())
    log.info("widened %s -> %s: expand %s, %d -> %d parameters", src, dst, expand, n_old, n_new)
    return out


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m train.widen", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("src")
    p.add_argument("dst")
    p.add_argument("--expand", type=_expand, required=True,
                   help=f"new hidden-width multiplier (>= the old one, at most {MAX_WIDTH:g})")
    p.add_argument("--overwrite", action="store_true", help="replace an existing dst")
    a = p.parse_args(argv)
    setup_logging()
    try:
        widen_checkpoint(a.src, a.dst, a.expand, a.overwrite)
    except (OSError, ValueError) as e:   # OSError: dst cannot be written (permissions, a full disk)
        raise SystemExit(f"error: {e}")


if __name__ == "__main__":
    main()
