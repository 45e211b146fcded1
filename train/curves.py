"""Learning curves of several training runs in one picture (val PCK against wall-clock minutes).

    python -m train.curves assets/landmarks_history_cpu.json runs/cpu90la/history.json \\
        --label "fused" --label "fused, --augment light" -o docs/curves.png

Each input is a run's ``history.json`` (``train_landmarks`` writes it next to its checkpoints: a
list of {"minutes", "step", "pck10", "pck05", ...}). Draws PCK@0.1 (solid) and, with ``--pck05``,
PCK@0.05 (dashed) per run, and for a run trained with ``--ema`` its weight average's PCK@0.1
(dotted, same colour); the 0.90 line of the 90-minute bar, and the issue's reference point
(0.78 at 20 minutes); prints each run's last figures.
"""
from __future__ import annotations

import argparse
import json
import logging
import math
from pathlib import Path

from tracker.cli import output_clash

log = logging.getLogger("curves")

REFERENCE = (20.0, 0.78)   # issue 2: a plain 0.45M net at 128 px reached val PCK@0.1 0.78 after 20 minutes


def _number(v) -> bool:
    """A JSON number (NaN included: a validation that failed), not a string, bool or null."""
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _finite(v) -> bool:
    """A JSON number that is a finite float (an integer of 400 digits is not: it overflows one)."""
    try:
        return _number(v) and math.isfinite(float(v))
    except OverflowError:
        return False


def _share(v) -> bool:
    """A PCK figure: a JSON number in [0, 1], or NaN (a validation that failed)."""
    try:
        return _number(v) and (math.isnan(float(v)) or 0.0 <= float(v) <= 1.0)
    except OverflowError:
        return False


#: the figures a history entry may hold and :func:`plot_runs` draws; those but pck10 may be absent
#: or null (not measured: a gap in the line)
SHARES = ("pck10", "pck05", "ema_pck10")


def _value(entry: dict, key: str) -> float:
    """``entry[key]`` as a float; NaN (a gap in the line) when it is absent or null."""
    v = entry.get(key)
    return float("nan") if v is None else float(v)


def load_history(path: str | Path) -> list[dict]:
    """A run's history: a non-empty list of dicts with ``minutes`` (a finite number) and ``pck10``,
    and maybe ``pck05`` and ``ema_pck10`` (null: not measured), each a share in [0, 1] or NaN.

    FileNotFoundError when ``path`` is missing, ValueError naming the file otherwise (a value out
    of range was a traceback, some only after the picture was written)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"history file {path} does not exist")
    try:
        hist = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"history file {path} is not JSON ({e})") from None
    if isinstance(hist, list) and hist and all(isinstance(h, dict) and "ap50" in h for h in hist):
        raise ValueError(f"history file {path} is a detector run's (AP@0.5, not PCK); train.train_detector "
                         "draws its curve.png beside it")
    if not isinstance(hist, list) or not hist or not all(
            isinstance(h, dict) and all(_number(h.get(k)) for k in ("minutes", "pck10")) for h in hist):
        raise ValueError(f"history file {path} is not a training history "
                         "(a non-empty list of {'minutes', 'pck10', ...} entries, numbers)")
    for i, h in enumerate(hist):
        if not _finite(h["minutes"]):
            raise ValueError(f"history file {path}: entry {i}: minutes {h['minutes']!r:.40}: expected a finite number")
        for key in SHARES:
            if key in h and not (key != "pck10" and h[key] is None) and not _share(h[key]):
                raise ValueError(f"history file {path}: entry {i}: {key} {h[key]!r:.40}: expected a share in "
                                 "[0, 1] (or NaN)")
    return hist


def plot_runs(histories: list[list[dict]], labels: list[str], path: str | Path, pck05: bool = False,
              bar: float = 0.9) -> None:
    """Write the picture (PNG/JPEG by ``path``'s suffix) of ``histories`` named by ``labels``
    (one label per history: ValueError otherwise)."""
    if len(histories) != len(labels):
        raise ValueError(f"plot_runs: {len(histories)} histories but {len(labels)} labels (one label per history)")
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for i, (hist, label) in enumerate(zip(histories, labels)):
        color = f"C{i}"
        mins = [float(h["minutes"]) for h in hist]
        ax.plot(mins, [_value(h, "pck10") for h in hist], "o-", ms=3, color=color, label=f"{label}: PCK@0.1")
        if pck05:
            ax.plot(mins, [_value(h, "pck05") for h in hist], "s--", ms=3, color=color,
                    label=f"{label}: PCK@0.05")
        if any("ema_pck10" in h for h in hist):
            ax.plot(mins, [_value(h, "ema_pck10") for h in hist], "^:", ms=3, color=color,
                    label=f"{label}: PCK@0.1, weight average (--ema)")
    ax.axhline(bar, color="gray", ls=":", lw=1, label=f"{bar:.2f}")
    ax.plot(*REFERENCE, "kx", ms=8, label="issue's reference (0.78 @ 20 min)")
    ax.set_xlabel("wall-clock training minutes")
    ax.set_ylabel("val PCK")
    # the range of the full runs' pictures, lowered to show every run after its step-0 validation
    # (near 0, left out as before): a few minutes from scratch on a small set of one's own (PCK@0.1
    # 0.02-0.3) was below the fixed floor, its line not drawn at all
    keys = ("pck10", "pck05") if pck05 else ("pck10",)
    shown = [h[k] for hist in histories for h in (hist[1:] or hist) for k in keys
             if isinstance(h.get(k), (int, float)) and math.isfinite(h[k])]
    ax.set_ylim(min([0.4 if pck05 else 0.6] + [math.floor(v * 10) / 10 for v in shown]), 1.0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m train.curves", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("histories", nargs="+", help="history.json files")
    ap.add_argument("--label", action="append", default=None,
                    help="a name per history, in order (default: the history paths as given)")
    ap.add_argument("-o", "--out", required=True, help="picture to write (.png or .jpg)")
    ap.add_argument("--pck05", action="store_true", help="also draw PCK@0.05")
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    labels = a.label or [str(Path(h)) for h in a.histories]
    if len(labels) != len(a.histories):
        ap.error(f"--label given {len(labels)} times for {len(a.histories)} histories")
    out = Path(a.out)
    clash = output_clash([("-o", a.out)], [("HISTORY", h) for h in a.histories])
    if clash:   # a history named .png: replaced by the picture
        ap.error(clash)
    if out.suffix.lower() not in (".png", ".jpg", ".jpeg"):
        ap.error(f"-o {a.out}: expected a .png or .jpg file name")
    if not out.parent.is_dir():
        ap.error(f"-o {a.out}: folder {out.parent} does not exist")
    if out.is_dir():
        ap.error(f"-o {a.out}: is a folder; name the picture to write")
    try:
        hists = [load_history(h) for h in a.histories]
    except (FileNotFoundError, ValueError) as e:
        ap.error(str(e))
    plot_runs(hists, labels, out, a.pck05)
    for hist, label in zip(hists, labels):
        last = hist[-1]
        pck05, ema = last.get("pck05"), last.get("ema_pck10")
        log.info("%s: %.1f min, step %s, PCK@0.1 %.3f, PCK@0.05 %s%s", label, last["minutes"], last.get("step", "?"),
                 last["pck10"], "?" if pck05 is None else f"{pck05:.3f}",
                 "" if ema is None else f"; weight average PCK@0.1 {ema:.3f}")
    log.info("wrote %s", out)


if __name__ == "__main__":
    main()
