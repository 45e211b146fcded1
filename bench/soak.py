"""Memory soak: run the tracker on a looped video for many frames and sample the process RSS.

Growth is reported two ways: last sample minus the first sample after warm-up, and the slope of a
least-squares line through the samples of the second half (MiB per 10k frames), which ignores
one-off allocations at start-up.
"""
from __future__ import annotations

import logging
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)


def rss_mib() -> float:
    """Resident set size of this process, MiB (Linux /proc; elsewhere the peak, ru_maxrss; NaN on
    Windows, which has no ``resource`` module)."""
    try:
        with open("/proc/self/status", encoding="utf-8") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return float(line.split()[1]) / 1024.0
    except OSError:
        pass
    try:
        import resource
    except ImportError:
        return float("nan")
    # ru_maxrss is in bytes on macOS, in KiB on Linux and the BSDs
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (2.0**20 if sys.platform == "darwin" else 1024.0)


@dataclass
class SoakResult:
    frames: int
    seconds: float
    samples: list[tuple[int, float]] = field(default_factory=list)  # (frame, RSS MiB)
    warmup: int = 0
    hand_frames: int = 0  # frames where the tracker reported at least one hand

    @property
    def growth_mib(self) -> float:
        s = [m for f, m in self.samples if f >= self.warmup]
        return float(s[-1] - s[0]) if len(s) >= 2 else float("nan")

    @property
    def slope_mib_per_10k(self) -> float:
        s = np.array([(f, m) for f, m in self.samples if f >= self.warmup], np.float64)
        if len(s) < 4:
            return float("nan")
        s = s[len(s) // 2:]
        if np.ptp(s[:, 0]) == 0:
            return float("nan")
        return float(np.polyfit(s[:, 0], s[:, 1], 1)[0] * 10_000)


def soak(process, frames_iter, n_frames: int, sample_every: int = 1000, warmup: int = 1000,
         log_every: int = 10_000) -> SoakResult:
    """Call ``process(frame, timestamp_ms)`` for ``n_frames`` frames from ``frames_iter``."""
    res = SoakResult(n_frames, 0.0, warmup=min(warmup, max(n_frames - 1, 0)))
    t0 = time.perf_counter()
    for i in range(n_frames):
        frame = next(frames_iter)
        out = process(frame, i * 1000.0 / 30.0)
        if getattr(out, "hands", None):
            res.hand_frames += 1
        if i % sample_every == 0 or i == n_frames - 1:
            res.samples.append((i, rss_mib()))
        if log_every and i and i % log_every == 0:
            log.info("soak: %d/%d frames, RSS %.1f MiB, %.1f ms/frame", i, n_frames, res.samples[-1][1],
                     (time.perf_counter() - t0) * 1000 / i)
    res.seconds = time.perf_counter() - t0
    return res


#: frames of the video decoded once, held in memory and looped (the soak and bench live)
LOOP_FRAMES = 300


def looped_video(path: Path, width: int = 640, height: int = 480, max_frames: int = LOOP_FRAMES):
    """Endless iterator over the first ``max_frames`` frames of a video (decoded once, fitted)."""
    from .speed import read_video
    frames, _ = read_video(path, max_frames, width, height)
    if not frames:
        raise ValueError(f"no frames in {path}")
    i = 0
    while True:
        yield frames[i % len(frames)]
        i += 1


def synthetic_loop(shared: Path, n_clip: int = 200, seed: int = 0):
    """(endless frame iterator, detector) for a looped 2-hand synthetic clip whose detector reports
    the ground-truth hands: the tracker tracks on every frame whatever its detector model finds,
    and the loop point makes it lose and re-create tracks once per loop."""
    from train.data import load_records

    from .motion import make_clip
    from .run import OracleDetector
    clip = make_clip(load_records(shared / "data" / "hands21", "val"), seed=seed, n_frames=n_clip,
                     n_hands=2)
    frames = list(clip.frames())
    det = OracleDetector()
    det.clip = clip

    def it():
        i = 0
        while True:
            det.t = i % len(frames)
            yield frames[det.t]
            i += 1
    return it(), det


def run(video: Path, n_frames: int = 100_000, threads: int = 2, width: int = 640, height: int = 480,
        sample_every: int = 1000, tracker_factory=None, out: Path | None = None,
        tracker_options: dict | None = None, synthetic_from: Path | None = None) -> SoakResult:
    """Soak the tracker (video mode) on a looped video, or with ``synthetic_from`` (the shared
    folder) on a looped synthetic clip with ground-truth detections; optionally write
    ``soak.json`` and a plot."""
    # checked first: a soak without frames or samples wrote a soak.json without samples over the last one
    if n_frames < 1 or sample_every < 1:
        raise ValueError(f"soak needs n_frames >= 1 and sample_every >= 1, got n_frames={n_frames}, "
                         f"sample_every={sample_every}")
    from .methods import import_hand_tracker
    make = tracker_factory or import_hand_tracker()
    opts = dict(tracker_options or {})
    if synthetic_from is not None:
        frames, opts["detector"] = synthetic_loop(synthetic_from)
        video = Path("synthetic 2-hand clip, GT detections")
        width, height = 640, 480
    else:
        frames = looped_video(video, width, height)
    tr = make(max_hands=2, static_image_mode=False, threads=threads, **opts)
    try:
        r = soak(tr.process, frames, n_frames, sample_every, warmup=min(1000, n_frames // 10))
    finally:
        tr.close()
    log.info("soak: %d frames in %.0f s (%.1f ms/frame), hands reported on %.0f%% of frames; RSS "
             "growth %.1f MiB after warm-up, slope %.2f MiB per 10k frames (second half)", r.frames,
             r.seconds, r.seconds * 1000 / max(r.frames, 1), 100.0 * r.hand_frames / max(r.frames, 1),
             r.growth_mib, r.slope_mib_per_10k)
    if out is not None:
        from .run import write_json
        out.mkdir(parents=True, exist_ok=True)
        # a soak too short for a growth or a slope: null there (n/a in REPORT.md), never a NaN token
        write_json(out / "soak.json", {
            "video": str(video), "frames": r.frames, "seconds": r.seconds, "threads": threads,
            "size": [width, height], "growth_mib": r.growth_mib,
            "slope_mib_per_10k": r.slope_mib_per_10k, "samples": r.samples,
            "hand_frames": r.hand_frames,
            "written": time.strftime("%Y-%m-%d %H:%M")})
        try:
            import matplotlib
            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
            s = np.array(r.samples)
            fig, ax = plt.subplots(figsize=(6, 3.5))
            ax.plot(s[:, 0], s[:, 1])
            ax.set_xlabel("frame")
            ax.set_ylabel("RSS (MiB)")
            ax.set_title(f"soak: {video.name}, {width}x{height}, {threads} thread(s)")
            fig.tight_layout()
            fig.savefig(out / "soak_rss.png", dpi=90)
            plt.close(fig)
        except Exception:  # noqa: BLE001 - the plot is optional
            log.debug("soak plot failed", exc_info=True)
    return r
