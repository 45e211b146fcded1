"""Frame-rate study: the clips played at other frame rates, the frame-counted options as counts or scaled.

    python -m bench frame-rate                                  # the shared clips, factors 0.5,1,2, 0.3 s blackout
    python -m bench frame-rate --videos huytung_2hand.mp4 --factors 2 --blackout 0.6 --out /tmp/fr

Each clip is played at ``factor`` times its frame rate: factor 2 shows every frame twice (an ideal
60 fps camera of the same motion at a 30 fps clip), 0.5 drops every other frame; timestamps are
1000 / (fps x factor) ms apart. Two modes: ``counts`` (``frame_rate=None``: the frame-counted
options are used as counts, whatever the rate) and ``scaled`` (``frame_rate`` = the played rate).
At factor 1 a clip of 29.75 fps up to (not including) 30.25 fps plays once for both modes ("counts
= scaled": its frame_rate would change no frame count, only the lost-hand gate growth by < 1% and
the side memory by a frame of 150); a 25 fps clip plays twice.

Per play: hands per frame, linked tracks and side changes (:func:`bench.videos.side_stability`,
``max_gap`` scaled by the factor, at least its default 5), detector calls per second of stream
time. With a blackout of S s, a second play has the frames from the clip's middle for S s black:
the hands on the last frame before the gap, and how many of them come back with the same track id
on the first frame within 1 s after the gap that reports any hand.
"""
from __future__ import annotations

import logging
import math
import time
from pathlib import Path

import numpy as np

from tracker import HandTracker
from tracker.video import FrameSource

from .temporal import PredHand
from .videos import side_stability

log = logging.getLogger(__name__)

MODES = ("counts", "scaled")
LINK_GAP = 5            # bench.videos.link_tracks' default max_gap (frames)
BACK_WITHIN_S = 1.0     # a hand must be back within this long after the gap to count
_EPS = 1e-9             # float slack: k / factor and k / rate land on whole numbers exactly in theory


def schedule(n_frames: int, factor: float) -> list[int]:
    """Source frame index of each played frame: ``floor(k / factor)`` for played frame k, as long
    as that is a frame of the clip (factor 2: 0, 0, 1, 1, ...; 0.5: 0, 2, 4, ...)."""
    count = math.ceil(n_frames * factor - _EPS)
    return [min(n_frames - 1, math.floor(k / factor + _EPS)) for k in range(count)]


def blackout_mask(n_played: int, rate: float, start_s: float, seconds: float) -> list[bool]:
    """Which played frames are black: those at ``start_s <= k / rate < start_s + seconds``
    (rate in frames per second of the played stream; seconds 0: none)."""
    lo, hi = start_s * rate, (start_s + seconds) * rate
    return [seconds > 0 and lo - _EPS <= k < hi - _EPS for k in range(n_played)]


def back_with_id(ids: list[list[int]], black: list[bool], rate: float,
                 within_s: float = BACK_WITHIN_S) -> tuple[int, int] | None:
    """(hands on the last frame before the black frames, how many of their track ids the first
    frame within ``within_s`` s after them that reports any hand reports again); None without
    black frames or when the clip ends in them (nothing to come back in). ``ids``: per played frame, the reported track ids; rate: frames per second."""
    blacks = [k for k, b in enumerate(black) if b]
    if not blacks:
        return None
    b0, b1 = blacks[0], blacks[-1] + 1
    before = set(ids[b0 - 1]) if b0 > 0 else set()
    if b1 >= len(ids):
        return None
    for k in range(b1, len(ids)):
        if (k - b1) / rate > within_s + _EPS:
            break
        if ids[k]:
            return len(before), len(before & set(ids[k]))
    return len(before), 0


class _Counted:
    """A tracker's detector that counts its calls (everything else passed through)."""

    def __init__(self, detector) -> None:
        self._detector, self.calls = detector, 0

    def __getattr__(self, name):
        return getattr(self._detector, name)

    def __call__(self, *args, **kwargs):
        self.calls += 1
        return self._detector(*args, **kwargs)


