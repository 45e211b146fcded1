"""The one benchmark command: accuracy, motion (raw vs smoothed), real videos (side stability), speed,
MediaPipe side by side.

``python -m bench --shared ../shared --out docs/bench`` writes ``REPORT.md``, ``results.json``,
``TABLE.md`` (the headline table, for the README) and PNG plots into ``--out``. Figures are logged
as they come; the CLI prints the headline table at the end.
"""
from __future__ import annotations

import json
import logging
import math
import os
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import accuracy, motion, speed, temporal, videos
from .methods import MediaPipeMethod, TrackerMethod
from .perturb import add_output_noise

log = logging.getLogger(__name__)

PARTS = ("accuracy", "motion", "videos", "speed")
#: how the motion views are named in tables and plots
DISPLAY = {"smoothed": "handtrack smoothed", "raw": "handtrack raw", "mediapipe": "mediapipe",
           "oracle smoothed": "handtrack smoothed, GT detections",
           "oracle raw": "handtrack raw, GT detections"}


@dataclass
class BenchConfig:
    """What to run. Defaults are sized to finish in well under 15 minutes on 2 busy cores."""

    shared: Path
    out: Path
    parts: tuple[str, ...] = PARTS
    accuracy_images: int | None = 2500
    motion_clips: int = 6  # alternately 1 and 2 hands
    motion_frames: int = 300
    speed_frames: int = 40  # per video and size
    speed_background: int = 20
    speed_sizes: tuple = speed.SIZES
    speed_threads: tuple = speed.THREADS
    videos: list[Path] | None = None  # default: all of <shared>/videos/*.mp4 (speed and videos parts)
    video_frames: int | None = None  # frames per video for the videos part (None: all)
    seed: int = 0
    threads: int = 2  # tracker threads for accuracy and motion
    mediapipe: bool = True
    mp_venv: Path | None = None
    create_venv: bool = True
    tracker_options: dict = field(default_factory=dict)
    #: callable(**options) -> tracker object (HandTracker API); default: the real HandTracker
    tracker_factory: object = None
    plots: bool = True
    #: also run the motion clips with detections made from the ground truth (isolates the
    #: landmark model, association and smoothing from the detector)
    oracle_detector: bool = True
    #: relative noise on every network output of the trackers built (bench/perturb.py; 0: none)
    #: and the seed of its generators: swap counts that move by more than the noise moves them
    output_noise: float = 0.0
    noise_seed: int = 0


def fmt_figure(v, nd=3) -> str:
    """One figure as report text: ``nd`` decimals for floats, integers as they are, ``-`` for
    None (not measured), ``n/a`` for NaN (no data) and ``inf``/``-inf``. Shared by the report and
    the subcommands' tables (robustness, soak)."""
    if v is None:
        return "-"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)) and not math.isfinite(v):
        return "n/a" if math.isnan(v) else ("inf" if v > 0 else "-inf")
    return f"{v:.{nd}f}"


def _table(headers: list[str], rows: list[list]) -> str:
    out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


