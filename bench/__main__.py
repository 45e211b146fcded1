"""Command line: ``python -m bench [run options]`` or ``python -m bench soak [soak options]``.

    python -m bench --shared ../shared --out docs/bench        # the whole report (<= 15 min)
    python -m bench --accuracy-images 200 --motion-clips 2 --only accuracy,motion
    python -m bench --only videos --side-lock none              # real clips, side lock off
    python -m bench soak --frames 100000 --video ../shared/videos/ali_hand.mp4
    python -m bench models --threads 1,2                       # each model alone, ms per call
    python -m bench train-step --allocators default,keep       # a CPU training step (needs torch)
    python -m bench live --fps 30,60                           # capture-to-result latency, simulated camera
    python -m bench robustness --images 300                    # accuracy on dark, noisy, blurred, rotated photos
    python -m bench robustness --no-photos --videos all        # the shared clips clean and turned upside down
    python -m bench frame-rate --out /tmp/fr                   # the shared clips at 15/30/60 fps, a 0.3 s blackout
"""
from __future__ import annotations

import argparse
import logging
import math
import os
import sys
from pathlib import Path

from tracker.checks import MAX_COUNT, MAX_THREADS

ROOT = Path(__file__).resolve().parents[1]
#: a clone (pyproject.toml beside the packages) keeps its reports in its docs/bench and finds the
#: shared data beside it, from any folder; an installed bench has ROOT = site-packages, where
#: reports must not go: there both defaults are relative to the current folder
IN_CLONE = (ROOT / "pyproject.toml").is_file()
DEFAULT_SHARED = ROOT.parent / "shared" if IN_CLONE else Path("..", "shared")
DEFAULT_OUT = ROOT / "docs" / "bench" if IN_CLONE else Path("handtrack-bench")
_OUT_HELP = "default: docs/bench in a clone, ./handtrack-bench when installed"
_SHARED_HELP = "default: ../shared beside a clone, ../shared from the current folder when installed"
#: the longest frame side a --size / --speed-sizes takes, px: twice 8K UHD's 7680, past any camera
#: (10**30 overflowed OpenCV's int sizes in a traceback)
MAX_SIDE = 16384
_UNSET = object()


def _thread_count(name: str = "--threads"):
    """tracker.cli.thread_count, imported when a parser is built (tracker.cli imports OpenCV)."""
    from tracker.cli import thread_count
    return thread_count(name)


def _count(name: str):
    """argparse type of a count: 1 to the tracker's MAX_COUNT."""
    from tracker.cli import int_at_least
    return int_at_least(name, 1, MAX_COUNT)


def _parse(p: argparse.ArgumentParser, argv: list[str]) -> tuple[argparse.Namespace, set[str]]:
    """``p.parse_args(argv)`` and the options given on the command line (their dests), whatever
    their values: one given with its default value counts as given (argparse sets a default only
    where the namespace has no value yet)."""
    actions = [x for x in p._actions if x.default is not argparse.SUPPRESS]
    a = p.parse_args(argv, namespace=argparse.Namespace(**{x.dest: _UNSET for x in actions}))
    given = {x.dest for x in actions if getattr(a, x.dest) is not _UNSET}
    for x in actions:
        if x.dest not in given:
            setattr(a, x.dest, x.default)
    return a, given


def _option(dest: str) -> str:
    return "--" + dest.replace("_", "-")


def _refuse_unused(p: argparse.ArgumentParser, given: set[str], dests: tuple[str, ...], unused: bool,
                   why: str) -> None:
    """Usage error naming the first of ``dests`` given on the command line (:func:`_parse`) when
    ``unused`` (another option makes them do nothing): such an option was taken and ignored
    without a word. ``why`` follows the option's name in the message."""
    named = [_option(d) for d in dests if d in given]
    if unused and named:
        p.error(f"{named[0]} {why}")


def _refuse_unused_mediapipe_options(p: argparse.ArgumentParser, a: argparse.Namespace, given: set[str]) -> None:
    """--mp-venv / --no-create-venv with --no-mediapipe."""
    _refuse_unused(p, given, ("mp_venv", "no_create_venv"), a.no_mediapipe,
                   "does nothing with --no-mediapipe (no MediaPipe venv is used)")


def _fits_in_memory(p: argparse.ArgumentParser, what: str, nbytes: float) -> None:
    """Usage error when ``nbytes`` (what a command builds in memory before its first result) is
    more than ``train.data.memory_budget``: such a run swapped for hours or was killed."""
    from train.data import check_fits_in_memory
    try:
        check_fits_in_memory(what, nbytes)
    except ValueError as e:
        p.error(str(e))


def _video_problem(path: Path) -> str | None:
    """Why ``path`` cannot be played as a video, or None: checked before any work (a text file or
    a folder ended the commands in a traceback after their trackers were built)."""
    if path.is_dir():
        return "is a folder, not a video file"
    import cv2
    cap = cv2.VideoCapture(str(path))
    try:
        ok = cap.isOpened() and cap.read()[0]
    finally:
        cap.release()
    return None if ok else "no frame could be read (missing, not a video, or an unsupported or corrupt file)"


def _check_out_folder(p: argparse.ArgumentParser, out: Path) -> None:
    """Usage error unless ``--out`` is a folder or can be made one: a file there (an input clip,
    say) or on its way failed only when the results were written, after the whole run."""
    from tracker.cli import check_output_path
    try:
        check_output_path("--out", out, folder=True)
    except ValueError as e:
        p.error(str(e))


def _parts(text: str) -> tuple[str, ...]:
    from .run import PARTS
    # each part once, in the order given (a part named twice would run twice)
    parts = tuple(dict.fromkeys(p.strip() for p in text.split(",") if p.strip()))
    bad = [p for p in parts if p not in PARTS]
    if bad or not parts:
        # an empty list would fall back to every part: a 15-minute run nobody asked for
        raise argparse.ArgumentTypeError(f"unknown part(s) {bad or [text]}; choose from {', '.join(PARTS)}")
    return parts


