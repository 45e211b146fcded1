"""Temporal metrics of ``../shared/keypoints.md`` (numpy only): jitter, lag, swaps, re-acquisition.

Tracks are arrays over frames, ``(T, K, 2)`` pixels (or ``(T, ..., 2)``, flattened to keypoints),
with NaN where the method reported nothing for that hand. One track follows one *physical* hand
(the ground-truth hand that the predictions were matched to, see :func:`align`).

- jitter = mean |x(t+1) - 2x(t) + x(t-1)| / palm size over frames where the true hand is still
  (the ground truth did not move from t-1 to t+1) and the method reported the hand at all three;
- lag = the delay d (frames) that minimises the mean squared distance between the prediction at t
  and the truth at t-d over frames where the true hand moves (only keypoints in view at every
  t-d compared), refined below a frame by a parabola through the three values around the
  minimum (positive: the track is late);
- swaps = changes of the reported side, or of the track id while the hand stayed in view;
- re-acquisition = frames from a hand (re)appearing (present again after at least 5 frames away;
  on the motion clips present = at least 12 of its 17 keypoints in view and uncovered) until the
  method reports it.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tracker.keypoints import palm_size

from .matching import MAX_COST, match_hands


#: ground-truth speed bins (mean keypoint px/frame at 640x480) for the error-by-speed table
SPEED_BINS = {"still": (0.0, 0.05), "slow (<3 px/f)": (0.05, 3.0), "medium (3-8)": (3.0, 8.0),
              "fast (>=8)": (8.0, np.inf)}


def _flat(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float64)
    return x.reshape(x.shape[0], -1, 2)


def still_mask(gt: np.ndarray, tol: float = 1e-3) -> np.ndarray:
    """(T,) True at frames t whose ground truth is identical (within ``tol`` px) at t-1, t, t+1."""
    g = _flat(gt)
    t = len(g)
    out = np.zeros(t, bool)
    if t < 3:
        return out
    step = np.nanmax(np.linalg.norm(np.diff(g, axis=0), axis=-1), axis=1)  # (T-1,)
    step = np.where(np.isfinite(step), step, np.inf)
    out[1:-1] = (step[:-1] <= tol) & (step[1:] <= tol)
    return out


def speed(gt: np.ndarray) -> np.ndarray:
    """(T,) mean keypoint speed of the ground truth, px/frame (central difference)."""
    g = _flat(gt)
    v = np.gradient(g, axis=0) if len(g) > 1 else np.zeros_like(g)
    return np.nanmean(np.linalg.norm(v, axis=-1), axis=1)


def moving_mask(gt: np.ndarray, min_speed: float = 1.0) -> np.ndarray:
    """(T,) True where the ground truth moves at least ``min_speed`` px/frame on average."""
    s = speed(gt)
    return np.where(np.isfinite(s), s, 0) >= min_speed


def jitter_per_frame(track: np.ndarray, still: np.ndarray, norm: np.ndarray,
                     visible: np.ndarray | None = None) -> np.ndarray:
    """(T,) mean |x(t+1)-2x(t)+x(t-1)| / norm(t) over keypoints; NaN where not measurable.

    Args:
        track: (T, K, 2) predictions (NaN = not reported). still: (T,) frames where the truth is
            still. norm: (T,) palm size (pixels) of the truth. visible: optional (T, K) mask of
            keypoints to count (e.g. inside the frame).
    """
    x = _flat(track)
    t_len, k = x.shape[:2]
    out = np.full(t_len, np.nan)
    if t_len < 3:
        return out
    d2 = np.linalg.norm(x[2:] - 2 * x[1:-1] + x[:-2], axis=-1)  # (T-2, K) for centre frames 1..T-2
    ok = np.isfinite(d2)
    if visible is not None:
        v = np.asarray(visible).reshape(t_len, -1) > 0
        ok &= v[1:-1] & v[:-2] & v[2:]
    ok &= np.asarray(still, bool)[1:-1, None]
    cnt = ok.sum(1)
    s = np.where(ok, d2, 0).sum(1)
    n = np.asarray(norm, np.float64)[1:-1]
    vals = np.where(cnt > 0, s / np.maximum(cnt, 1) / np.where(n > 0, n, np.nan), np.nan)
    out[1:-1] = vals
    return out


def jitter(track: np.ndarray, still: np.ndarray, norm: np.ndarray,
           visible: np.ndarray | None = None) -> float:
    """Mean second-difference magnitude / palm size over still frames (NaN when none)."""
    j = jitter_per_frame(track, still, norm, visible)
    j = j[np.isfinite(j)]
    return float(j.mean()) if j.size else float("nan")


@dataclass
class LagResult:
    """Best-aligning delay. ``lag`` in frames (sub-frame), ``curve`` maps integer delay -> MSE."""

    lag: float
    curve: dict[int, float] = field(default_factory=dict)
    frames: int = 0


def lag(pred: np.ndarray, gt: np.ndarray, moving: np.ndarray, max_lag: int = 8,
        subframe: bool = True, visible: np.ndarray | None = None) -> LagResult:
    """Delay (frames) that best aligns ``pred`` with ``gt`` during motion.

    For each integer d in [-max_lag, max_lag] the mean squared keypoint distance between pred(t)
    and gt(t-d) is taken over the same set of keypoints and frames t (moving, reported, with t-d
    inside the clip for every d and, when ``visible`` is given, the keypoint visible at every
    t-d); the minimum is refined with a parabola through its neighbours.

    Args:
        visible: optional (T, K) mask of the keypoints the truth shows (inside the frame,
            uncovered). A tracker can only guess the others, and their squared errors would
            otherwise pull the delay towards wherever its guesses happen to fit best.
    """
    p, g = _flat(pred), _flat(gt)
    t_len = len(p)
    mv = np.asarray(moving, bool).copy()
    mv[:max_lag] = False
    if max_lag:
        mv[t_len - max_lag:] = False
    ok = mv[:, None] & np.all(np.isfinite(p), axis=-1)  # (T, K)
    vis = None if visible is None else np.asarray(visible).reshape(t_len, -1) > 0
    for d in range(-max_lag, max_lag + 1):
        gs = np.roll(g, d, axis=0)  # gs[t] = g[t-d]
        ok &= np.all(np.isfinite(gs), axis=-1)
        if vis is not None:
            ok &= np.roll(vis, d, axis=0)
    n = int(ok.any(axis=1).sum())
    if not ok.any():
        return LagResult(float("nan"), {}, 0)
    curve = {}
    for d in range(-max_lag, max_lag + 1):
        gs = np.roll(g, d, axis=0)
        e = np.sum((p - gs) ** 2, axis=-1)
        curve[d] = float(e[ok].mean())
    ds = np.array(sorted(curve))
    es = np.array([curve[d] for d in ds])
    i = int(np.argmin(es))
    best = float(ds[i])
    if subframe and 0 < i < len(ds) - 1:
        a, b, c = es[i - 1], es[i], es[i + 1]
        den = a - 2 * b + c
        if den > 0:
            best += float(np.clip(0.5 * (a - c) / den, -0.5, 0.5))
    return LagResult(best, curve, n)


@dataclass
class SwapCount:
    side: int = 0
    track_id: int = 0
    #: the index (into the ``sides`` given) of each side change counted in ``side``
    side_at: list[int] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.side + self.track_id


def count_swaps(sides, track_ids=None, present=None) -> SwapCount:
    """Identity swaps of one physical hand.

    Args:
        sides: (T,) reported side per frame ("left"/"right"; None or "" where not reported).
        track_ids: (T,) reported track id (None / negative where not reported or unknown).
        present: (T,) the hand is in view; a track id change is counted only when the hand stayed
            in view since its previous report (a hand that left may come back with a new id).
            Side changes are always counted: a physical hand has one side.
    """
    t_len = len(sides)
    pres = np.ones(t_len, bool) if present is None else np.asarray(present, bool)
    out = SwapCount()
    last_side, last_id, last_t = None, None, None
    for t in range(t_len):
        s = sides[t]
        s = s if s in ("left", "right") else None
        tid = None if track_ids is None else track_ids[t]
        tid = None if tid is None or (isinstance(tid, (int, np.integer)) and tid < 0) else int(tid)
        if s is None and tid is None:
            continue
        if s is not None:
            if last_side is not None and s != last_side:
                out.side += 1
                out.side_at.append(t)
            last_side = s
        if tid is not None:
            if last_id is not None and tid != last_id and pres[last_t:t + 1].all():
                out.track_id += 1
            last_id, last_t = tid, t
    return out


def per_minute(count: float, frames: int, fps: float) -> float:
    minutes = frames / fps / 60.0
    return float(count / minutes) if minutes > 0 else float("nan")


def reacquisition(present: np.ndarray, reported: np.ndarray, min_absent: int = 5,
                  include_start: bool = False) -> list[float]:
    """Frames from each (re)appearance of a hand until the method reports it.

    An appearance is a frame where ``present`` turns True after at least ``min_absent`` frames
    without it (and, with ``include_start``, the first frame of the clip if present). The time is
    ``inf`` when the hand leaves again (or the clip ends) before it is reported.
    """
    pres = np.asarray(present, bool)
    rep = np.asarray(reported, bool)
    out = []
    absent = min_absent if include_start else 0
    t_len = len(pres)
    for t in range(t_len):
        if not pres[t]:
            absent += 1
            continue
        if absent >= min_absent and (t > 0 or include_start):
            end = t
            while end < t_len and pres[end]:
                end += 1
            hits = np.flatnonzero(rep[t:end])
            out.append(float(hits[0]) if hits.size else float("inf"))
        absent = 0
    return out


# ---------------------------------------------------------------------------------------------
# Predictions of a method on a clip -> per-physical-hand tracks


@dataclass
class PredHand:
    """One hand as a method reported it (method-independent form)."""

    keypoints: np.ndarray  # (17, 2) pixels
    side: str | None = None
    track_id: int | None = None
    score: float = 1.0


@dataclass
class Tracks:
    """Predictions aligned to the ground-truth hands of a clip: arrays (T, H, ...)."""

    keypoints: np.ndarray  # (T, H, 17, 2), NaN where not matched
    sides: np.ndarray  # (T, H) object: side or None
    track_ids: np.ndarray  # (T, H) int, -1 where not matched / unknown
    false_positives: np.ndarray  # (T,) predicted hands matched to no ground-truth hand


def align(preds: list[list[PredHand]], gt: np.ndarray, gt_visible: np.ndarray,
          max_cost: float = MAX_COST) -> Tracks:
    """Match each frame's predicted hands to the ground-truth hands (T, H, 17, 2).

    Ground-truth hands with fewer than 3 visible keypoints cannot be matched. The normaliser is the
    size of the full ground-truth hand (all 17 points, also those outside the frame).
    """
    gt = np.asarray(gt, np.float64)
    t_len, h = gt.shape[:2]
    kps = np.full((t_len, h, 17, 2), np.nan)
    sides = np.full((t_len, h), None, object)
    ids = np.full((t_len, h), -1, np.int64)
    fp = np.zeros(t_len, np.int64)
    for t in range(t_len):
        hs = preds[t]
        cand = [j for j in range(h) if (np.asarray(gt_visible[t, j]) > 0).sum() >= 3]
        pairs = match_hands([p.keypoints for p in hs], [gt[t, j] for j in cand],
                            [gt_visible[t, j] for j in cand],
                            [hand_size_full(gt[t, j]) for j in cand], max_cost)
        for i, jj in pairs:
            j = cand[jj]
            kps[t, j] = hs[i].keypoints
            sides[t, j] = hs[i].side
            ids[t, j] = -1 if hs[i].track_id is None else int(hs[i].track_id)
        fp[t] = len(hs) - len(pairs)
    return Tracks(kps, sides, ids, fp)


def hand_size_full(kps: np.ndarray) -> float:
    k = np.asarray(kps, np.float64)
    return max(float((k.max(0) - k.min(0)).max()), 1.0)


def summarize(tracks: Tracks, gt: np.ndarray, gt_visible: np.ndarray, present: np.ndarray,
              true_sides: list[str] | None, fps: float, max_lag: int = 8,
              min_speed: float = 1.0) -> dict:
    """All temporal figures of one method on one clip (see the module docstring).

    Returns a dict: jitter, lag, lag_curve, side_swaps, id_swaps, swaps_per_min, reacq_frames
    (list), found_rate, side_accuracy, nme_moving, pck10_moving, false_pos_per_frame, plus the
    frame counts behind them.
    """
    gt = np.asarray(gt, np.float64)
    t_len, h = gt.shape[:2]
    vis = np.asarray(gt_visible) > 0
    pres = np.asarray(present, bool)
    jit_vals = []
    side_sw = id_sw = 0
    reacq = []
    found = side_ok = side_n = 0
    nme_vals, pck_hits, pck_n = [], 0, 0
    # by ground-truth speed: {bin: [present frames, found frames, nme sum, nme count]}
    by_speed = {b: [0, 0, 0.0, 0] for b in SPEED_BINS}
    lag_curve_sum: dict[int, float] = {}
    lag_frames = 0
    still_frames = moving_frames = 0
    for j in range(h):
        g, p = gt[:, j], tracks.keypoints[:, j]
        palm = palm_size(g).astype(np.float64)
        st = still_mask(g) & pres[:, j]
        mv = moving_mask(g, min_speed) & pres[:, j]
        still_frames += int(st.sum())
        moving_frames += int(mv.sum())
        jpf = jitter_per_frame(p, st, palm, vis[:, j])
        jit_vals.extend(jpf[np.isfinite(jpf)].tolist())
        lr = lag(p, g, mv, max_lag, visible=vis[:, j])
        if lr.frames:
            for d, e in lr.curve.items():
                lag_curve_sum[d] = lag_curve_sum.get(d, 0.0) + e * lr.frames
            lag_frames += lr.frames
        sw = count_swaps(tracks.sides[:, j], tracks.track_ids[:, j], pres[:, j])
        side_sw += sw.side
        id_sw += sw.track_id
        rep = np.all(np.isfinite(p), axis=(1, 2))
        reacq.extend(reacquisition(pres[:, j], rep))
        found += int((rep & pres[:, j]).sum())
        if true_sides is not None and true_sides[j] in ("left", "right"):
            m = rep & pres[:, j]
            side_n += int(m.sum())
            side_ok += int(sum(tracks.sides[t, j] == true_sides[j] for t in np.flatnonzero(m)))
        # error while moving, on visible keypoints of reported frames
        m = mv & rep
        if m.any():
            err = np.linalg.norm(p[m] - g[m], axis=-1)  # (n, 17)
            vv = vis[m, j]
            nme_vals.extend((err / palm[m, None])[vv].tolist())
            size = np.array([hand_size_full(x) for x in g[m]])
            pck_hits += int(((err / size[:, None]) < 0.1)[vv].sum())
        pck_n += int(vis[mv, j].sum())  # unreported moving frames count as misses
        spd = speed(g)
        for b, (lo, hi) in SPEED_BINS.items():
            inb = pres[:, j] & (spd >= lo) & (spd < hi)
            acc = by_speed[b]
            acc[0] += int(inb.sum())
            acc[1] += int((inb & rep).sum())
            m2 = inb & rep
            if m2.any():
                e2 = (np.linalg.norm(p[m2] - g[m2], axis=-1) / palm[m2, None])[vis[m2, j]]
                acc[2] += float(e2.sum())
                acc[3] += int(e2.size)
    n_pres = int(pres.sum())
    curve = {d: e / lag_frames for d, e in sorted(lag_curve_sum.items())} if lag_frames else {}
    lag_val = _parabola_min(curve)
    finite_re = [r for r in reacq if np.isfinite(r)]
    return {
        "jitter": float(np.mean(jit_vals)) if jit_vals else float("nan"),
        "jitter_frames": len(jit_vals),
        "still_frames": still_frames,
        "lag": lag_val,
        "lag_curve": curve,
        "lag_frames": lag_frames,
        "moving_frames": moving_frames,
        "side_swaps": side_sw,
        "id_swaps": id_sw,
        "swaps_per_min": per_minute(side_sw + id_sw, t_len, fps),
        "reacq_frames": reacq,
        "reacq_mean_frames": float(np.mean(finite_re)) if finite_re else float("nan"),
        "reacq_missed": int(sum(not np.isfinite(r) for r in reacq)),
        "found_rate": found / n_pres if n_pres else float("nan"),
        "side_accuracy": side_ok / side_n if side_n else float("nan"),
        "nme_moving": float(np.mean(nme_vals)) if nme_vals else float("nan"),
        "pck10_moving": pck_hits / pck_n if pck_n else float("nan"),
        "false_pos_per_frame": float(tracks.false_positives.mean()) if t_len else float("nan"),
        "frames": t_len,
        "minutes": t_len / fps / 60.0,
        "present_frames": n_pres,
        "found_frames": found,
        "side_frames": side_n,
        "side_ok": side_ok,
        "nme_count": len(nme_vals),
        "pck_hits": pck_hits,
        "pck_n": pck_n,
        "false_pos": int(tracks.false_positives.sum()),
        "by_speed": by_speed,
    }


def by_speed_table(by_speed: dict) -> dict[str, dict]:
    """{bin: {"frames", "found_rate", "nme"}} from the accumulators of :func:`summarize`."""
    out = {}
    for b, (n, f, es, ec) in by_speed.items():
        out[b] = {"frames": n, "found_rate": f / n if n else float("nan"),
                  "nme": es / ec if ec else float("nan")}
    return out


def _parabola_min(curve: dict[int, float]) -> float:
    if not curve:
        return float("nan")
    ds = np.array(sorted(curve))
    es = np.array([curve[d] for d in ds])
    i = int(np.argmin(es))
    best = float(ds[i])
    if 0 < i < len(ds) - 1:
        a, b, c = es[i - 1], es[i], es[i + 1]
        den = a - 2 * b + c
        if den > 0:
            best += float(np.clip(0.5 * (a - c) / den, -0.5, 0.5))
    return best


def combine(summaries: list[dict]) -> dict:
    """Pool the :func:`summarize` results of several clips (frame-weighted, counts summed)."""
    s = [x for x in summaries if x]
    if not s:
        return {}

    def wmean(key, wkey):
        w = np.array([x[wkey] for x in s], np.float64)
        v = np.array([x[key] for x in s], np.float64)
        ok = np.isfinite(v) & (w > 0)
        return float((v[ok] * w[ok]).sum() / w[ok].sum()) if ok.any() else float("nan")

    lag_frames = sum(x["lag_frames"] for x in s)
    curve: dict[int, float] = {}
    for x in s:
        for d, e in x["lag_curve"].items():
            curve[int(d)] = curve.get(int(d), 0.0) + e * x["lag_frames"] / max(lag_frames, 1)
    minutes = sum(x["minutes"] for x in s)
    side_sw = sum(x["side_swaps"] for x in s)
    id_sw = sum(x["id_swaps"] for x in s)
    reacq = [r for x in s for r in x["reacq_frames"]]
    fin = [r for r in reacq if np.isfinite(r)]
    pres = sum(x["present_frames"] for x in s)
    side_n = sum(x["side_frames"] for x in s)
    pck_n = sum(x["pck_n"] for x in s)
    frames = sum(x["frames"] for x in s)
    return {
        "jitter": wmean("jitter", "jitter_frames"),
        "jitter_frames": sum(x["jitter_frames"] for x in s),
        "still_frames": sum(x["still_frames"] for x in s),
        "lag": _parabola_min(curve) if lag_frames else float("nan"),
        "lag_curve": dict(sorted(curve.items())),
        "lag_frames": lag_frames,
        "moving_frames": sum(x["moving_frames"] for x in s),
        "side_swaps": side_sw,
        "id_swaps": id_sw,
        "swaps_per_min": float((side_sw + id_sw) / minutes) if minutes > 0 else float("nan"),
        "reacq_frames": reacq,
        "reacq_mean_frames": float(np.mean(fin)) if fin else float("nan"),
        "reacq_missed": int(sum(not np.isfinite(r) for r in reacq)),
        "found_rate": sum(x["found_frames"] for x in s) / pres if pres else float("nan"),
        "side_accuracy": sum(x["side_ok"] for x in s) / side_n if side_n else float("nan"),
        "nme_moving": wmean("nme_moving", "nme_count"),
        "pck10_moving": sum(x["pck_hits"] for x in s) / pck_n if pck_n else float("nan"),
        "false_pos_per_frame": sum(x["false_pos"] for x in s) / frames if frames else float("nan"),
        "frames": frames,
        "minutes": minutes,
        "present_frames": pres,
        "found_frames": sum(x["found_frames"] for x in s),
        "side_frames": side_n,
        "side_ok": sum(x["side_ok"] for x in s),
        "nme_count": sum(x["nme_count"] for x in s),
        "pck_hits": sum(x["pck_hits"] for x in s),
        "pck_n": pck_n,
        "false_pos": sum(x["false_pos"] for x in s),
        "by_speed": {b: [sum(x["by_speed"][b][k] for x in s if "by_speed" in x) for k in range(4)]
                     for b in SPEED_BINS},
    }