class Bench:
    def __init__(self, cfg: BenchConfig):
        self.cfg = cfg
        self.results: dict = {"config": {}, "notes": []}
        self.mp_venv = None
        self.tracker_error = None
        self._example = None

    # -- methods -------------------------------------------------------------------------------
    def tracker(self, static: bool, threads: int | None = None, time_stages: bool = False,
                detector=None, prefix: str = ""):
        # threads=0 is the tracker's to refuse, not a cue for the default
        opts = dict(max_hands=2, static_image_mode=static,
                    threads=self.cfg.threads if threads is None else threads)
        opts.update(self.cfg.tracker_options)
        if detector is not None:  # ground-truth boxes: no detector passes to add
            opts["detector"] = detector
            opts.pop("small_hands", None)
            opts.pop("large_hands", None)
        if self.cfg.tracker_factory is not None:
            method = TrackerMethod(self.cfg.tracker_factory(**opts), time_stages=time_stages, prefix=prefix)
        else:
            method = TrackerMethod(time_stages=time_stages, prefix=prefix, **opts)
        if self.cfg.output_noise:
            add_output_noise(method.tracker, self.cfg.output_noise, self.cfg.noise_seed)
        return method

    def try_tracker(self, static: bool, **kw):
        try:
            return self.tracker(static, **kw)
        except Exception as e:  # noqa: BLE001 - report and go on with the other method
            if self.tracker_error is None:
                self.tracker_error = f"{type(e).__name__}: {e}"
                log.error("handtrack tracker unavailable (%s): its columns are skipped", self.tracker_error)
                self.note(f"handtrack tracker could not be created ({self.tracker_error}); its columns are empty.")
            return None

    def mediapipe(self, static: bool):
        if not self.cfg.mediapipe:
            return None
        if self.mp_venv is None:
            from .mediapipe_runner import ensure_venv
            self.mp_venv = ensure_venv(self.cfg.mp_venv, create=self.cfg.create_venv) or False
            if not self.mp_venv:
                self.note("MediaPipe venv unavailable: MediaPipe columns skipped (see the log).")
        if not self.mp_venv:
            return None
        try:
            return MediaPipeMethod(self.mp_venv, static_image_mode=static, max_hands=2)
        except Exception as e:  # noqa: BLE001
            log.error("MediaPipe runner failed to start (%s): MediaPipe columns skipped", e)
            self.note(f"MediaPipe runner failed to start ({e}).")
            self.mp_venv = False
            return None

    def note(self, text: str):
        if text not in self.results["notes"]:
            self.results["notes"].append(text)

    # -- parts ---------------------------------------------------------------------------------
    def records(self):
        if not hasattr(self, "_records"):
            from train.data import load_records
            self._records = load_records(self.cfg.shared / "data" / "hands21", "val")
        return self._records

    def run_accuracy(self):
        cfg = self.cfg
        images = accuracy.select_images(self.records(), cfg.accuracy_images, cfg.seed, option="--accuracy-images")
        log.info("accuracy: %d photos, %d hands", len(images), sum(len(i.keypoints) for i in images))
        out = {}
        for name, kind, make in (("handtrack", "smoothed", lambda: self.try_tracker(True)),
                                 ("mediapipe", "mediapipe", lambda: self.mediapipe(True))):
            m = make()
            if m is None:
                continue
            try:
                t0 = time.perf_counter()
                out[name] = accuracy.summarize(accuracy.run(m, images, kind, label=name))
                out[name]["seconds"] = time.perf_counter() - t0
            finally:
                m.close()
            self._log_acc(name, out[name])
        self.results["accuracy"] = out

    @staticmethod
    def _log_acc(name, s):
        log.info("accuracy %s: PCK@0.05 %.3f @0.1 %.3f @0.2 %.3f AUC %.3f NME %.3f found %.3f "
                 "side %.3f (conf %.3f), %.1f ms/photo", name, s["pck@0.05"], s["pck@0.1"],
                 s["pck@0.2"], s["auc@0.2"], s["nme_palm"], s["found_rate"], s["handedness_acc"],
                 s["handedness_acc_conf"], s["ms_p50"])

    def clips(self):
        cfg = self.cfg
        recs = self.records()
        return [motion.make_clip(recs, seed=cfg.seed * 1000 + i, n_frames=cfg.motion_frames,
                                 n_hands=1 + i % 2) for i in range(cfg.motion_clips)]

    def run_motion(self):
        cfg = self.cfg
        clips = self.clips()
        methods = {}
        m = self.try_tracker(False)
        if m is not None:
            methods["handtrack"] = m
        oracle = None
        if cfg.oracle_detector and m is not None:
            oracle = OracleDetector()
            try:
                methods["oracle"] = self.tracker(False, detector=oracle, prefix="oracle ")
            except Exception as e:  # noqa: BLE001 - a tracker without the detector= hook
                log.warning("oracle-detector run unavailable: %s", e)
        mp = self.mediapipe(False)
        if mp is not None:
            methods["mediapipe"] = mp
        per_view: dict[str, list[dict]] = {}
        traces = []
        try:
            for ci, clip in enumerate(clips):
                t0 = time.perf_counter()
                preds: dict[str, list] = {}
                for meth in methods.values():
                    meth.reset()
                if oracle is not None:
                    oracle.clip = clip
                for t, frame in enumerate(clip.frames()):
                    ts = t * 1000.0 / clip.fps
                    if oracle is not None:
                        oracle.t = t
                    for meth in methods.values():
                        for view, hands in meth(frame, ts).views.items():
                            preds.setdefault(view, []).append(hands)
                tr_clip = {"gt": clip.keypoints[:, 0, 1].tolist(), "segments": clip.segments}
                for view, p in preds.items():
                    tracks = temporal.align(p, clip.keypoints, clip.visible)
                    s = temporal.summarize(tracks, clip.keypoints, clip.visible, clip.present,
                                           clip.sides, clip.fps)
                    per_view.setdefault(view, []).append(s)
                    tr_clip[view] = tracks.keypoints[:, 0, 1].tolist()
                    log.info("motion clip %d (%d hand%s) %s: jitter %s lag %s swaps %d/%d found %s",
                             ci, len(clip.sides), "s" if len(clip.sides) > 1 else "", view,
                             fmt_figure(s["jitter"], 4), fmt_figure(s["lag"], 2), s["side_swaps"], s["id_swaps"],
                             fmt_figure(s["found_rate"]))
                traces.append(tr_clip)
                if getattr(self, "_example", None) is None or (len(clip.sides) == 2
                                                                 and len(self._example[0].sides) < 2):
                    self._example = (clip, {v: preds[v] for v in ("smoothed", "mediapipe") if v in preds})
                log.info("motion clip %d done in %.1f s", ci, time.perf_counter() - t0)
        finally:
            for meth in methods.values():
                meth.close()
        out = {view: temporal.combine(ss) for view, ss in per_view.items()}
        out = {k: v for k, v in out.items() if v}
        self.results["motion"] = {
            "methods": out, "clips": len(clips), "frames": sum(len(c) for c in clips),
            "fps": clips[0].fps if clips else 30.0,
            "per_clip": {v: ss for v, ss in per_view.items()},
            "clip_hands": [len(c.sides) for c in clips],
        }
        self._traces = traces
        for view, s in out.items():
            log.info("motion %s: jitter %s lag %s frames, swaps/min %s, re-acq %s frames, found %s",
                     view, fmt_figure(s["jitter"], 4), fmt_figure(s["lag"], 2), fmt_figure(s["swaps_per_min"], 2),
                     fmt_figure(s["reacq_mean_frames"], 1), fmt_figure(s["found_rate"]))

    def video_files(self) -> list[Path]:
        cfg = self.cfg
        return list(cfg.videos) if cfg.videos is not None else sorted((cfg.shared / "videos").glob("*.mp4"))

    def run_videos(self):
        """Side stability on the real clips (no labels; :mod:`bench.videos`)."""
        methods = {}
        m = self.try_tracker(False)
        if m is not None:
            methods["handtrack"] = m
        mp = self.mediapipe(False)
        if mp is not None:
            methods["mediapipe"] = mp
        try:
            res = videos.run(self.video_files(), methods, self.cfg.video_frames)
        finally:
            for meth in methods.values():
                meth.close()
        self.results["videos"] = res
        for view, s in res["total"].items():
            log.info("videos %s: %d side changes (%.1f per minute) in %d tracks, side consistency %.3f",
                     view, s["side_changes"], s["side_changes_per_min"], s["tracks"], s["side_consistency"])

    def run_speed(self):
        cfg = self.cfg
        vids = self.video_files()
        probe = self.try_tracker(False)
        make = None
        if probe is not None:
            probe.close()
            make = lambda th: self.tracker(False, threads=th, time_stages=True)  # noqa: E731
        mp = self.mediapipe(False)
        stage_rows: list[dict] = []
        try:
            recs = speed.run(vids, make, mp, cfg.speed_sizes, cfg.speed_threads, cfg.speed_frames,
                             cfg.speed_background, stages=stage_rows)
        finally:
            if mp is not None:
                mp.close()
        self.results["speed"] = {"rows": speed.summarize(recs), "load_average": speed.load_average(),
                                 "videos": [v.name for v in vids], "stages": stage_rows}
        self._speed_records = recs

    # -- all -----------------------------------------------------------------------------------
    def run(self) -> dict:
        cfg = self.cfg
        cfg.out.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        self.results["config"] = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(cfg).items()
                                  if k not in ("tracker_factory", "videos")}
        self.results["config"]["tracker_factory"] = None if cfg.tracker_factory is None else repr(cfg.tracker_factory)
        self.results["machine"] = machine_info()
        for part in cfg.parts:
            tp = time.perf_counter()
            log.info("== %s ==", part)
            getattr(self, f"run_{part}")()
            self.results.setdefault("seconds", {})[part] = time.perf_counter() - tp
        self.results["seconds"]["total"] = time.perf_counter() - t0
        self.results["checks"] = issue_checks(self.results)
        write_report(self, cfg.out)
        return self.results