def play(path: Path, n_frames: int, factor: float, frame_rate: float | None, rate: float,
         masks: list[list[bool] | None], threads: int, tracker_factory=None) -> list[dict]:
    """Play the first ``n_frames`` of a clip at ``factor`` (:func:`schedule`) through one tracker
    per mask (None: no black frames), all fed in one decoding pass; per mask the figures of the
    module docstring (``ids``: per played frame, the reported track ids). ``tracker_factory``:
    ``HandTracker`` when None (looked up at call time, so tests can replace it)."""
    order = schedule(n_frames, factor)
    factory = tracker_factory or HandTracker
    runs = []
    k = 0
    try:
        for mask in masks:          # inside the try: a tracker that fails to build closes those before it
            tracker = factory(max_hands=2, threads=threads, frame_rate=frame_rate)
            runs.append((tracker, mask, []))
            tracker.detector = _Counted(tracker.detector)
        for index, _, frame in FrameSource(path):
            black = None
            while k < len(order) and order[k] == index:
                for tracker, mask, preds in runs:
                    f = frame
                    if mask is not None and mask[k]:
                        f = black = np.zeros_like(frame) if black is None else black
                    res = tracker.process(f, timestamp_ms=k * 1000.0 / rate)
                    preds.append([PredHand(np.asarray(h.keypoints), h.side, h.track_id, h.score) for h in res.hands])
                k += 1
            if k >= len(order):
                break
        out = []
        for tracker, mask, preds in runs:
            st = side_stability(preds, rate, max_gap=max(LINK_GAP, round(LINK_GAP * factor)))
            n = len(preds)
            out.append({"frames": n, "seconds": n / rate, "hands": sum(map(len, preds)),
                        "hands_per_frame": st["hands_per_frame"], "tracks": st["tracks"],
                        "side_changes": st["side_changes"], "young_side_changes": st["young_side_changes"],
                        "side_change_frames": st["side_change_frames"], "detector_calls": tracker.detector.calls,
                        "detector_per_s": tracker.detector.calls * rate / n if n else float("nan"),
                        "ids": [[h.track_id for h in hs] for hs in preds]})
        return out
    finally:
        for tracker, _, _ in runs:
            tracker.close()


def same_run(rate: float) -> bool:
    """Whether ``counts`` and ``scaled`` are one run at this played rate (see the module docstring)."""
    # the longest count, redetection_frames' 60, stays 60 from 59.5 up to 60.5 (rounded half up)
    return 29.75 <= rate < 30.25


def run(clips: list[Path], factors: tuple[float, ...], blackout_s: float = 0.3, threads: int = 2,
        video_frames: int | None = None, tracker_factory=None) -> dict:
    """The study (module docstring): ``{"clips": {name: {"fps", "frames", "rows"}}, "total": rows}``,
    a row per factor and mode (the same figures in both where :func:`same_run`)."""
    clips_out = {}
    for path in clips:
        src = FrameSource(path)
        fps, n = src.fps, len(src) if video_frames is None else min(len(src), video_frames)
        rows = []
        for factor in factors:
            rate = fps * factor
            n_played = len(schedule(n, factor))
            mask = blackout_mask(n_played, rate, n / fps / 2, blackout_s)
            mask = mask if any(mask) else None      # 0 s, or too short to cover a played frame
            one = same_run(rate)
            for mode in MODES[:1] if one else MODES:
                t0 = time.perf_counter()
                res = play(path, n, factor, None if mode == "counts" else rate, rate,
                           [None] + ([mask] if mask else []), threads, tracker_factory)
                if res[0]["frames"] < n_played:
                    log.warning("%s: %d frames played of %d scheduled (the clip has fewer frames than its "
                                "container says)", path.name, res[0]["frames"], n_played)
                row = {k: v for k, v in res[0].items() if k != "ids"}
                row.update(factor=factor, rate=rate, mode="counts = scaled" if one else mode)
                played_mask = mask[:res[1]["frames"]] if mask else []
                got = back_with_id(res[1]["ids"], played_mask, rate) if any(played_mask) else None
                if got is not None:
                    before, back = got
                    row.update(black_frames=sum(played_mask), before=before, back=back)
                log.info("%s x%g %s: %.1f s, %s", path.name, factor, row["mode"], time.perf_counter() - t0,
                         {k: row[k] for k in ("hands_per_frame", "tracks", "side_changes", "detector_per_s")})
                rows.append(row)
        clips_out[path.name] = {"fps": fps, "frames": n, "rows": rows}
    return {"clips": clips_out, "factors": list(factors), "blackout_s": blackout_s, "total": total(clips_out)}