def _ints(text: str) -> tuple[int, ...]:
    """argparse type: a comma list of thread counts (1 to the tracker's MAX_THREADS), each once, in order."""
    try:
        out = tuple(dict.fromkeys(int(x) for x in text.split(",") if x.strip()))
    except ValueError:
        out = ()
    if not out or min(out) < 1 or max(out) > MAX_THREADS:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers from 1 to {MAX_THREADS}, got {text!r}")
    return out


def _sizes(text: str) -> tuple[tuple[int, int], ...]:
    """argparse type: a comma list of frame sizes ``WxH`` (pixels, each side >= 1), each once."""
    out = []
    try:
        for s in text.split(","):
            w, h = s.lower().split("x")
            out.append((int(w), int(h)))
    except ValueError:
        out = []
    if not out or min(min(s) for s in out) < 1:
        raise argparse.ArgumentTypeError(f"expected comma-separated sizes WxH (e.g. 640x480), got {text!r}")
    if max(max(s) for s in out) > MAX_SIDE:
        raise argparse.ArgumentTypeError(f"expected sizes WxH with sides of at most {MAX_SIDE} px, got {text!r}")
    return tuple(dict.fromkeys(out))


def _one_size(text: str) -> tuple[int, int]:
    """argparse type: one frame size ``WxH`` (a list was accepted and all but its first ignored)."""
    sizes = _sizes(text)
    if len(sizes) > 1:
        raise argparse.ArgumentTypeError(f"expected one size WxH (this command runs one), got {text!r}")
    return sizes[0]


def _model_file(kind: str):
    """argparse type of --landmark-model / --detector-model: a file that loads as a ``kind``
    ("landmarks" or "detector") model. A missing or unloadable one was found only when a tracker
    was built: the run command then wrote an empty report over the last one (its columns skipped
    with a note), the others a traceback."""
    def parse(text: str) -> Path:
        p = Path(text)
        if not p.is_file():
            raise argparse.ArgumentTypeError(f"no such file: {text}")
        if kind == "landmarks":
            from tracker.landmarks import LandmarkModel as Model
        else:
            from tracker.detector import HandDetector as Model
        try:
            Model(p, threads=1).close()     # a few ms: the session, its metadata and its shapes
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e)) from None
        return p
    return parse


def _source_args(p: argparse.ArgumentParser, video_help: str) -> None:
    """The options the one-video sub-commands share: --shared, --video, --size and the models."""
    p.add_argument("--shared", type=Path, default=DEFAULT_SHARED,
                   help=f"shared data folder (its videos/ are the default frames); {_SHARED_HELP}")
    p.add_argument("--video", type=Path, default=None, help=video_help)
    p.add_argument("--size", type=_one_size, default=(640, 480),
                   help=f"frame size WxH (default 640x480; sides up to {MAX_SIDE} px)")
    _model_args(p)


def _model_args(p: argparse.ArgumentParser) -> None:
    """--landmark-model / --detector-model (read back by :func:`_model_options`)."""
    p.add_argument("--landmark-model", type=_model_file("landmarks"), default=None, help="ONNX file (default: shipped)")
    p.add_argument("--detector-model", type=_model_file("detector"), default=None, help="ONNX file (default: shipped)")


def _mediapipe_args(p: argparse.ArgumentParser) -> None:
    """--no-mediapipe / --mp-venv: the MediaPipe columns of the sub-commands that compare."""
    p.add_argument("--no-mediapipe", action="store_true", help="skip the MediaPipe columns")
    p.add_argument("--mp-venv", type=Path, default=None,
                   help="MediaPipe venv (default ~/.cache/handtrack/mp-venv or $HANDTRACK_MP_VENV), made there when "
                   "missing or an empty folder; a folder there that is no working venv is left as it is")


def _hold_and_noise_args(p: argparse.ArgumentParser) -> None:
    """--crop-hold / --side-wait / --output-noise / --noise-seed (checked by :func:`_check_noise`)."""
    from tracker.cli import float_in, int_at_least, unit_float
    from tracker.hand_tracker import HandTrackerOptions

    from .perturb import MAX_OUTPUT_NOISE
    p.add_argument("--crop-hold", type=unit_float("--crop-hold"), default=None, metavar="H",
                   help="tracker crop_hold (default: the tracker's, 0: off)")
    p.add_argument("--side-wait", type=int_at_least("--side-wait", 0, 1000), default=None, metavar="N",
                   help="tracker side_wait: frames a new hand with an unsure side may go unreported "
                   f"(default: the tracker's, {HandTrackerOptions.side_wait}; 0: every hand at once)")
    p.add_argument("--output-noise", type=float_in("--output-noise", 0.0, MAX_OUTPUT_NOISE), default=0.0,
                   metavar="R",
                   help="multiply every network output by 1 + R N(0, 1) (e.g. 1e-6, the size of float "
                   "differences between machines): run a few --noise-seed values to see how far swap "
                   "counts move by chance (not with the speed part; default 0: none)")
    p.add_argument("--noise-seed", type=int_at_least("--noise-seed", 0), default=0,
                   help="seed of the --output-noise generators (default 0)")


def _check_noise(p: argparse.ArgumentParser, a: argparse.Namespace, given: set[str]) -> None:
    if "noise_seed" in given and not a.output_noise:
        p.error("--noise-seed seeds --output-noise, which is 0 (no noise)")


def _hold_and_noise_text(a: argparse.Namespace) -> str:
    """The options of :func:`_hold_and_noise_args` given, as command-line text for a report."""
    text = f" --crop-hold {a.crop_hold:g}" if a.crop_hold is not None else ""
    text += f" --side-wait {a.side_wait}" if a.side_wait is not None else ""
    if a.output_noise:
        text += f" --output-noise {a.output_noise:g} --noise-seed {a.noise_seed}"
    return text