class OracleDetector:
    """A stand-in hand detector that "finds" each present ground-truth hand of a synthetic clip
    (tight box of its in-frame keypoints, wrist and middle MCP for the orientation). Set ``clip``
    and ``t`` before each frame. It sees every hand whichever way it points, so the ``turns`` a
    tracker asks for do not change what a look finds; with ``detector_turns`` 4 (video mode's
    default since session 66) the tracker looks on more frames, though (the turned looks between
    the back-off's runs)."""

    def __init__(self):
        self.clip = None
        self.t = 0

    def __call__(self, frame, score_threshold=None, max_detections=4, turns=(0,)):
        from tracker.detector import Detection
        out = []
        c = self.clip
        for j in range(len(c.sides)):
            if not c.present[self.t, j]:
                continue
            k = c.keypoints[self.t, j]
            v = c.visible[self.t, j]
            kv = k[v] if v.sum() >= 2 else k
            box = np.array([*kv.min(0), *kv.max(0)], np.float32)
            out.append(Detection(box, 0.9, k[0].astype(np.float32), k[8].astype(np.float32)))
        return out[:max_detections]

    def close(self):
        pass


def machine_info() -> dict:
    info = {"platform": platform.platform(), "python": platform.python_version(),
            "cpus": os.cpu_count(), "load_average_start": speed.load_average()}
    try:
        import onnxruntime
        info["onnxruntime"] = onnxruntime.__version__
    except ImportError:  # pragma: no cover
        pass
    import cv2
    info["opencv"] = cv2.__version__
    from tracker.backend import default_model_path
    for name in ("landmarks.onnx", "detector.onnx"):
        # the shipped models where the tracker loads them: assets/ of a clone, tracker/assets of
        # an install (root/assets there is no folder, and the report lost its model lines)
        p = default_model_path(name)
        if p.exists():
            st = p.stat()
            info[name] = {"bytes": st.st_size, "mtime": time.strftime("%Y-%m-%d %H:%M", time.localtime(st.st_mtime))}
    return info


def _met(value: float, ok) -> bool | None:
    """A check's outcome: None where its figure could not be measured (NaN: no still frames, a
    clip too short for the lag), which is neither met nor missed."""
    return None if isinstance(value, float) and math.isnan(value) else bool(ok)


def met_text(ok: bool | None, yes: str = "yes", no: str = "**no**") -> str:
    """How a check's outcome reads: ``yes``/``no``, or "n/a" for one not measured."""
    return "n/a" if ok is None else (yes if ok else no)


def issue_checks(results: dict) -> list[dict]:
    """Issue 5's motion targets: smoothed jitter <= 1/3 raw, lag <= 1 frame, zero side swaps;
    for the full tracker and for the run with ground-truth detections."""
    m = results.get("motion", {}).get("methods", {})
    out = []
    for prefix, who in (("", "handtrack"), ("oracle ", "handtrack, GT detections")):
        if prefix + "smoothed" not in m or prefix + "raw" not in m:
            continue
        sm, raw = m[prefix + "smoothed"], m[prefix + "raw"]
        found = sm.get("found_frames", 0) > 0
        ratio = sm["jitter"] / raw["jitter"] if raw["jitter"] and math.isfinite(raw["jitter"]) else float("nan")
        out += [
            {"who": who, "target": "still-hand jitter smoothed <= 1/3 of raw", "value": ratio,
             "limit": 1 / 3, "ok": _met(ratio, ratio <= 1 / 3),
             "text": f"smoothed/raw = {fmt_figure(ratio)} ({fmt_figure(sm['jitter'], 4)} / {fmt_figure(raw['jitter'], 4)})"},
            {"who": who, "target": "lag <= 1 frame", "value": sm["lag"], "limit": 1.0,
             "ok": _met(sm["lag"], sm["lag"] <= 1.0), "text": f"lag = {fmt_figure(sm['lag'], 2)} frames"},
            {"who": who, "target": "zero side swaps", "value": sm["side_swaps"], "limit": 0,
             "ok": bool(found and sm["side_swaps"] == 0),
             "text": (f"{sm['side_swaps']} side swaps, {sm['id_swaps']} id swaps" if found
                      else "no hand found")},
        ]
    return out


# ---------------------------------------------------------------------------------------------
# report


def headline(results: dict) -> str:
    """The short table for the README: one row per method."""
    acc = results.get("accuracy", {})
    mot = results.get("motion", {}).get("methods", {})
    rows_speed = results.get("speed", {}).get("rows", [])

    def sp(method, size="640x480", threads=2, hands=1):
        for r in rows_speed:
            if (r["method"] == method and r["size"] == size and r["frames"] == "all"
                    and r["hands"] == hands and (threads is None or r["threads"] == threads)):
                return r
        return None

    rows = []
    for name, view, th in (("handtrack", "smoothed", 2), ("mediapipe", "mediapipe", None)):
        a = acc.get(name, {})
        mv = mot.get(view, {})
        s = sp(name, threads=th)
        if not a and not mv and not s:
            continue
        rows.append([name, fmt_figure(a.get("pck@0.1")), fmt_figure(a.get("auc@0.2")), fmt_figure(a.get("found_rate")),
                     fmt_figure(a.get("handedness_acc")), fmt_figure(mv.get("jitter"), 4), fmt_figure(mv.get("lag"), 2),
                     fmt_figure(mv.get("swaps_per_min"), 1),
                     fmt_figure(s["p50"], 1) if s else "-", fmt_figure(s["p95"], 1) if s else "-"])
    return _table(["method", "PCK@0.1", "AUC@0.2", "found", "side acc", "jitter (still)",
                   "lag (frames)", "swaps/min", "p50 ms", "p95 ms"], rows) + (
        "\n\nAccuracy: hands21/val photos, static mode. Motion (jitter, lag, swaps): synthetic clips, "
        "smoothed track. Speed: 640x480 video frames with 1 hand reported, end to end, handtrack "
        "with 2 threads (MediaPipe: its default threads), detector and tracking frames together.")