def total(clips: dict) -> list[dict]:
    """A row per factor and mode summed over the clips; a "counts = scaled" row counts for both
    modes, and a factor whose every clip played once gives one "counts = scaled" row."""
    out = []
    factors = list(dict.fromkeys(r["factor"] for c in clips.values() for r in c["rows"]))
    for factor in factors:
        rows = [r for c in clips.values() for r in c["rows"] if r["factor"] == factor]
        modes = ["counts = scaled"] if all(r["mode"] == "counts = scaled" for r in rows) else list(MODES)
        for mode in modes:
            sel = [r for r in rows if r["mode"] in (mode, "counts = scaled")]
            t = {"factor": factor, "mode": mode, "clips": len(sel)}
            for k in ("frames", "seconds", "hands", "tracks", "side_changes", "young_side_changes", "detector_calls"):
                t[k] = sum(r[k] for r in sel)
            t["hands_per_frame"] = t["hands"] / t["frames"] if t["frames"] else float("nan")
            t["detector_per_s"] = t["detector_calls"] / t["seconds"] if t["seconds"] else float("nan")
            if sel and all("before" in r for r in sel):
                t.update(black_frames=sum(r["black_frames"] for r in sel), before=sum(r["before"] for r in sel),
                         back=sum(r["back"] for r in sel))
            out.append(t)
    return out


def table(rows: list[dict], blackout_s: float) -> str:
    """A markdown table of result rows (:func:`run`)."""
    gap = blackout_s > 0
    head = "| factor | fps | options | hands/frame | tracks | side changes | detector runs/s |"
    head += f" {blackout_s:g} s blackout: black frames, hands before -> back with id |" if gap else ""
    lines = [head, "|" + "---|" * (7 + gap)]
    for r in rows:
        fps = f"{r['rate']:.1f}" if "rate" in r else f"x{r['factor']:g}"
        line = (f"| {r['factor']:g} | {fps} | {r['mode']} | {r['hands_per_frame']:.3f} | {r['tracks']} | "
                f"{r['side_changes']} | {r['detector_per_s']:.1f} |")
        if gap:
            line += f" {r['black_frames']}, {r['before']} -> {r['back']} |" if "before" in r else " - |"
        lines.append(line)
    return "\n".join(lines)


def markdown(res: dict) -> str:
    """The tables of :func:`run`'s result: one per clip, then the totals."""
    parts = [f"### {name} ({c['fps']:.2f} fps, {c['frames']} frames)\n\n{table(c['rows'], res['blackout_s'])}"
             for name, c in res["clips"].items()]
    parts.append(f"### total ({len(res['clips'])} clips)\n\n{table(res['total'], res['blackout_s'])}")
    return "\n\n".join(parts) + "\n"


def write(res: dict, folder: Path, command: str) -> None:
    """frame_rate.json and frame_rate.md into ``folder``."""
    from .run import write_json
    write_json(folder / "frame_rate.json", res)
    (folder / "frame_rate.md").write_text(f"# Frame rates (`{command}`)\n\n{markdown(res)}", encoding="utf-8")