def _model_options(a: argparse.Namespace) -> dict:
    from .methods import model_options
    return dict(model_options(a.landmark_model, a.detector_model))


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "soak":
        return soak_main(argv[1:])
    if argv and argv[0] == "models":
        return models_main(argv[1:])
    if argv and argv[0] == "train-step":
        return train_step_main(argv[1:])
    if argv and argv[0] == "live":
        return live_main(argv[1:])
    if argv and argv[0] == "robustness":
        return robustness_main(argv[1:])
    if argv and argv[0] == "frame-rate":
        return frame_rate_main(argv[1:])
    from .run import Bench, headline, met_text, ratio_lines
    cfg = config_from_args(argv)
    res = Bench(cfg).run()
    print()
    print(headline(res))
    for line in ratio_lines(res):
        print(f"- {line}")
    for c in res.get("checks", []):
        print(f"- {c['who']}: {c['target']}: {c['text']} -> {met_text(c['ok'], 'met', 'NOT met')}")
    for n in res.get("notes", []):
        print(f"- note: {n}")
    print(f"\nreport: {cfg.out / 'REPORT.md'}  ({res['seconds']['total']:.0f} s)")
    return 0


#: the run command's options that only some parts use (dest -> parts)
_PART_OPTIONS = {"accuracy_images": ("accuracy",), "seed": ("accuracy", "motion"),
                 "threads": ("accuracy", "motion", "videos"), "motion_clips": ("motion",),
                 "motion_frames": ("motion",), "no_oracle": ("motion",), "video_frames": ("videos",),
                 "speed_frames": ("speed",), "speed_sizes": ("speed",), "speed_threads": ("speed",),
                 "output_noise": ("accuracy", "motion", "videos"), "noise_seed": ("accuracy", "motion", "videos")}