def motion_clip_table(motion_results: dict) -> list[str]:
    """Report lines: PCK@0.1 on moving hands / found rate per synthetic clip for the smoothed
    views (handtrack, with ground-truth detections, MediaPipe). Averages hide a single clip where
    a track holds a wrong fit; a clip far below its ground-truth-detections column points at
    detection or tracking rather than the landmark model. [] without per-clip results."""
    pc = motion_results.get("per_clip") or {}
    views = [v for v in ("smoothed", "oracle smoothed", "mediapipe") if pc.get(v)]
    if not views:
        return []
    n = min(len(pc[v]) for v in views)
    hands = list(motion_results.get("clip_hands") or [])
    rows = [[str(i), str(hands[i]) if i < len(hands) else "?",
             *[f"{fmt_figure(pc[v][i].get('pck10_moving'))} / {fmt_figure(pc[v][i].get('found_rate'))}" for v in views]]
            for i in range(n)]
    return ["", "Per clip: PCK@0.1 on moving hands / found rate (a clip well below its GT-detections "
            "column: the detector or the tracker, not the landmark model, lost that hand).", "",
            _table(["clip", "hands", *[DISPLAY.get(v, v) for v in views]], rows)]


def write_report(bench: Bench, out: Path) -> None:
    r = bench.results
    plots = plot_all(bench, out) if bench.cfg.plots else {}
    L = ["# handtrack benchmark report", ""]
    mi = r["machine"]
    L.append(f"Generated {time.strftime('%Y-%m-%d %H:%M')} by `python -m bench` in "
             f"{r['seconds']['total']:.0f} s on {mi['platform']}, {mi['cpus']} CPUs, load average "
             f"{fmt_figure(mi['load_average_start'], 1)} at start (other jobs share the CPU: speed figures are "
             f"indicative). Python {mi['python']}, onnxruntime {mi.get('onnxruntime', '?')}, "
             f"OpenCV {mi['opencv']}.")
    chosen = {k: v for k, v in bench.cfg.tracker_options.items() if "model" in k}
    for name in ("landmarks.onnx", "detector.onnx"):
        if name in mi and not any(("landmark" if name.startswith("land") else "detector") in k
                                  for k in chosen):
            L.append(f"- assets/{name}: {mi[name]['bytes']} bytes, {mi[name]['mtime']}")
    for k, v in chosen.items():
        p = Path(v)
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(p.stat().st_mtime)) if p.exists() else "?"
        L.append(f"- {k}: {v} ({when})")
    if "flip_test" in bench.cfg.tracker_options:
        # on by default since session 70: the report names the setting only when it was given
        flip = bool(bench.cfg.tracker_options["flip_test"])
        L.append(f"- tracker option flip_test={flip} (each landmark crop {'also' if flip else 'not'} run mirrored)")
    if bench.cfg.output_noise:
        L.append(f"- network outputs multiplied by 1 + {bench.cfg.output_noise:g} N(0, 1), noise seed "
                 f"{bench.cfg.noise_seed} (`--output-noise`: float noise, bench/perturb.py)")
    for opt in ("min_detection_confidence", "detector_interval", "refine_score", "min_crop_palms", "crop_hold",
                "side_wait"):
        if bench.cfg.tracker_options.get(opt) is not None:
            L.append(f"- tracker option {opt}={bench.cfg.tracker_options[opt]}")
    for opt in ("side_lock", "low_detection_confidence", "small_hands", "large_hands"):
        if opt in bench.cfg.tracker_options:
            L.append(f"- tracker option {opt}={bench.cfg.tracker_options[opt]}")
    L.append(f"- parts: {', '.join(f'{k} {v:.0f} s' for k, v in r['seconds'].items())}")
    for n in r.get("notes", []):
        L.append(f"- note: {n}")
    L += ["", "## Headline", "", headline(r), ""]
    L += [f"- {x}" for x in ratio_lines(r)]
    L.append("")
    if r.get("checks"):
        L += ["### Issue 5 targets (motion benchmark, smoothed track)", ""]
        L.append(_table(["tracker", "target", "result", "met"],
                        [[c["who"], c["target"], c["text"], met_text(c["ok"])]
                         for c in r["checks"]]))
        L.append("")
    if "accuracy" in r:
        a = r["accuracy"]
        L += ["## Accuracy: hands21/val full photos, static-image mode", "",
              f"{next(iter(a.values()))['images'] if a else 0} photos (a seeded random subset of the val "
              "photos, `--accuracy-images`), every labelled hand; detector + landmarks on the "
              "whole 224x224 photo. Predictions matched to labelled hands by mean keypoint distance "
              "(< 0.5 x hand box); a missed hand counts as wrong at every keypoint. Handedness "
              "accuracy over found hands with a label; `conf` = labels with score >= 0.9.", ""]
        keys = ["pck@0.05", "pck@0.1", "pck@0.2", "auc@0.2", "nme_palm", "found_rate",
                "handedness_acc", "handedness_acc_conf", "false_pos_per_image", "ms_p50"]
        L.append(_table(["method", *keys],
                        [[m, *[fmt_figure(s[k]) for k in keys]] for m, s in a.items()]))
        if "handtrack" in a and "mediapipe" in a:
            L += ["", f"Ratios handtrack / MediaPipe: PCK@0.1 {fmt_figure(a['handtrack']['pck@0.1'] / max(a['mediapipe']['pck@0.1'], 1e-9))}, "
                  f"found {fmt_figure(a['handtrack']['found_rate'] / max(a['mediapipe']['found_rate'], 1e-9))}."]
        L += ["", "hands21 labels were made by MediaPipe 0.10.21 itself, so MediaPipe's row measures "
              "agreement with its own output (an upper reference), not independent accuracy. "
              "PCK is normalised by the longest side of the annotation's own hand box (all 21 visible "
              "points); NME's palm size uses visible points only (hands with no visible palm pair are "
              "left out of NME).", ""]
        if "pck" in plots:
            L += [f"![PCK curves]({plots['pck']})", ""]
    if "motion" in r:
        mo = r["motion"]
        L += ["## Motion benchmark: synthetic clips with ground truth", "",
              f"{mo['clips']} clips, {mo['frames']} frames at {mo['fps']:.0f} fps, 640x480 (hands cut "
              "from hands21/val photos moved by smooth random camera and hand motion: still, slow, "
              "medium, fast; hands leaving and re-entering; two hands crossing; motion blur, sensor "
              "noise, JPEG). `raw` = landmark model output, `smoothed` = the tracker's keypoints. "
              "`GT detections`: the same tracker with its detector replaced by one that reports each "
              "visible ground-truth hand (its box); it isolates landmarks, association and smoothing "
              "from the detector. In `example.png`: truth white, handtrack smoothed orange (left) / "
              "blue (right), MediaPipe magenta. Caveat: pasted hand photos on textures resemble the "
              "detector's composed training scenes (train/scenes.py), so detection here is easier than "
              "on real video; the shared videos (no labels) are used for side stability and speed below. The clips' keypoints "
              "come from MediaPipe's own hands21 labels, so MediaPipe is again measured against itself.", "",
              "jitter = mean |x(t+1)-2x(t)+x(t-1)| / palm size on still frames; lag = delay (frames, "
              "sub-frame by parabola) that best aligns the track with the truth on moving frames; "
              "swaps = side changes of one physical hand, plus track-id changes while it stayed in "
              "view (MediaPipe has no track ids); re-acq = frames from a hand coming back into view "
              "until it is reported.", ""]
        keys = ["jitter", "lag", "side_swaps", "id_swaps", "swaps_per_min", "reacq_mean_frames",
                "reacq_missed", "found_rate", "side_accuracy", "nme_moving", "pck10_moving",
                "false_pos_per_frame"]
        nd = {"jitter": 4, "lag": 2, "swaps_per_min": 2, "reacq_mean_frames": 1}
        L.append(_table(["track", *keys],
                        [[DISPLAY.get(m, m), *[fmt_figure(s[k], nd.get(k, 3)) for k in keys]]
                         for m, s in mo["methods"].items()]))
        ms = mo["methods"]
        bs = {m: temporal.by_speed_table(x["by_speed"]) for m, x in ms.items() if "by_speed" in x}
        if bs:
            bins = list(temporal.SPEED_BINS)
            L += ["", "By ground-truth speed (present hands): NME (palm) of reported hands / found rate.", ""]
            L.append(_table(["track", *bins],
                            [[DISPLAY.get(m, m), *[f"{fmt_figure(t[b]['nme'])} / {fmt_figure(t[b]['found_rate'])}" for b in bins]]
                             for m, t in bs.items()]))
            first = next(iter(bs.values()))
            L.append("\nframes per bin (hand-frames): " + ", ".join(f"{b} {first[b]['frames']}" for b in bins))
        L += motion_clip_table(r["motion"])
        if "raw" in ms and "smoothed" in ms:
            L += ["", f"Smoothed / raw jitter: {fmt_figure(ms['smoothed']['jitter'] / ms['raw']['jitter'] if ms['raw']['jitter'] else float('nan'))}."]
        if "smoothed" in ms and "mediapipe" in ms:
            L += [f"handtrack smoothed / MediaPipe: jitter {fmt_figure(ms['smoothed']['jitter'] / ms['mediapipe']['jitter'] if ms['mediapipe']['jitter'] else float('nan'))}, "
                  f"found {fmt_figure(ms['smoothed']['found_rate'] / max(ms['mediapipe']['found_rate'], 1e-9))}."]
        L.append("")
        for k in ("example", "jitter_lag", "lag_curves", "trace"):
            if k in plots:
                L += [f"![{k}]({plots[k]})", ""]
    if "videos" in r:
        L += videos_section(r["videos"])
    if "speed" in r:
        sp = r["speed"]
        L += ["## Speed", "",
              f"End-to-end `process()` time per frame (ms) on {len(sp['videos'])} shared videos "
              "(scaled and centre-cropped to the size) plus hand-free background frames; tracker in "
              "video mode, frames split by type (detector ran / tracking only; idle frames, where no hand "
              "was tracked and the detector skipped the frame, count only in all frames and 0 hands) and "
              "by hands reported. "
              "p50/p95 over all frames (the first 5 frames of each configuration, its sessions' first "
              "runs, are not timed; MediaPipe, restarted per clip, gets one untimed blank frame after each "
              "restart), then p50 by frame type and by hands reported (n in brackets). "
              "Stage columns are per-frame means of: detector (letterbox + network + decode), "
              "landmarks (crops + network), decode (heatmap decode), rest (association, smoothing, "
              "crop planning). handtrack's threads: onnxruntime intra-op threads per model (inter-op 1, "
              "sequential); OpenCV's resizing and warping keep OpenCV's default thread count. "
              f"MediaPipe: its own thread settings, time measured inside its process. "
              f"Load average at the end: {fmt_figure(sp['load_average'], 1)}.", ""]
        L.append(speed_table(sp["rows"]))
        if sp.get("stages"):
            L += ["", "Model stages alone (whatever the detector finds): detector on whole frames, landmarks "
                  "on 1 or 2 fixed crops, each with its pre/post-processing; ms per call.", ""]
            L.append(_table(["size", "threads", "stage", "n", "p50", "p95"],
                            [[x["size"], x["threads"], x["stage"], x["n"], fmt_figure(x["p50"], 1), fmt_figure(x["p95"], 1)]
                             for x in sp["stages"]]))
        rat = speed_ratios(sp["rows"])
        if rat:
            L += ["", "handtrack / MediaPipe p50 (on the same frames: those where both reported exactly 1 "
                  "hand, else all frames; the table's '1 hand' columns are each method's own 1-hand "
                  "frames): " + ", ".join(rat) + "."]
        L.append("")
        for k in ("latency", "stages"):
            if k in plots:
                L += [f"![{k}]({plots[k]})", ""]
    soak_file = out / "soak.json"
    if soak_file.exists():
        try:
            sk = read_figures(soak_file)
            L += ["## Memory soak (separate command: `python -m bench soak`)", "",
                  f"Last soak: {sk['frames']} frames of {Path(sk['video']).name} looped, "
                  f"{sk['size'][0]}x{sk['size'][1]}, {sk['threads']} thread(s), {sk['seconds']:.0f} s, hands "
                  f"reported on {100.0 * sk.get('hand_frames', 0) / max(sk['frames'], 1):.0f}% of frames; RSS "
                  f"{fmt_figure(sk['samples'][0][1], 1)} -> {fmt_figure(sk['samples'][-1][1], 1)} MiB, growth "
                  f"after warm-up "
                  f"{fmt_figure(sk['growth_mib'], 1)} MiB, slope {fmt_figure(sk['slope_mib_per_10k'], 2)} MiB per 10k "
                  f"frames (second half)" + (f", written {sk['written']}" if sk.get("written") else "") + ".", ""]
            if (out / "soak_rss.png").exists():
                L += ["![soak](soak_rss.png)", ""]
        except (ValueError, KeyError, IndexError, TypeError) as e:
            log.warning("ignoring unreadable %s: %s", soak_file, e)
    L += robustness_section(out)
    (out / "REPORT.md").write_text("\n".join(L) + "\n", encoding="utf-8")
    (out / "TABLE.md").write_text(headline(r) + "\n", encoding="utf-8")
    write_json(out / "results.json", r)
    log.info("wrote %s", out / "REPORT.md")


def read_figures(path: Path) -> dict:
    """A results file written with :func:`write_json`, its null figures read back as NaN (``n/a`` in
    the tables, as when the report was written; ``-`` is for a figure not measured)."""
    return json.loads(path.read_text(encoding="utf-8"),
                      object_hook=lambda d: {k: math.nan if v is None else v for k, v in d.items()})


def robustness_section(out: Path) -> list[str]:
    """REPORT.md lines for the last ``python -m bench robustness --out`` into ``out``: its photo part
    (robustness.json) and its video part (robustness_videos.json), each when present."""
    from .robustness import table, video_table
    L: list[str] = []
    f = out / "robustness.json"
    try:
        if f.exists():
            r = read_figures(f)
            L += [f"Photos, last run: {r['images']} hands21/val photos, static mode, each condition applied to "
                  "every photo; rotated photos are scored after mapping the keypoints back. 'vs clean' is "
                  "PCK@0.1 as a share of the method's clean figure (the labels are MediaPipe's on the clean "
                  "photos).", "", table(r["results"]), ""]
        f = out / "robustness_videos.json"
        if f.exists():
            r = read_figures(f)
            L += [f"Shared clips, last run: {len(r['clips'])} clips in video mode, each condition applied to every "
                  "frame, keypoints mapped back (no labels: hands per frame counts false hands too; compare a "
                  "condition with the same clip clean).", "", video_table(r["results"]), ""]
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        log.warning("ignoring unreadable %s: %s", f, e)
        return []
    return ["## Robustness (separate command: `python -m bench robustness`)", "", *L] if L else []