def config_from_args(argv: list[str]):
    """The :class:`bench.run.BenchConfig` of a ``python -m bench [run options]`` command line
    (argparse errors exit with status 2, as any command line's)."""
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--shared", type=Path, default=DEFAULT_SHARED,
                   help=f"shared data folder (data/hands21, videos); {_SHARED_HELP}")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"report folder ({_OUT_HELP})")
    p.add_argument("--only", type=_parts, default=None,
                   help="comma list of accuracy,motion,videos,speed (an option of a part left out is refused)")
    from tracker.cli import crop_palms_value, int_at_least, positive_int, side_lock_value, unit_float, unit_float_or_none
    # numbers checked here, before any part runs: the tracker refused a bad one only when a part
    # built it, and the run then went on and wrote an empty report over the last one
    p.add_argument("--accuracy-images", type=int_at_least("--accuracy-images", 0), default=2500,
                   help="hands21/val photos for accuracy (0 = all 7,9xx; default 2500)")
    # every clip is built before the first is tracked: the two are checked against the memory below
    p.add_argument("--motion-clips", type=_count("--motion-clips"), default=6,
                   help="synthetic clips (1 and 2 hands alternately; all built in memory before the first "
                   "is tracked: clips x frames must fit in half the machine's memory)")
    p.add_argument("--motion-frames", type=_count("--motion-frames"), default=300,
                   help=f"frames per synthetic clip (at most {MAX_COUNT})")
    p.add_argument("--video-frames", type=positive_int("--video-frames"), default=None, metavar="N",
                   help="frames per shared video for the videos part (default: all)")
    p.add_argument("--speed-frames", type=positive_int("--speed-frames"), default=40,
                   help="frames per video and size")
    p.add_argument("--speed-sizes", type=_sizes, default=None,
                   help=f"e.g. 640x480,1280x720 (sides up to {MAX_SIDE} px)")
    p.add_argument("--speed-threads", type=_ints, default=None, help=f"e.g. 1,2 (each at most {MAX_THREADS})")
    p.add_argument("--threads", type=_thread_count(), default=2,
                   help=f"tracker threads for accuracy, motion and videos (default 2, at most {MAX_THREADS})")
    p.add_argument("--seed", type=int_at_least("--seed", 0), default=0)
    _mediapipe_args(p)
    p.add_argument("--no-create-venv", action="store_true", help="do not create the MediaPipe venv")
    _model_args(p)
    p.add_argument("--no-oracle", action="store_true",
                   help="skip the motion run with ground-truth detections")
    p.add_argument("--min-detection-confidence", type=unit_float("--min-detection-confidence"), default=None,
                   metavar="P",
                   help="tracker detector threshold (default: the detector's calibrated one)")
    p.add_argument("--detector-interval", type=_count("--detector-interval"), default=None, metavar="N",
                   help=f"tracker detector_interval (default: the tracker's, 3; at most {MAX_COUNT})")
    p.add_argument("--detector-turns", type=int, choices=(1, 2, 4), default=None, metavar="N",
                   help="tracker detector_turns (default: the tracker's: 4 in video mode, 1 in static mode)")
    p.add_argument("--flip-test", action=argparse.BooleanOptionalAction, default=None,
                   help="tracker flip_test: each landmark crop also run mirrored (default: the tracker's, on; "
                   "--no-flip-test measures the tracker without it)")
    p.add_argument("--small-hands", action="store_true",
                   help="run the tracker with small_hands=True (the detector's second pass for far hands)")
    p.add_argument("--no-large-hands", action="store_true",
                   help="run the tracker with large_hands=False (without the detector's half-size pass for "
                   "hands close to the camera, as before session 26)")
    p.add_argument("--side-lock", type=side_lock_value("--side-lock"), default=..., metavar="L|none",
                   help="tracker side_lock (default: the tracker's, 20; none: off)")
    p.add_argument("--low-detection-confidence", type=unit_float_or_none("--low-detection-confidence"),
                   default=..., metavar="P|none",
                   help="tracker low_detection_confidence (default: the tracker's, 0.2; none: off)")
    p.add_argument("--refine-score", type=unit_float("--refine-score"), default=None, metavar="P",
                   help="tracker refine_score (default: the tracker's, 0.6; 0: off; 1: every new hand)")
    p.add_argument("--min-crop-palms", type=crop_palms_value("--min-crop-palms"), default=None, metavar="K",
                   help="tracker min_crop_palms (default: the tracker's, 2.8; 0: crops framed by the keypoints alone)")
    _hold_and_noise_args(p)
    p.add_argument("--no-plots", action="store_true")
    p.add_argument("-q", "--quiet", action="store_true")
    a, given = _parse(p, argv)
    logging.basicConfig(level=logging.WARNING if a.quiet else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    from .run import PARTS, BenchConfig
    parts = a.only or PARTS
    for dest, used_by in _PART_OPTIONS.items():
        if dest in given and not set(used_by) & set(parts):
            # it was ignored without a word
            p.error(f"{_option(dest)} applies to the {' and '.join(used_by)} part{'s' * (len(used_by) > 1)}, "
                    f"which --only {','.join(parts)} leaves out")
    _refuse_unused_mediapipe_options(p, a, given)
    if a.output_noise and "speed" in parts:
        p.error("--output-noise would time the noise too: leave the speed part out (--only accuracy,motion,videos)")
    _check_noise(p, a, given)
    if not (a.shared / "data" / "hands21").exists() and set(parts) & {"accuracy", "motion"}:
        p.error(f"no data/hands21 under --shared {a.shared}")
    clips = sorted((a.shared / "videos").glob("*.mp4"))
    if set(parts) & {"videos", "speed"}:
        # checked before any part runs: the report in --out would otherwise be rewritten from nothing
        if not clips:
            p.error(f"no videos/*.mp4 under --shared {a.shared} (the videos and speed parts play them)")
        for clip in clips:
            why = _video_problem(clip)
            if why:
                p.error(f"--shared {a.shared}: videos/{clip.name}: {why} (the videos and speed parts play "
                        "every videos/*.mp4)")
    if "speed" in parts:
        from .speed import SIZES
        w, h = max(a.speed_sizes or SIZES, key=lambda size: size[0] * size[1])
        held = len(clips) * a.speed_frames + BenchConfig.speed_background   # every clip's frames of one size, decoded
        _fits_in_memory(p, f"--speed-frames {a.speed_frames} ({len(clips)} clips at {w}x{h})", held * w * h * 3)
    if "motion" in parts:
        from .motion import motion_bytes
        _fits_in_memory(p, f"--motion-clips {a.motion_clips} x --motion-frames {a.motion_frames}",
                        motion_bytes(a.motion_clips, a.motion_frames))
    _check_out_folder(p, a.out)
    cfg = BenchConfig(shared=a.shared, out=a.out, parts=parts,
                      accuracy_images=a.accuracy_images or None, motion_clips=a.motion_clips,
                      motion_frames=a.motion_frames, speed_frames=a.speed_frames, seed=a.seed,
                      threads=a.threads, mediapipe=not a.no_mediapipe, mp_venv=a.mp_venv,
                      create_venv=not a.no_create_venv, plots=not a.no_plots,
                      oracle_detector=not a.no_oracle, output_noise=a.output_noise, noise_seed=a.noise_seed)
    cfg.tracker_options.update(_model_options(a))
    if a.flip_test is not None:
        cfg.tracker_options["flip_test"] = a.flip_test
    if a.small_hands:
        cfg.tracker_options["small_hands"] = True
    if a.no_large_hands:
        cfg.tracker_options["large_hands"] = False
    if a.min_detection_confidence is not None:
        cfg.tracker_options["min_detection_confidence"] = a.min_detection_confidence
    if a.detector_interval is not None:
        cfg.tracker_options["detector_interval"] = a.detector_interval
    if a.detector_turns is not None:
        cfg.tracker_options["detector_turns"] = a.detector_turns
    if a.side_lock is not ...:
        cfg.tracker_options["side_lock"] = a.side_lock
    if a.low_detection_confidence is not ...:
        cfg.tracker_options["low_detection_confidence"] = a.low_detection_confidence
    if a.refine_score is not None:
        cfg.tracker_options["refine_score"] = a.refine_score
    if a.min_crop_palms is not None:
        cfg.tracker_options["min_crop_palms"] = a.min_crop_palms
    if a.crop_hold is not None:
        cfg.tracker_options["crop_hold"] = a.crop_hold
    if a.side_wait is not None:
        cfg.tracker_options["side_wait"] = a.side_wait
    if a.video_frames is not None:
        cfg.video_frames = a.video_frames
    if a.speed_sizes:
        cfg.speed_sizes = a.speed_sizes
    if a.speed_threads:
        cfg.speed_threads = a.speed_threads
    return cfg


def models_main(argv: list[str]) -> int:
    from tracker.cli import positive_int
    from .models import __doc__ as doc, run
    p = argparse.ArgumentParser(prog="python -m bench models", description=doc,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    _source_args(p, "frame source (default: the first shared video; a grey frame when there is none)")
    p.add_argument("--threads", type=_ints, default=(1, 2),
                   help=f"comma list (default 1,2; each at most {MAX_THREADS})")
    p.add_argument("--reps", type=positive_int("--reps"), default=200, help="timed calls per row (default 200)")
    a = p.parse_args(argv)
    import cv2
    import numpy as np
    w, h = a.size
    frame = np.full((h, w, 3), 127, np.uint8)
    why = a.video and _video_problem(a.video)
    if why:     # a file the user named: no silent grey frame instead
        p.error(f"--video {a.video}: {why}")
    video = a.video or next(iter(sorted((a.shared / "videos").glob("*.mp4"))), None)
    if video is not None:
        ok, f = cv2.VideoCapture(str(video)).read()
        if ok:
            frame = cv2.resize(f, (w, h))
    print("| threads | stage | p50 ms | p95 ms |\n|---|---|---|---|")
    for r in run(frame, a.threads, a.reps, a.landmark_model, a.detector_model):
        print(f"| {r['threads']} | {r['stage']} | {r['p50']:.2f} | {r['p95']:.2f} |")
    return 0


def _names(text: str) -> tuple[str, ...]:
    return tuple(x.strip() for x in text.split(",") if x.strip())


def _names_of(kind: str, known):
    """argparse type: a comma list of ``known`` names (at least one; each once, in order); an
    empty list ran nothing and printed an empty table, an unknown name was refused in a line that
    named no option."""
    def parse(text: str) -> tuple[str, ...]:
        names = tuple(dict.fromkeys(_names(text)))
        bad = [n for n in names if n not in known]
        if bad or not names:
            raise argparse.ArgumentTypeError(f"{'unknown ' + kind + ' ' + repr(bad) if bad else 'no ' + kind} "
                                             f"in {text!r}; choose from {', '.join(known)}")
        return names
    return parse


def train_step_main(argv: list[str]) -> int:
    from tracker.cli import positive_int
    from .train_step import ALLOCATORS, NETS, __doc__ as doc, run
    p = argparse.ArgumentParser(prog="python -m bench train-step", description=doc,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--nets", type=_names_of("net(s)", NETS), default=("landmarks",),
                   help=f"comma list of {', '.join(NETS)}")
    p.add_argument("--allocators", type=_names_of("allocator(s)", ALLOCATORS), default=("default", "keep"),
                   help=f"comma list of {', '.join(ALLOCATORS)}")
    p.add_argument("--rounds", type=positive_int("--rounds"), default=3,
                   help="processes per net and allocator, interleaved")
    p.add_argument("--steps", type=int, default=10, help="steps per process (the first 2 are left out)")
    # checked here: a bad one failed in each child process (a CalledProcessError traceback)
    p.add_argument("--threads", type=_thread_count(), default=2, help=f"torch threads (default 2, at most {MAX_THREADS})")
    p.add_argument("--batch-size", type=positive_int("--batch-size"), default=32)
    a = p.parse_args(argv)
    # the checkpoints are a clone's (assets/checkpoints), not in the wheel: said before any process
    # starts, rather than as a FileNotFoundError of the first child
    missing = [str(NETS[n]) for n in a.nets if n in NETS and not NETS[n].is_file()]
    if missing:
        p.error(f"--nets: no checkpoint {', '.join(missing)} (train-step needs a clone of the project "
                "with its assets/checkpoints)")
    try:
        rows = run(a.nets, a.allocators, a.rounds, a.steps, threads=a.threads, batch=a.batch_size)
    except ValueError as e:
        p.error(str(e))
    except RuntimeError as e:
        raise SystemExit(f"error: {e}") from None
    print(f"| net | allocator | steps | p50 ms | p95 ms |   ({a.threads} threads, batch {a.batch_size})")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['net']} | {r['allocator']} | {r['steps']} | {r['p50']:.1f} | {r['p95']:.1f} |")
    return 0


def _floats(text: str) -> tuple[float, ...]:
    try:
        out = tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None
    # nan passes a plain "<= 0" test (and then crashed int(seconds * fps)); inf is no rate either
    if not out or not all(0 < v < math.inf for v in out):
        raise argparse.ArgumentTypeError(f"expected finite numbers > 0, got {text!r}")
    return out


def _rates(text: str) -> tuple[float, ...]:
    """argparse type of live's --fps: camera rates in the tracker's frame_rate range (frames per
    second); 1e308 was taken, and the simulated camera then spun for seconds (or overflowed)."""
    from tracker.hand_tracker import MAX_FRAME_RATE, MIN_FRAME_RATE
    out = _floats(text)
    if not all(MIN_FRAME_RATE <= v <= MAX_FRAME_RATE for v in out):
        raise argparse.ArgumentTypeError(f"expected camera rates in [{MIN_FRAME_RATE:g}, {MAX_FRAME_RATE}] frames "
                                         f"per second, got {text!r}")
    return out


def live_main(argv: list[str]) -> int:
    from tracker.cli import positive_float, positive_int
    from .live import LOOP_FRAMES, __doc__ as doc, run
    p = argparse.ArgumentParser(prog="python -m bench live", description=doc,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    _source_args(p, "frames to play (default: the shared huytung_2hand.mp4, else the first shared video; "
                 "a grey frame when there is none)")
    p.add_argument("--fps", type=_rates, default=(30.0, 60.0),
                   help="camera rates, comma list (default 30,60; the tracker's frame_rate range)")
    # finite: inf was taken, and int(seconds * fps) then raised OverflowError
    p.add_argument("--seconds", type=positive_float("--seconds"), default=15.0,
                   help=f"seconds per row (default 15; at most {MAX_COUNT} camera frames at the fastest rate)")
    p.add_argument("--buffers", type=positive_int("--buffers"), default=4, help="driver queue (default 4)")
    p.add_argument("--threads", type=_thread_count(), default=2,
                   help=f"tracker threads (default 2, at most {MAX_THREADS})")
    p.add_argument("--flip-test", action=argparse.BooleanOptionalAction, default=None,
                   help="tracker flip_test (default: the tracker's, on; --no-flip-test: half the landmark time)")
    a = p.parse_args(argv)
    if a.video is not None and not a.video.exists():
        p.error(f"--video: {a.video} does not exist")
    why = a.video and _video_problem(a.video)
    if why:
        p.error(f"--video {a.video}: {why}")
    slow, fast = min(a.fps), max(a.fps)
    if a.seconds * fast > MAX_COUNT:    # counted one by one; 1e308 overflowed int(seconds * fps)
        p.error(f"--seconds {a.seconds:g} at --fps {fast:g}: {a.seconds * fast:.3g} camera frames per row, "
                f"more than {MAX_COUNT}")
    if int(a.seconds * slow) < 1:    # the simulated camera captures int(seconds * fps) frames
        p.error(f"--seconds {a.seconds:g} at --fps {slow:g}: not one camera frame (the rows' figures "
                f"would be nan); give at least {1.0 / slow:g} s")
    videos = sorted((a.shared / "videos").glob("*.mp4"))
    video = a.video or next((v for v in videos if v.name == "huytung_2hand.mp4"), videos[0] if videos else None)
    w, h = a.size
    # the frames looped, held decoded (one grey frame without a video)
    _fits_in_memory(p, f"--size {w}x{h}", (LOOP_FRAMES if video else 1) * w * h * 3)
    opts = _model_options(a)
    if a.flip_test is not None:
        opts["flip_test"] = a.flip_test
    rows = run(video, a.fps, a.seconds, (w, h), a.buffers, a.threads, opts)
    print(f"{video.name if video else 'grey frame'} at {w}x{h}, {a.threads} thread(s), queue {a.buffers}, "
          f"{a.seconds:g} s per row{'' if a.flip_test is None else ', flip test ' + ('on' if a.flip_test else 'off')}")
    print("| camera fps | reading | tracked fps | share tracked | latency p50 ms | latency p95 ms | tracker p50 ms |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['fps']:g} | {r['mode']} | {r['tracked_fps']:.1f} | {r['tracked_share']:.2f} | "
              f"{r['latency_p50']:.1f} | {r['latency_p95']:.1f} | {r['tracker_p50']:.1f} |")
    return 0


def robustness_main(argv: list[str]) -> int:
    from tracker.cli import int_at_least, positive_int
    from .robustness import CONDITIONS, __doc__ as doc, check_conditions
    p = argparse.ArgumentParser(prog="python -m bench robustness", description=doc,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--shared", type=Path, default=DEFAULT_SHARED,
                   help=f"shared data folder (data/hands21, videos/); {_SHARED_HELP}")
    p.add_argument("--images", type=positive_int("--images"), default=300,
                   help="hands21/val photos, a seeded random subset (default 300)")
    p.add_argument("--conditions", type=_names, default=tuple(CONDITIONS),
                   help="comma list (default: all): " + ", ".join(CONDITIONS))
    p.add_argument("--no-photos", action="store_true", help="skip the photo part (e.g. with --videos)")
    p.add_argument("--videos", type=_names, default=(), metavar="all|CLIP,...",
                   help="also play these clips in video mode: all of <shared>/videos, or names there, "
                        "or paths to video files")
    p.add_argument("--video-conditions", type=_names, default=("clean", "rot180"),
                   help="conditions for the clips, comma list (default clean,rot180)")
    p.add_argument("--video-frames", type=positive_int("--video-frames"), default=None, metavar="N",
                   help="first N frames of each clip (default: all)")
    p.add_argument("--out", type=Path, default=None,
                   help="folder for robustness[_videos].json and .md (default: print only)")
    p.add_argument("--threads", type=_thread_count(), default=2,
                   help=f"tracker threads (default 2, at most {MAX_THREADS})")
    p.add_argument("--seed", type=int_at_least("--seed", 0), default=0)
    p.add_argument("--turn-retry", action="store_true", help="tracker option turn_retry (off by default)")
    p.add_argument("--turn-fallback", action="store_true",
                   help="tracker option turn_fallback (the photos, static mode, with --detector-turns 2 or 4: "
                   "turned looks only when the upright look finds no hand)")
    p.add_argument("--detector-turns", type=int, choices=(1, 2, 4), default=None,
                   help="tracker option detector_turns (default: the tracker's: 4 on the clips, video mode; "
                   "1 on the photos, static mode)")
    p.add_argument("--no-large-hands", action="store_true",
                   help="tracker option large_hands=False (no half-size detector pass for near hands)")
    p.add_argument("--flip-test", action=argparse.BooleanOptionalAction, default=None,
                   help="tracker option flip_test (default: the tracker's, on)")
    _mediapipe_args(p)
    p.add_argument("--no-create-venv", action="store_true",
                   help="do not create the MediaPipe venv (its columns are skipped when it is missing)")
    _model_args(p)
    _hold_and_noise_args(p)
    a, given = _parse(p, argv)
    _refuse_unused_mediapipe_options(p, a, given)
    _check_noise(p, a, given)
    try:
        conditions = check_conditions(a.conditions)
    except ValueError as e:
        p.error(f"--conditions: {e}")
    try:
        video_conditions = check_conditions(a.video_conditions)
    except ValueError as e:
        p.error(f"--video-conditions: {e}")
    if a.no_photos and not a.videos:
        p.error("--no-photos without --videos leaves nothing to run")
    _refuse_unused(p, given, ("images", "conditions", "turn_fallback"), a.no_photos,
                   "applies to the photo part, which --no-photos skips")
    if not a.videos and given & {"video_frames", "video_conditions"}:
        # they were ignored without a word: the photo run alone
        p.error("--video-conditions and --video-frames apply to the clips of --videos; none given")
    data = a.shared / "data" / "hands21"
    if not a.no_photos and not data.exists():
        p.error(f"no data/hands21 under --shared {a.shared}")
    clips = []
    if a.videos:
        clips = _clips(p, a.shared, a.videos)
    if a.out is not None and not a.out.is_dir():
        p.error(f"--out: {a.out} is not a folder")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        datefmt="%H:%M:%S")
    venv = None
    if not a.no_mediapipe:
        from .mediapipe_runner import ensure_venv
        venv = ensure_venv(a.mp_venv, create=not a.no_create_venv)
    tracker_options = dict(max_hands=2, threads=a.threads, **_model_options(a))
    if a.turn_retry:
        tracker_options["turn_retry"] = True
    if a.detector_turns is not None:
        tracker_options["detector_turns"] = a.detector_turns
    if a.turn_fallback:
        tracker_options["turn_fallback"] = True
    if a.no_large_hands:
        tracker_options["large_hands"] = False
    if a.flip_test is not None:
        tracker_options["flip_test"] = a.flip_test
    if a.crop_hold is not None:
        tracker_options["crop_hold"] = a.crop_hold
    if a.side_wait is not None:
        tracker_options["side_wait"] = a.side_wait
    # the options that change what is measured, for the markdown's command line
    options_text = "".join(f" {flag} {v}" for flag, v in (("--landmark-model", a.landmark_model),
                                                          ("--detector-model", a.detector_model)) if v)
    options_text += " --turn-retry" if a.turn_retry else ""
    options_text += f" --detector-turns {a.detector_turns}" if a.detector_turns is not None else ""
    options_text += " --turn-fallback" if a.turn_fallback else ""
    options_text += " --no-large-hands" if a.no_large_hands else ""
    options_text += "" if a.flip_test is None else (" --flip-test" if a.flip_test else " --no-flip-test")
    options_text += _hold_and_noise_text(a)
    if not a.no_photos:
        _robustness_photos(a, data, conditions, tracker_options, venv, options_text)
    if clips:
        _robustness_clips(a, clips, video_conditions, tracker_options, venv, options_text)
    return 0


def _noisy(method, a: argparse.Namespace):
    """``method`` (a TrackerMethod) with ``--output-noise`` put on its tracker's network outputs."""
    if a.output_noise:
        from .perturb import add_output_noise
        add_output_noise(method.tracker, a.output_noise, a.noise_seed)
    return method


def _robustness_photos(a, data: Path, conditions: list[str], tracker_options: dict, venv,
                       options_text: str) -> None:
    """The photo part of ``python -m bench robustness``: prints the table, writes
    robustness.json / .md into ``a.out`` when given."""

    from train.data import load_records
    from .accuracy import select_images
    from .methods import MediaPipeMethod, TrackerMethod
    from .robustness import run, table
    from .run import write_json
    images = select_images(load_records(data, "val"), a.images, a.seed, option="--images")
    methods = {"handtrack": (_noisy(TrackerMethod(static_image_mode=True, **tracker_options), a), "smoothed")}
    if venv:
        methods["mediapipe"] = (MediaPipeMethod(venv, static_image_mode=True, max_hands=2), "mediapipe")
    try:
        res = run(methods, images, conditions, a.seed)
    finally:
        for m, _ in methods.values():
            m.close()
    text = table(res)
    print(f"{len(images)} hands21/val photos, {sum(len(i.keypoints) for i in images)} hands, static mode\n")
    print(text)
    if a.out is not None:
        # no hand found (no side accuracy): null, never a NaN token
        write_json(a.out / "robustness.json", {"images": len(images), "seed": a.seed, "results": res})
        (a.out / "robustness.md").write_text(
            f"# Robustness (`python -m bench robustness --images {a.images}{options_text}`)\n\n"
            f"{len(images)} hands21/val photos, static mode; PCK@0.1 counts a missed hand as wrong, "
            "'vs clean' is the PCK@0.1 as a share of the method's clean one.\n\n" + text + "\n", encoding="utf-8")


def _robustness_clips(a, clips: list[Path], video_conditions: list[str], tracker_options: dict, venv,
                      options_text: str) -> None:
    """The clips part of ``python -m bench robustness`` (``--videos``): prints the tables, writes
    robustness_videos.json / .md into ``a.out`` when given."""

    from .methods import MediaPipeMethod, TrackerMethod
    from .robustness import video_run, video_table
    from .run import write_json
    methods = {"handtrack": _noisy(TrackerMethod(**tracker_options), a)}
    if venv:
        methods["mediapipe"] = MediaPipeMethod(venv, static_image_mode=False, max_hands=2)
    try:
        vres = video_run(methods, clips, video_conditions, a.video_frames, a.seed)
    finally:
        for m in methods.values():
            m.close()
    text = video_table(vres)
    print(f"\n{len(clips)} clips, video mode: {', '.join(video_conditions)}\n")
    print(text)
    if a.out is not None:
        write_json(a.out / "robustness_videos.json", {"clips": [c.name for c in clips], "video_frames": a.video_frames,
                                                      "seed": a.seed, "results": vres})
        (a.out / "robustness_videos.md").write_text(
            f"# Robustness on video clips (`python -m bench robustness --no-photos --videos "
            f"{','.join(a.videos)}{f' --video-frames {a.video_frames}' if a.video_frames else ''} "
            f"--video-conditions {','.join(video_conditions)}{options_text}`)\n\n"
            "No labels: hands per frame counts false hands too; compare a condition with the same clip "
            "clean. Keypoints are mapped back to the clip's own pixels; turning does not mirror, so a side "
            "change inside a track is an error on a turned clip too.\n\n" + text + "\n", encoding="utf-8")


def _clips(p: argparse.ArgumentParser, shared: Path, videos: tuple[str, ...]) -> list[Path]:
    """The clips of ``--videos`` ("all": every .mp4 under ``<shared>/videos``; else each a path to a
    file of one's own or a clip name there), each file once; a missing clip, or two clips of one file
    name, is a parser error. Results are keyed by file name: a clip named twice would run twice (the
    second run overwriting the first), and two files of one name would share one row."""
    folder = shared / "videos"
    clips = (sorted(folder.glob("*.mp4")) if videos == ("all",) else
             [Path(n) if Path(n).is_file() else folder / n for n in videos])
    missing = [str(c) for c in clips if not c.is_file()]
    if missing or not clips:
        p.error(f"--videos: no such clip(s) {missing or [str(folder / '*.mp4')]}")
    first: dict[Path, Path] = {}
    for c in clips:
        first.setdefault(c.resolve(), c)                      # each file as first given, in order
    clips = list(first.values())
    names = [c.name for c in clips]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        p.error(f"--videos: two clips named {', '.join(twice)} (clips are reported by file name)")
    for c in clips:
        why = _video_problem(c)
        if why:
            p.error(f"--videos {c}: {why}")
    return clips


def _factors(text: str) -> tuple[float, ...]:
    """argparse type of --factors: a comma list of rate factors in (0, 100], each once, in order."""
    out = tuple(dict.fromkeys(_floats(text)))
    # past 100 even a 100 fps clip leaves the tracker's frame_rate range
    if max(out) > 100:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers in (0, 100], got {text!r}")
    return out


def _seconds(text: str) -> float:
    """argparse type of --blackout: seconds >= 0 (0: off)."""
    try:
        v = float(text)
    except ValueError:
        v = math.nan                        # refused below, with the same message
    if not 0 <= v < math.inf:
        raise argparse.ArgumentTypeError(f"expected seconds >= 0 (0: off), got {text!r}")
    return v


def frame_rate_main(argv: list[str]) -> int:
    from tracker.hand_tracker import MAX_FRAME_RATE, MIN_FRAME_RATE
    from tracker.cli import positive_int
    from .frame_rate import __doc__ as doc, markdown, run, write
    p = argparse.ArgumentParser(prog="python -m bench frame-rate", description=doc,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--shared", type=Path, default=DEFAULT_SHARED, help=f"shared data folder (videos/); {_SHARED_HELP}")
    p.add_argument("--videos", type=_names, default=("all",), metavar="all|CLIP,...",
                   help="all of <shared>/videos (default), or names there, or paths to video files")
    p.add_argument("--video-frames", type=positive_int("--video-frames"), default=None, metavar="N",
                   help="first N frames of each clip (default: all)")
    p.add_argument("--factors", type=_factors, default=(0.5, 1.0, 2.0),
                   help="frame-rate factors, comma list (default 0.5,1,2: every other frame dropped, as is, "
                        "every frame shown twice); each clip's rate times a factor must be in the tracker's "
                        f"frame_rate range, {MIN_FRAME_RATE:g} to {MAX_FRAME_RATE} fps")
    p.add_argument("--blackout", type=_seconds, default=0.3, metavar="S",
                   help="seconds blacked out from each clip's middle in a second play (default 0.3; 0: off)")
    p.add_argument("--threads", type=_thread_count(), default=2,
                   help=f"tracker threads (default 2, at most {MAX_THREADS})")
    p.add_argument("--out", type=Path, default=None, help="folder for frame_rate.json and .md (default: print only)")
    a = p.parse_args(argv)
    clips = _clips(p, a.shared, a.videos)
    from tracker.video import FrameSource
    for c in clips:
        # a play's rate is the tracker's frame_rate: out of its range the play failed after the others
        fps = FrameSource(c).fps
        bad = [f for f in a.factors if not MIN_FRAME_RATE <= fps * f <= MAX_FRAME_RATE]
        if bad:
            p.error(f"--factors {bad[0]:g}: {c.name} ({fps:g} fps) would play at {fps * bad[0]:g} fps, outside the "
                    f"tracker's frame_rate range [{MIN_FRAME_RATE:g}, {MAX_FRAME_RATE}]")
    if a.out is not None:
        # made before the run: a folder that cannot be made failed only after minutes of playing
        try:
            a.out.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            p.error(f"--out: {a.out} is not a folder that can be written ({e.strerror})")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        datefmt="%H:%M:%S")
    res = run(clips, a.factors, a.blackout, a.threads, a.video_frames)
    print(markdown(res))
    if a.out is not None:
        command = " ".join(["python -m bench frame-rate", *argv])
        write(res, a.out, command)
    return 0


def soak_main(argv: list[str]) -> int:
    from tracker.cli import positive_int
    p = argparse.ArgumentParser(prog="python -m bench soak", description="memory soak of the tracker")
    _source_args(p, "default: the first shared video")
    p.add_argument("--synthetic", action="store_true",
                   help="loop a synthetic 2-hand clip with ground-truth detections instead of a video "
                        "(tracks on every frame whatever the detector model finds)")
    # --frames 0 wrote a soak.json without samples (read back into REPORT.md) and then failed
    p.add_argument("--frames", type=positive_int("--frames"), default=100_000)
    p.add_argument("--threads", type=_thread_count(), default=2,
                   help=f"tracker threads (default 2, at most {MAX_THREADS})")
    p.add_argument("--sample-every", type=positive_int("--sample-every"), default=1000)
    p.add_argument("--out", type=Path, default=DEFAULT_OUT,
                   help=f"folder for soak.json and soak_rss.png ({_OUT_HELP})")
    a, given = _parse(p, argv)
    _refuse_unused(p, given, ("video", "size", "detector_model"), a.synthetic,
                   "does nothing with --synthetic (it loops its own clip with ground-truth detections)")
    if a.video is not None and not a.video.exists():
        p.error(f"--video: {a.video} does not exist")
    videos = sorted((a.shared / "videos").glob("*.mp4"))
    if a.synthetic and not (a.shared / "data" / "hands21").exists():
        p.error(f"no data/hands21 under --shared {a.shared} (--synthetic cuts its hands from those photos)")
    if not a.synthetic and a.video is None and not videos:
        p.error(f"no videos/*.mp4 under --shared {a.shared}: give --video or --synthetic")
    video = a.video or (videos[0] if videos else None)
    why = not a.synthetic and _video_problem(video)
    if why:
        p.error(f"--video {video}: {why}")
    w, h = a.size
    if not a.synthetic:
        from .soak import LOOP_FRAMES
        _fits_in_memory(p, f"--size {w}x{h}", LOOP_FRAMES * w * h * 3)    # the frames looped, held decoded
    _check_out_folder(p, a.out)     # before the soak, not when its results are written
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        datefmt="%H:%M:%S")
    from .run import fmt_figure
    from .soak import run
    opts = _model_options(a)
    print(f"soak.json and soak_rss.png go to {a.out}", flush=True)    # said first: a soak runs for long
    r = run(video, a.frames, a.threads, w, h, a.sample_every, out=a.out, tracker_options=opts,
            synthetic_from=a.shared if a.synthetic else None)
    video = Path("synthetic") if a.synthetic else video
    print(f"soak {video.name} {w}x{h} {a.threads} thread(s): {r.frames} frames, {r.seconds:.0f} s, "
          f"hands on {100.0 * r.hand_frames / max(r.frames, 1):.0f}% of frames, "
          f"RSS {r.samples[0][1]:.1f} -> {r.samples[-1][1]:.1f} MiB, growth after warm-up "
          # n/a, not nan: a short soak has too few samples for a growth or a slope
          f"{fmt_figure(r.growth_mib, 1)} MiB, slope {fmt_figure(r.slope_mib_per_10k, 2)} MiB/10k frames")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    sys.exit(main())