def videos_section(res: dict) -> list[str]:
    """REPORT.md lines for the videos part."""
    tot, per = res.get("total", {}), res.get("videos", {})
    first = next(iter(tot.values()), {})
    L = ["## Real videos: how steady left and right, and still hands, are", "",
         f"{len(per)} shared clips ({first.get('frames', 0)} frames, {fmt_figure(first.get('minutes', float('nan')), 2)} "
         "minutes), no labels, each method in video mode. A physical hand has one side, so a side change "
         "inside a continuous track is an error whatever the truth. Hands are linked into tracks the same "
         "way for every method (palm centre within one hand size of the track's last position, gaps up to "
         "5 frames; MediaPipe has no track ids), so two hands crossing can be mislinked for all of them. "
         "side consistency = share of hand-frames on the majority side of their track (1.0: no change "
         "lasted; a long wrong stretch lowers it more than a one-frame flicker). still jitter = mean "
         "|x(t+1)-2x(t)+x(t-1)| / palm size over the 17 points on the hand-frames of a track whose palm "
         f"centre moved under {videos.STILL_SPEED} palm sizes per frame over {videos.STILL_WINDOW} frames "
         "either side (still_hand_frames: how many; each method's own tracks); real hands held still "
         "still move a little (fingers on piano keys), so this bounds the noise from above. "
         "still_jitter_raw: the landmark model's own keypoints on the smoothed track's still hand-frames.",
         ""]
    keys = ["tracks", "hands_per_frame", "side_changes", "side_changes_per_min", "side_consistency",
            "videos_with_changes", "still_hand_frames", "still_jitter", "still_jitter_raw"]
    nd = {"side_changes_per_min": 2, "still_jitter": 4, "still_jitter_raw": 4}
    L.append(_table(["method", *keys], [[DISPLAY.get(v, v), *[fmt_figure(s.get(k), nd.get(k, 3)) for k in keys]]
                                        for v, s in tot.items()]))
    views = list(tot)
    L += ["", "Per clip: side changes / side consistency / hands per frame / still jitter.", ""]
    L.append(_table(["clip", *[DISPLAY.get(v, v) for v in views]],
                    [[name, *[f"{d[v]['side_changes']} / {fmt_figure(d[v]['side_consistency'])} / "
                              f"{fmt_figure(d[v]['hands_per_frame'], 2)} / {fmt_figure(d[v].get('still_jitter'), 4)}"
                              if v in d else "-" for v in views]]
                     for name, d in per.items()]))
    L.append("")
    return L


def _ratio(a: float, b: float) -> float:
    """a / b, NaN (shown "n/a") when b is 0: MediaPipe finding no hand has no ratio (it printed
    a / 1e-9, a huge number, before session 45)."""
    return a / b if b else float("nan")


def ratio_lines(results: dict) -> list[str]:
    """handtrack / MediaPipe ratios on the same frames (accuracy, motion, speed)."""
    out = []
    a = results.get("accuracy", {})
    if "handtrack" in a and "mediapipe" in a:
        h, m = a["handtrack"], a["mediapipe"]
        out.append(f"accuracy handtrack/MediaPipe: PCK@0.1 {fmt_figure(_ratio(h['pck@0.1'], m['pck@0.1']), 2)}, "
                   f"found {fmt_figure(_ratio(h['found_rate'], m['found_rate']), 2)}")
    mo = results.get("motion", {}).get("methods", {})
    if "smoothed" in mo and "mediapipe" in mo:
        h, m = mo["smoothed"], mo["mediapipe"]
        out.append(f"motion handtrack(smoothed)/MediaPipe: jitter {fmt_figure(_ratio(h['jitter'], m['jitter']), 2)}, "
                   f"found {fmt_figure(_ratio(h['found_rate'], m['found_rate']), 2)}, "
                   f"lag {fmt_figure(h['lag'], 2)} vs {fmt_figure(m['lag'], 2)} frames")
    sr = speed_ratios(results.get("speed", {}).get("rows", []))
    if sr:
        out.append("speed handtrack/MediaPipe p50: " + ", ".join(sr))
    return out


def speed_table(rows) -> str:
    """One row per method x size x threads (detailed rows stay in results.json)."""
    idx = {(r["method"], r["size"], r["threads"], r["frames"], r["hands"]): r for r in rows}
    confs = sorted({(r["method"], r["size"], r["threads"] or 0) for r in rows},
                   key=lambda c: (c[0], int(c[1].split("x")[0]), c[2]))
    out = []

    def cell(r, key="p50"):
        return f"{fmt_figure(r[key], 1)} ({r['n']})" if r else "-"

    for m, size, th in confs:
        th = th or None
        a = idx.get((m, size, th, "all", "all"))
        if a is None:
            continue
        row = [m, size, th or "-", a["n"], fmt_figure(a["p50"], 1), fmt_figure(a["p95"], 1),
               cell(idx.get((m, size, th, "detector", "all"))),
               cell(idx.get((m, size, th, "tracking", "all")))]
        row += [cell(idx.get((m, size, th, "all", k))) for k in (0, 1, 2)]
        row += [fmt_figure(a.get(f"{st}_mean"), 1) for st in ("detector", "landmarks", "decode", "rest")]
        out.append(row)
    return _table(["method", "size", "threads", "frames", "p50", "p95", "p50 detector frames",
                   "p50 tracking frames", "p50 0 hands", "p50 1 hand", "p50 2 hands",
                   "detector", "landmarks", "decode", "rest"], out)


def speed_ratios(rows) -> list[str]:
    """handtrack / MediaPipe p50 per size and thread count, on the same frames: those where both
    reported exactly one hand (the :data:`bench.speed.BOTH_ONE_HAND` rows; each method's own
    "1 hand" p50 is over a different set of frames), all frames when there is none."""
    from .speed import BOTH_ONE_HAND
    out = []
    idx = {(r["method"], r["size"], r["threads"], r["frames"], r["hands"]): r for r in rows}
    for r in rows:
        if r["method"] != "handtrack" or r["frames"] != "all" or r["hands"] != "all":
            continue
        both = idx.get(("handtrack", r["size"], r["threads"], "all", BOTH_ONE_HAND))
        h1 = idx.get(("handtrack", r["size"], r["threads"], "all", 1))
        ma = idx.get(("mediapipe", r["size"], None, "all", "all"))
        if both and both["n"] and both["mediapipe_p50"] > 0:
            out.append(f"{r['size']} {r['threads']} thread(s), 1-hand frames {both['p50'] / both['mediapipe_p50']:.2f} "
                       f"({both['n']} frame{'s' if both['n'] != 1 else ''} where both reported 1 hand: "
                       f"{fmt_figure(both['p50'], 1)} / {fmt_figure(both['mediapipe_p50'], 1)} ms)")
        elif ma and ma["p50"] > 0:
            why = (" (handtrack reported no hand: mostly idle frames)" if not h1
                   else " (no frame where both reported 1 hand)")
            out.append(f"{r['size']} {r['threads']} thread(s), all frames {r['p50'] / ma['p50']:.2f}{why}")
    return out


def write_json(path: Path, x) -> None:
    """``x`` as strict JSON at ``path`` (:func:`jsonable`, indent 1, ``allow_nan=False``: a NaN
    that slipped through fails here, not in a reader). The one writer of the bench's JSON files."""
    path.write_text(json.dumps(jsonable(x), indent=1, allow_nan=False), encoding="utf-8")


def jsonable(x):
    """``x`` (nested dicts, lists, tuples, numpy values, paths) as what ``json.dumps(...,
    allow_nan=False)`` writes: a figure with no data (NaN) or an infinite one becomes None (JSON
    null; :func:`read_figures` reads it back as NaN, ``n/a`` in the tables), for :func:`write_json`."""
    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (np.floating, float)):
        v = float(x)
        return v if math.isfinite(v) else None
    if isinstance(x, np.ndarray):
        return jsonable(x.tolist())
    if isinstance(x, (np.bool_,)):
        return bool(x)
    if isinstance(x, Path):
        return str(x)
    return x


def example_image(clip, preds: dict, path: Path, n: int = 4) -> None:
    """Tiles of a synthetic clip: truth (white), handtrack smoothed (side colours), MediaPipe
    (magenta), at frames spread over the clip (a crossing frame first when there is one)."""
    import cv2

    from tracker.draw import SIDE_COLORS, draw_skeleton, tile_grid
    from tracker.video import write_image_file
    t_len = len(clip)
    picks = [int(t_len * f) for f in np.linspace(0.15, 0.9, n)]
    cross = [a + (b - a) // 2 for a, b, k in clip.segments if k == "cross"]
    if cross:
        picks = [cross[0]] + picks[1:]
    tiles = []
    for t in sorted(set(min(p, t_len - 1) for p in picks)):
        img = clip.render(t)
        for j in range(len(clip.sides)):
            draw_skeleton(img, clip.keypoints[t, j], color=(255, 255, 255), thickness=1)
        for h in preds.get("mediapipe", [[]] * t_len)[t]:
            draw_skeleton(img, h.keypoints, color=(255, 0, 255), thickness=1)
        for h in preds.get("smoothed", [[]] * t_len)[t]:
            draw_skeleton(img, h.keypoints, color=SIDE_COLORS.get(h.side, (200, 200, 200)), thickness=2)
        kind = next((k for a, b, k in clip.segments if a <= t < b), "")
        cv2.putText(img, f"t={t} {kind}", (8, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (255, 255, 255), 2)
        tiles.append(cv2.resize(img, (clip.width // 2, clip.height // 2), interpolation=cv2.INTER_AREA))
    write_image_file(path, tile_grid(tiles, 2))


def plot_all(bench: Bench, out: Path) -> dict[str, str]:
    """PNG plots; returns {name: file name}."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    r = bench.results
    made = {}
    colors = {"handtrack": "C0", "smoothed": "C0", "raw": "C1", "mediapipe": "C2",
              "oracle smoothed": "C4", "oracle raw": "C3"}
    if r.get("accuracy"):
        fig, ax = plt.subplots(figsize=(6, 4))
        for m, s in r["accuracy"].items():
            t = sorted(s["pck_curve"])
            ax.plot(t, [s["pck_curve"][x] for x in t], label=m, color=colors.get(m))
        ax.axvline(0.2, color="gray", lw=0.5, ls="--")
        ax.set_xlabel("threshold (x hand box size)")
        ax.set_ylabel("PCK")
        ax.set_ylim(0, 1)
        ax.set_title("hands21/val, full photos, static mode")
        ax.legend()
        ax.grid(alpha=0.3)
        fig.tight_layout()
        fig.savefig(out / "pck_curves.png", dpi=90)
        plt.close(fig)
        made["pck"] = "pck_curves.png"
    mo = r.get("motion", {}).get("methods", {})
    if mo:
        names = list(mo)
        fig, axs = plt.subplots(1, 2, figsize=(8, 3.5))
        labels = [DISPLAY.get(n, n).replace(" ", "\n") for n in names]
        axs[0].bar(labels, [mo[n]["jitter"] if math.isfinite(mo[n]["jitter"]) else 0 for n in names],
                   color=[colors.get(n) for n in names])
        axs[0].set_title("still-hand jitter (/ palm size)")
        axs[1].bar(labels, [mo[n]["lag"] if math.isfinite(mo[n]["lag"]) else 0 for n in names],
                   color=[colors.get(n) for n in names])
        axs[1].axhline(1.0, color="gray", lw=0.5, ls="--")
        axs[1].set_title("lag (frames)")
        fig.tight_layout()
        fig.savefig(out / "jitter_lag.png", dpi=90)
        plt.close(fig)
        made["jitter_lag"] = "jitter_lag.png"
        fig, ax = plt.subplots(figsize=(6, 4))
        for n in names:
            c = mo[n]["lag_curve"]
            if c:
                ds = sorted(c, key=int)
                ax.plot([int(d) for d in ds], [c[d] for d in ds], marker="o", label=DISPLAY.get(n, n),
                        color=colors.get(n))
        ax.set_xlabel("delay d (frames): track(t) vs truth(t - d)")
        ax.set_ylabel("mean squared error (px^2)")
        ax.set_yscale("log")
        ax.legend()
        ax.grid(alpha=0.3)
        fig.tight_layout()
        fig.savefig(out / "lag_curves.png", dpi=90)
        plt.close(fig)
        made["lag_curves"] = "lag_curves.png"
        traces = getattr(bench, "_traces", [])
        if traces:
            tr = traces[0]
            fig, axs = plt.subplots(2, 1, figsize=(9, 5), sharex=True)
            gt = np.array(tr["gt"])
            for k, ax in enumerate(axs):
                ax.plot(gt[:, k], color="k", lw=1.0, label="truth")
                for n in names:
                    if n in tr:
                        ax.plot(np.array(tr[n], dtype=float)[:, k], lw=0.8, label=DISPLAY.get(n, n),
                                color=colors.get(n))
                for a, b, kind in tr["segments"]:
                    if kind == "still":
                        ax.axvspan(a, b, color="gray", alpha=0.12)
                ax.set_ylabel("palm " + "xy"[k] + " (px)")
            axs[0].legend(fontsize=8, ncol=4)
            axs[1].set_xlabel("frame (grey: still segments)")
            fig.tight_layout()
            fig.savefig(out / "trace.png", dpi=90)
            plt.close(fig)
            made["trace"] = "trace.png"
    ex = getattr(bench, "_example", None)
    if ex is not None and ex[1]:
        try:
            example_image(ex[0], ex[1], out / "example.png")
            made["example"] = "example.png"
        except Exception:  # noqa: BLE001 - an illustration must not fail the report
            log.warning("example image failed", exc_info=True)
    recs = getattr(bench, "_speed_records", [])
    if recs:
        groups: dict[str, list[float]] = {}
        for x in recs:
            key = f"{x.method} {x.size[0]}x{x.size[1]}" + (f" {x.threads}t" if x.threads else "")
            groups.setdefault(key, []).append(x.ms)
        fig, ax = plt.subplots(figsize=(7, 4))
        hi = max(np.percentile(v, 99) for v in groups.values())
        bins = np.linspace(0, hi * 1.05 + 1e-6, 50)
        for k, v in groups.items():
            ax.hist(v, bins=bins, histtype="step", label=k)
        ax.set_xlabel("ms per frame (end to end)")
        ax.set_ylabel("frames")
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(out / "latency_hist.png", dpi=90)
        plt.close(fig)
        made["latency"] = "latency_hist.png"
        rows = [x for x in r["speed"]["rows"] if x["method"] == "handtrack" and x["hands"] == "all"
                and x["frames"] in ("detector", "tracking") and "detector_mean" in x]
        if rows:
            fig, ax = plt.subplots(figsize=(8, 4))
            labels = [f"{x['size']} {x['threads']}t {x['frames']}" for x in rows]
            bottom = np.zeros(len(rows))
            for st in ("detector", "landmarks", "decode", "rest"):
                v = np.array([x.get(f"{st}_mean", 0.0) for x in rows])
                ax.bar(labels, v, bottom=bottom, label=st)
                bottom += v
            ax.set_ylabel("mean ms per frame")
            ax.tick_params(axis="x", rotation=30, labelsize=7)
            ax.legend(fontsize=8)
            fig.tight_layout()
            fig.savefig(out / "stages.png", dpi=90)
            plt.close(fig)
            made["stages"] = "stages.png"
    return made
