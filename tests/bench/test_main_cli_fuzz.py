"""Seeded audit of the ``python -m bench`` command lines (session 42): the run command and its
sub-commands live, models, soak, robustness, frame-rate and train-step.

No benchmark runs here. Each command line is either refused before any timing starts, or reaches a
stand-in for the command's work (``bench.live.run``, ``bench.models.run``, ``bench.soak.run``,
``bench.frame_rate.run``, the robustness parts, ``Bench.run``, train-step's child process) that
records what it was given and stops. The few real runs use a generated 3-frame 64x48 clip, three
224x224 photos as hands21/val, one thread, ``--no-mediapipe`` and the shipped models.

What must hold for every command line (``main(argv)`` in-process):

- status 0 (here: the work was reached) or 2, never a Python traceback;
- status 2: exactly one ``error:`` line, naming the option (and its value, when argparse saw it);
- a value that is accepted reaches the work as given (not clamped, not ignored), and the tracker
  options of the run command are ones a tracker accepts;
- result files (results.json, soak.json, robustness*.json, frame_rate.json) hold no NaN/Infinity;
- a run that fails leaves the last report as it was; no input is overwritten.

Tables: every numeric option with 0, negative, nan, +-inf, 1e308, 10**30, text and in-range values;
``--only`` with unknown, empty, repeated and differently-cased parts; path options (missing, a file
for a folder and back, a text file as a video or an ONNX model, ``--out`` at an input or inside the
shared data). A seeded sampler then draws combinations (a case is reproduced from its number:
``draw_case(random.Random(SEED * 1000 + case))``). Known bugs are strict xfails, one line each (the
52 of session 42 are fixed: their values are now ``bad`` in the tables, refused at parse time).
Permission cases are left out (the tests may run as root).
"""
from __future__ import annotations

import hashlib
import inspect
import json
import random
import shutil
import subprocess
import types
from pathlib import Path

import cv2
import numpy as np
import pytest

import bench.__main__ as cli
import bench.frame_rate
import bench.live
import bench.mediapipe_runner as mpr
import bench.models
import bench.soak
import bench.train_step
from bench.run import Bench

SEED = 42
N_CASES = 150
HUGE = str(10**30)
OLD = b'{"old": "report"}\n'
REAL_ENSURE_VENV = mpr.ensure_venv


# -- inputs, made once: a fake shared folder ------------------------------------------------------
def _write_clip(path: Path, n: int = 3, w: int = 64, h: int = 48) -> None:
    wr = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 30, (w, h))
    assert wr.isOpened()
    for i in range(n):
        frame = np.full((h, w, 3), 60 + 40 * i, np.uint8)
        cv2.rectangle(frame, (10 + 4 * i, 10), (30 + 4 * i, 40), (0, 200, 255), -1)
        wr.write(frame)
    wr.release()


def _write_hands21(folder: Path, n: int = 3) -> None:
    """``n`` 224x224 photos with one labelled 21-point hand each, as a COCO val.json (large enough
    for the motion part's sprites)."""
    rng = np.random.default_rng(0)
    (folder / "images").mkdir(parents=True)
    images, anns = [], []
    ang = np.linspace(0, 2 * np.pi, 21, endpoint=False)
    kp = np.stack([112 + 70 * np.cos(ang), 112 + 70 * np.sin(ang)], 1)
    for i in range(n):
        img = rng.integers(0, 255, (224, 224, 3), dtype=np.uint8)
        assert cv2.imwrite(str(folder / f"images/{i}.png"), img)
        images.append({"id": i, "file_name": f"images/{i}.png", "width": 224, "height": 224})
        anns.append({"id": i, "image_id": i, "keypoints": np.c_[kp, np.ones(21)].ravel().tolist(),
                     "handedness": "right" if i % 2 else "left", "handedness_score": 1.0})
    (folder / "val.json").write_text(json.dumps({"images": images, "annotations": anns, "categories": []}))


@pytest.fixture(scope="module")
def shared(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("s42bench_shared")
    (root / "videos").mkdir()
    _write_clip(root / "videos" / "clip.mp4")
    _write_hands21(root / "data" / "hands21")
    (root / "notes.mp4").write_text("text, not a video\n")
    (root / "notes.onnx").write_text("text, not an ONNX model\n")
    (root / "empty").mkdir()
    cap = cv2.VideoCapture(str(root / "videos" / "clip.mp4"))
    assert cap.read()[0]
    cap.release()
    return root


@pytest.fixture
def out(tmp_path) -> Path:
    return tmp_path / "out"


@pytest.fixture(autouse=True)
def no_mediapipe_venv(monkeypatch):
    """Never build MediaPipe's venv (pip): every command line here says --no-mediapipe; a call
    would show in ``calls``."""
    calls = []
    monkeypatch.setattr(mpr, "ensure_venv", lambda *a, **k: calls.append((a, k)))
    yield calls
    assert not calls, f"ensure_venv called: {calls}"


# -- running a command line -----------------------------------------------------------------------
class Reached(Exception):
    """Raised by the stand-ins for a command's work: the command line was accepted."""

    def __init__(self, what: str, payload: dict) -> None:
        super().__init__(what)
        self.what, self.payload = what, payload


class Outcome:
    def __init__(self, status, out: str, err: str, exc: BaseException | None, payload: dict | None):
        self.status, self.out, self.err, self.exc, self.payload = status, out, err, exc, payload

    def lines(self) -> list[str]:
        return [x for x in self.err.splitlines() if x.strip()]

    def error_lines(self) -> list[str]:
        return [x for x in self.lines() if "error:" in x]

    def describe(self, argv) -> str:
        last = self.lines()[-1] if self.lines() else ""
        return f"argv {argv}\nstatus {self.status!r} exc {self.exc!r}\nlast stderr line: {last}"


def _stub(name: str, func):
    sig = inspect.signature(func)

    def stand_in(*args, **kwargs):
        raise Reached(name, dict(sig.bind(*args, **kwargs).arguments))
    return stand_in


@pytest.fixture
def stubs(monkeypatch):
    """The commands' work replaced by :class:`Reached` (argument checks before it still run)."""
    for mod in (bench.live, bench.models, bench.soak, bench.frame_rate):
        monkeypatch.setattr(mod, "run", _stub(mod.__name__, mod.run))
    monkeypatch.setattr(cli, "_robustness_photos", _stub("photos", cli._robustness_photos))
    monkeypatch.setattr(cli, "_robustness_clips", _stub("clips", cli._robustness_clips))
    monkeypatch.setattr(Bench, "run", lambda self: (_ for _ in ()).throw(Reached("bench", {"cfg": self.cfg})))

    def child(cmd, **kw):                  # train-step's step process: run() checked its arguments
        net, alloc, threads, batch, steps = json.loads(cmd[-1])
        raise Reached("train-step", {"net": net, "allocator": alloc, "threads": threads,
                                     "batch": batch, "steps": steps})
    monkeypatch.setattr(bench.train_step, "subprocess", types.SimpleNamespace(run=child))


def call(argv: list[str], capsys) -> Outcome:
    capsys.readouterr()
    exc = payload = None
    try:
        status = cli.main(argv)
    except SystemExit as e:
        status = e.code
    except Reached as r:
        status, payload = "reached", r.payload
    except Exception as e:  # noqa: BLE001 - a traceback is what the audit looks for
        status, exc = "traceback", e
    o = capsys.readouterr()
    return Outcome(status, o.out, o.err, exc, payload)


def _value_texts(value: str) -> list[str]:
    texts = [value, repr(value)]
    try:
        texts.append(str(float(value)))
    except ValueError:
        pass
    return texts


def assert_refused(o: Outcome, argv, options, value: str | None = None) -> None:
    """Status 2, one error line naming one of ``options`` (and ``value`` where given)."""
    where = o.describe(argv)
    assert o.exc is None and o.status == 2, where
    errors = o.error_lines()
    assert len(errors) == 1, f"{where}\nerror lines: {errors}"
    line = errors[0]
    options = [options] if isinstance(options, str) else options
    assert any(opt in line for opt in options), f"{where}\nno option of {options} named"
    if value is not None and not line.endswith("expected one argument"):
        assert any(t in line for t in _value_texts(value)), f"{where}\nvalue {value!r} not named"


def assert_no_nan_json(path: Path) -> None:
    def bad(token):
        raise AssertionError(f"{path.name}: {token} in a JSON file")
    json.loads(path.read_text(encoding="utf-8"), parse_constant=bad)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# -- option tables ------------------------------------------------------------------------------
# a pool: text -> kind; kind "ok" (must be accepted as given), "bad" (must be refused), "either"
# (refused, or accepted as given), or a reason string: a known bug (strict xfail: must be refused)
def _count(huge="either"):
    return {"1": "ok", "3": "ok", "0": "bad", "-1": "bad", "nan": "bad", "inf": "bad", "-inf": "bad",
            "1e308": "bad", "abc": "bad", "": "bad", "2.5": "bad", HUGE: huge}


def _count0(huge="either"):
    return {**_count(huge), "0": "ok"}


UNIT = {"0": "ok", "0.5": "ok", "1": "ok", "-1": "bad", "1.5": "bad", "nan": "bad", "inf": "bad", "-inf": "bad",
        "1e308": "bad", HUGE: "bad", "abc": "bad", "": "bad"}
UNIT_NONE = {**UNIT, "none": "ok", "None": "ok"}
POS_NONE = {"0.5": "ok", "20": "ok", "none": "ok", "0": "bad", "-1": "bad", "nan": "bad", "inf": "bad",
            "-inf": "bad", "abc": "bad", "": "bad", "1e308": "either", HUGE: "either"}
TURNS = {"1": "ok", "2": "ok", "4": "ok", "0": "bad", "3": "bad", "-1": "bad", "nan": "bad", "inf": "bad",
         "abc": "bad", "": "bad", "2.0": "bad", HUGE: "bad"}


def _ints(huge):
    return {"1": "ok", "1,2": "ok", "2,1": "ok", "1,1": "ok", "0": "bad", "-1": "bad", "1,0": "bad",
            "nan": "bad", "inf": "bad", "1e308": "bad", "abc": "bad", "": "bad", ",": "bad", HUGE: huge}


def _sizes(one: bool, huge):
    pool = {"64x48": "ok", "64X48": "ok", "0x0": "bad", "-64x48": "bad", "64x0": "bad", "nanxnan": "bad",
            "infx48": "bad", "1e308x48": "bad", "abc": "bad", "": "bad", "x": "bad", "64x48x2": "bad",
            f"{HUGE}x48": huge}
    pool["64x48,32x24"] = "bad" if one else "ok"
    return pool



# (command, option) -> (pool, getter(payload) -> value as it reached the work, expected(text))
MAIN_PARTS = {"--accuracy-images": "accuracy", "--seed": "accuracy", "--threads": "accuracy",
              "--motion-clips": "motion", "--motion-frames": "motion",
              "--video-frames": "videos", "--speed-frames": "speed", "--speed-sizes": "speed",
              "--speed-threads": "speed"}
TRACKER_OPTS = {"--min-detection-confidence": "min_detection_confidence", "--detector-interval": "detector_interval",
                "--detector-turns": "detector_turns", "--side-lock": "side_lock",
                "--low-detection-confidence": "low_detection_confidence", "--refine-score": "refine_score"}
PART_PREFIX = {"accuracy": ["--accuracy-images", "1", "--threads", "1"],
               "motion": ["--motion-clips", "1", "--motion-frames", "3", "--no-oracle", "--threads", "1"],
               "videos": ["--video-frames", "3", "--threads", "1"],
               "speed": ["--speed-frames", "1", "--speed-sizes", "64x48", "--speed-threads", "1"]}


def _int(t):
    return int(t)


def _float_or_none(t):
    return None if t.strip().lower() == "none" else float(t)


def _int_tuple(t):
    return tuple(dict.fromkeys(int(x) for x in t.split(",") if x.strip()))


def _size_tuple(t):
    return tuple(dict.fromkeys(tuple(int(v) for v in s.lower().split("x")) for s in t.split(",")))


def _float_tuple(t):
    return tuple(dict.fromkeys(float(x) for x in t.split(",") if x.strip()))


def _tracker_opt(key):
    return lambda p: p["cfg"].tracker_options[key]


SPECS: dict[tuple[str, str], tuple[dict, object, object]] = {
    ("run", "--accuracy-images"): (_count0(), lambda p: p["cfg"].accuracy_images,
                                   lambda t: int(t) or None),
    ("run", "--seed"): (_count0(), lambda p: p["cfg"].seed, _int),
    # 10**30: above the tracker's MAX_THREADS / MAX_COUNT, or clips that do not fit in memory
    ("run", "--threads"): (_count("bad"), lambda p: p["cfg"].threads, _int),
    ("run", "--motion-clips"): (_count("bad"), lambda p: p["cfg"].motion_clips, _int),
    ("run", "--motion-frames"): (_count("bad"), lambda p: p["cfg"].motion_frames, _int),
    ("run", "--video-frames"): (_count(), lambda p: p["cfg"].video_frames, _int),
    ("run", "--speed-frames"): (_count(), lambda p: p["cfg"].speed_frames, _int),
    ("run", "--speed-sizes"): (_sizes(False, "bad"), lambda p: p["cfg"].speed_sizes, _size_tuple),
    ("run", "--speed-threads"): (_ints("bad"), lambda p: p["cfg"].speed_threads, _int_tuple),
    ("run", "--min-detection-confidence"): (UNIT, _tracker_opt("min_detection_confidence"), float),
    ("run", "--detector-interval"): (_count("bad"), _tracker_opt("detector_interval"), _int),
    ("run", "--detector-turns"): (TURNS, _tracker_opt("detector_turns"), _int),
    ("run", "--side-lock"): (POS_NONE, _tracker_opt("side_lock"), _float_or_none),
    ("run", "--low-detection-confidence"): (UNIT_NONE, _tracker_opt("low_detection_confidence"), _float_or_none),
    ("run", "--refine-score"): (UNIT, _tracker_opt("refine_score"), float),
    ("live", "--fps"): ({"30": "ok", "30,15": "ok", "0": "bad", "-1": "bad", "1e-300": "bad", "nan": "bad",
                         "inf": "bad", "-inf": "bad", "abc": "bad", "": "bad", ",": "bad",
                         "1e308": "bad", HUGE: "bad"},
                        lambda p: tuple(p["fps_list"]), _float_tuple),
    ("live", "--seconds"): ({"0.1": "ok", "1": "ok", "0": "bad", "-1": "bad", "nan": "bad", "inf": "bad",
                             "-inf": "bad", "abc": "bad", "": "bad", HUGE: "either", "1e308": "bad"},
                            lambda p: p["seconds"], float),
    ("live", "--buffers"): (_count(), lambda p: p["buffers"], _int),
    ("live", "--threads"): (_count("bad"), lambda p: p["threads"], _int),
    ("live", "--size"): (_sizes(True, "bad"), lambda p: tuple(p["size"]), lambda t: _size_tuple(t)[0]),
    ("models", "--threads"): (_ints("bad"), lambda p: tuple(p["threads"]), _int_tuple),
    ("models", "--reps"): (_count(), lambda p: p["reps"], _int),
    ("models", "--size"): (_sizes(True, "bad"), lambda p: (p["frame"].shape[1], p["frame"].shape[0]),
                           lambda t: _size_tuple(t)[0]),
    ("soak", "--frames"): (_count(), lambda p: p["n_frames"], _int),
    ("soak", "--threads"): (_count("bad"), lambda p: p["threads"], _int),
    ("soak", "--sample-every"): (_count(), lambda p: p["sample_every"], _int),
    ("soak", "--size"): (_sizes(True, "bad"), lambda p: (p["width"], p["height"]), lambda t: _size_tuple(t)[0]),
    ("robustness", "--images"): (_count(), lambda p: p["a"].images, _int),
    ("robustness", "--threads"): (_count("bad"), lambda p: p["tracker_options"]["threads"], _int),
    ("robustness", "--seed"): (_count0(), lambda p: p["a"].seed, _int),
    ("robustness", "--detector-turns"): (TURNS, lambda p: p["a"].detector_turns, _int),
    ("robustness", "--video-frames"): (_count(), lambda p: p["a"].video_frames, _int),
    ("frame-rate", "--video-frames"): (_count(), lambda p: p["video_frames"], _int),
    ("frame-rate", "--factors"): ({"1": "ok", "0.5,2": "ok", "100": "ok", "0": "bad", "-1": "bad", "nan": "bad",
                                   "inf": "bad", "-inf": "bad", "101": "bad", "1e308": "bad", HUGE: "bad",
                                   "abc": "bad", "": "bad", ",": "bad",
                                   "1e-5": "bad"},          # 30 fps x 1e-5: below the tracker's 0.001 fps
                                  lambda p: tuple(p["factors"]), _float_tuple),
    ("frame-rate", "--blackout"): ({"0": "ok", "0.3": "ok", "1e308": "ok", HUGE: "either", "-1": "bad",
                                    "nan": "bad", "inf": "bad", "-inf": "bad", "abc": "bad", "": "bad"},
                                   lambda p: p["blackout_s"], float),
    ("frame-rate", "--threads"): (_count("bad"), lambda p: p["threads"], _int),
    ("train-step", "--rounds"): (_count(), None, None),
    ("train-step", "--steps"): ({"3": "ok", "10": "ok", "2": "bad", "0": "bad", "-1": "bad", "nan": "bad",
                                 "inf": "bad", "1e308": "bad", "abc": "bad", "": "bad", HUGE: "either"},
                                lambda p: p["steps"], _int),
    ("train-step", "--threads"): (_count("bad"), lambda p: p["threads"], _int),
    ("train-step", "--batch-size"): (_count(), lambda p: p["batch"], _int),
    ("train-step", "--nets"): ({"landmarks": "ok", "bogus": "bad", "landmarks,bogus": "bad", "": "bad", ",": "bad"},
                               lambda p: p["net"], str),
    ("train-step", "--allocators"): ({"default": "ok", "keep": "ok", "jemalloc": "bad", "": "bad", ",": "bad"},
                                     lambda p: p["allocator"], str),
}


def prefix(command: str, option: str, shared: Path, out: Path) -> list[str]:
    """The smallest settings of ``command``, with what ``option`` needs to take effect."""
    s, clip = str(shared), str(shared / "videos" / "clip.mp4")
    if command == "run":
        part = MAIN_PARTS.get(option, "videos")
        return ["--shared", s, "--out", str(out), "--no-mediapipe", "--no-plots", "-q", "--only", part,
                *PART_PREFIX[part]]
    if command == "live":
        return ["live", "--shared", s, "--video", clip, "--size", "64x48", "--threads", "1", "--seconds", "0.1",
                "--fps", "30"]
    if command == "models":
        return ["models", "--shared", s, "--size", "64x48", "--threads", "1", "--reps", "1"]
    if command == "soak":
        return ["soak", "--shared", s, "--video", clip, "--size", "64x48", "--threads", "1", "--frames", "2",
                "--out", str(out)]
    if command == "robustness":
        base = ["robustness", "--shared", s, "--no-mediapipe", "--threads", "1"]
        return base + (["--no-photos", "--videos", "clip.mp4", "--video-conditions", "clean"]
                       if option == "--video-frames" else ["--images", "1", "--conditions", "clean"])
    if command == "frame-rate":
        return ["frame-rate", "--shared", s, "--threads", "1", "--blackout", "0", "--factors", "1"]
    assert command == "train-step"
    return ["train-step", "--rounds", "1", "--steps", "3", "--threads", "1", "--batch-size", "1",
            "--nets", "landmarks", "--allocators", "default"]


def _table_cases():
    for (command, option), (pool, _, _) in SPECS.items():
        for value, kind in pool.items():
            marks = [pytest.mark.xfail(strict=True, reason=kind)] if kind not in ("ok", "bad", "either") else []
            yield pytest.param(command, option, value, id=f"{command} {option}={value or '<empty>'}", marks=marks)


def check_case(o: Outcome, argv, command: str, option: str, value: str, kind: str) -> None:
    """The table's rule for one (option, value): see the pools above."""
    _, getter, expected = SPECS[(command, option)]
    if kind == "ok" or (kind == "either" and o.status == "reached"):
        assert o.status == "reached" and o.exc is None, o.describe(argv)
        if getter is not None:
            got, want = getter(o.payload), expected(value)
            assert got == want, f"{o.describe(argv)}\n{option} {value!r} reached the work as {got!r}, not {want!r}"
        if command == "run" and option in TRACKER_OPTS:
            # the run builds its trackers inside each part and turns a refusal into an empty report
            Bench(o.payload["cfg"]).tracker(static=False).close()
    else:
        assert_refused(o, argv, option, value)


@pytest.mark.parametrize("command, option, value", list(_table_cases()))
def test_numeric_option_table(command, option, value, shared, out, stubs, capsys):
    kind = SPECS[(command, option)][0][value]
    argv = [*prefix(command, option, shared, out), option, value]
    check_case(call(argv, capsys), argv, command, option, value, kind)


# -- --only ------------------------------------------------------------------------------------
@pytest.mark.parametrize("value, parts", [
    ("accuracy", ("accuracy",)), ("speed,accuracy", ("speed", "accuracy")), (" videos , motion ", ("videos", "motion")),
    ("videos,videos", ("videos",)), ("accuracy,,speed", ("accuracy", "speed")),
    ("", "''"), (",", "','"), ("bogus", "bogus"), ("Accuracy", "Accuracy"), ("VIDEOS", "VIDEOS"),
    ("accuracy,bogus", "bogus"), ("all", "all"), ("accuracy speed", "accuracy speed"),
])
def test_only(value, parts, shared, out, stubs, capsys):
    """Parts are exact names (case counts), each run once in the order given; a refusal names the
    unknown part."""
    argv = ["--shared", str(shared), "--out", str(out), "--no-mediapipe", "--only", value]
    o = call(argv, capsys)
    if isinstance(parts, str):
        assert_refused(o, argv, "--only")
        assert parts in o.error_lines()[0], o.describe(argv)
    else:
        assert o.status == "reached" and o.payload["cfg"].parts == parts, o.describe(argv)


# -- path options -------------------------------------------------------------------------------
def _path_cases():
    """(argv, the option the error line must name or None where the line is accepted, a part of
    the value it must name)."""
    S = "{S}"
    clip, text, empty = f"{S}/videos/clip.mp4", f"{S}/notes.mp4", f"{S}/empty"
    run = ["--shared", S, "--out", "{O}", "--no-mediapipe", "--no-plots", "-q", "--only", "videos"]
    cases = [
        (run + ["--landmark-model", f"{S}/missing.onnx"], "--landmark-model", "missing.onnx"),
        (run + ["--detector-model", empty], "--detector-model", "empty"),
        (["--shared", f"{S}/nowhere", "--out", "{O}", "--only", "videos"], "--shared", "nowhere"),
        (["--shared", clip, "--out", "{O}", "--only", "speed"], "--shared", "clip.mp4"),
        (["--shared", f"{S}/empty", "--out", "{O}", "--only", "accuracy"], "--shared", "empty"),
        (["soak", "--shared", S, "--video", f"{S}/missing.mp4", "--out", "{O}"], "--video", "missing.mp4"),
        (["soak", "--shared", S, "--video", empty, "--out", "{O}"], "--video", "empty"),
        (["live", "--shared", S, "--video", f"{S}/missing.mp4"], "--video", "missing.mp4"),
        (["models", "--shared", S, "--video", text], "--video", "notes.mp4"),
        (["models", "--shared", S, "--video", empty], "--video", "empty"),
        (["models", "--shared", S, "--landmark-model", empty], "--landmark-model", "empty"),
        (["robustness", "--shared", S, "--no-mediapipe", "--out", f"{S}/notes.mp4"], "--out", "notes.mp4"),
        (["robustness", "--shared", S, "--no-mediapipe", "--out", f"{S}/nowhere"], "--out", "nowhere"),
        (["robustness", "--shared", S, "--no-mediapipe", "--no-photos", "--videos", "missing.mp4"], "--videos",
         "missing.mp4"),
        (["frame-rate", "--shared", S, "--videos", "missing.mp4"], "--videos", "missing.mp4"),
        (["frame-rate", "--shared", S, "--out", clip], "--out", "clip.mp4"),
        (["frame-rate", "--shared", S, "--videos", empty], "--videos", "empty"),
        (["frame-rate", "--shared", S, "--videos", ""], "--videos", None),
        # accepted: a path of one's own
        (["frame-rate", "--shared", S, "--videos", clip, "--factors", "1", "--threads", "1"], None, None),
        (["robustness", "--shared", S, "--no-mediapipe", "--no-photos", "--videos", clip], None, None),
    ]
    for argv, option, name in cases:
        yield pytest.param(argv, option, name, id=" ".join(argv[:1] + argv[-2:]).replace("{S}/", ""))


@pytest.mark.parametrize("argv, option, name", list(_path_cases()))
def test_path_options_before_any_work(argv, option, name, shared, out, stubs, capsys):
    argv = [a.replace("{S}", str(shared)).replace("{O}", str(out)) for a in argv]
    o = call(argv, capsys)
    if option is None:
        assert o.status == "reached", o.describe(argv)
    else:
        assert_refused(o, argv, option)
        if name:
            assert name in o.error_lines()[0], o.describe(argv)
    assert not out.exists() or option is None, "a refused run made its --out folder"


@pytest.mark.parametrize("argv", [
    ["soak", "--video", "{S}/notes.mp4", "--frames", "2", "--size", "64x48", "--threads", "1", "--out", "{O}"],
    ["live", "--video", "{S}/notes.mp4", "--seconds", "0.1", "--size", "64x48", "--threads", "1"],
    ["live", "--video", "{S}/empty", "--seconds", "0.1", "--size", "64x48", "--threads", "1"],
    ["robustness", "--no-mediapipe", "--no-photos", "--videos", "{S}/notes.mp4", "--threads", "1"],
    ["frame-rate", "--videos", "{S}/notes.mp4", "--factors", "1", "--threads", "1", "--out", "{O}"],
], ids=["soak", "live", "live-folder", "robustness", "frame-rate"])
def test_a_file_that_is_no_video_is_refused(argv, shared, out, capsys):
    argv = [argv[0], "--shared", str(shared), *[a.replace("{S}", str(shared)).replace("{O}", str(out))
                                                 for a in argv[1:]]]
    o = call(argv, capsys)
    assert_refused(o, argv, ["--video", "--videos"])


@pytest.mark.parametrize("part", ["videos", "speed"])
def test_a_shared_clip_that_is_no_video(part, shared, tmp_path, out, capsys):
    s2 = tmp_path / "shared2"
    (s2 / "videos").mkdir(parents=True)
    shutil.copy(shared / "videos" / "clip.mp4", s2 / "videos" / "clip.mp4")
    (s2 / "videos" / "zbad.mp4").write_text("text, not a video\n")
    argv = ["--shared", str(s2), "--out", str(out), "--no-mediapipe", "--no-plots", "-q", "--only", part,
            *PART_PREFIX[part]]
    o = call(argv, capsys)
    assert o.exc is None and o.status in (0, 2), o.describe(argv)
    said = o.err + ((out / "REPORT.md").read_text() if (out / "REPORT.md").exists() else "")
    assert "zbad.mp4" in said, o.describe(argv)


@pytest.mark.parametrize("argv", [
    ["soak", "--video", "{S}/videos/clip.mp4", "--frames", "2", "--size", "64x48", "--threads", "1", "--out", "{O}"],
    ["live", "--video", "{S}/videos/clip.mp4", "--seconds", "0.1", "--size", "64x48", "--threads", "1"],
    ["models", "--size", "64x48", "--threads", "1", "--reps", "1"],
    ["robustness", "--no-mediapipe", "--images", "1", "--conditions", "clean", "--threads", "1"],
], ids=["soak", "live", "models", "robustness"])
def test_a_file_that_is_no_onnx_model_is_refused(argv, shared, out, capsys):
    argv = [argv[0], "--shared", str(shared), *[a.replace("{S}", str(shared)).replace("{O}", str(out))
                                                 for a in argv[1:]], "--landmark-model", str(shared / "notes.onnx")]
    assert_refused(call(argv, capsys), argv, "--landmark-model", str(shared / "notes.onnx"))


def _old_report(out: Path) -> dict[str, str]:
    out.mkdir(parents=True, exist_ok=True)
    for name in ("results.json", "REPORT.md", "TABLE.md"):
        (out / name).write_bytes(OLD)
    return {name: _digest(out / name) for name in ("results.json", "REPORT.md", "TABLE.md")}


@pytest.mark.parametrize("option", ["--landmark-model", "--detector-model"])
def test_run_refuses_a_model_that_does_not_load_and_keeps_the_last_report(option, shared, out, capsys):
    before = _old_report(out)
    argv = ["--shared", str(shared), "--out", str(out), "--no-mediapipe", "--no-plots", "-q", "--only", "videos",
            *PART_PREFIX["videos"], option, str(shared / "notes.onnx")]
    o = call(argv, capsys)
    assert {n: _digest(out / n) for n in before} == before, o.describe(argv)
    assert_refused(o, argv, option)


@pytest.mark.parametrize("argv", [
    ["--threads", "0"],                                 # refused by argparse
    ["--only", "speed", "--speed-threads", "1,x"],
])
def test_a_refused_run_keeps_the_last_report(argv, shared, out, capsys):
    before = _old_report(out)
    argv = ["--shared", str(shared), "--out", str(out), "--no-mediapipe", "--no-plots", "-q", "--only", "videos",
            *argv]
    o = call(argv, capsys)
    assert o.status == 2 and {n: _digest(out / n) for n in before} == before, o.describe(argv)


def test_a_run_that_fails_in_a_part_keeps_the_last_report(shared, tmp_path, out, capsys):
    s2 = tmp_path / "shared2"
    (s2 / "videos").mkdir(parents=True)
    (s2 / "videos" / "zbad.mp4").write_text("text, not a video\n")
    before = _old_report(out)
    call(["--shared", str(s2), "--out", str(out), "--no-mediapipe", "--no-plots", "-q", "--only", "videos"], capsys)
    assert {n: _digest(out / n) for n in before} == before


@pytest.mark.parametrize("command, where", [("run", "clip"), ("run", "under-clip"), ("soak", "clip"),
                                            ("soak", "file")])
def test_out_that_is_a_file_is_refused_before_the_run(command, where, shared, tmp_path, capsys):
    s2 = tmp_path / "shared2"
    shutil.copytree(shared, s2)
    clip = s2 / "videos" / "clip.mp4"
    target = {"clip": clip, "under-clip": clip / "out", "file": s2 / "notes.onnx"}[where]
    before = _digest(clip), _digest(s2 / "notes.onnx")
    if command == "run":
        argv = ["--shared", str(s2), "--out", str(target), "--no-mediapipe", "--no-plots", "-q", "--only",
                "videos", *PART_PREFIX["videos"]]
    else:
        argv = ["soak", "--shared", str(s2), "--video", str(clip), "--frames", "2", "--size", "64x48",
                "--threads", "1", "--out", str(target)]
    o = call(argv, capsys)
    assert (_digest(clip), _digest(s2 / "notes.onnx")) == before
    assert_refused(o, argv, "--out")
    assert "soak.json" not in o.out, "refused only after the soak"


@pytest.mark.parametrize("command", ["robustness", "frame-rate"])
def test_out_at_an_input_clip_is_refused_and_the_clip_kept(command, shared, tmp_path, stubs, capsys):
    s2 = tmp_path / "shared2"
    shutil.copytree(shared, s2)
    clip = s2 / "videos" / "clip.mp4"
    before = _digest(clip)
    argv = [command, "--shared", str(s2), "--out", str(clip)] + (
        ["--no-mediapipe", "--no-photos", "--videos", "clip.mp4"] if command == "robustness" else [])
    assert_refused(call(argv, capsys), argv, "--out", str(clip))
    assert _digest(clip) == before


def test_run_with_out_inside_the_shared_data_keeps_the_inputs(shared, tmp_path, capsys):
    """The report beside the clips: written, and the clips and labels keep their bytes."""
    s2 = tmp_path / "shared2"
    shutil.copytree(shared, s2)
    inputs = {p: _digest(p) for p in s2.rglob("*") if p.is_file()}
    argv = ["--shared", str(s2), "--out", str(s2 / "videos"), "--no-mediapipe", "--no-plots", "-q", "--only",
            "videos", *PART_PREFIX["videos"]]
    o = call(argv, capsys)
    assert o.status == 0, o.describe(argv)
    assert {p: _digest(p) for p in inputs} == inputs
    assert (s2 / "videos" / "results.json").is_file()


def test_mp_venv_at_a_folder_of_ones_own_is_never_deleted(shared, tmp_path, monkeypatch, capsys):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "keep.txt").write_text("my data\n")

    def fake_run(cmd, **kw):               # python -m venv / pip install, without a network
        if cmd[1:3] == ["-m", "venv"]:
            (Path(cmd[3]) / "bin").mkdir(parents=True)
            (Path(cmd[3]) / "bin" / "python").write_text("fake")
        return subprocess.CompletedProcess(cmd, 0, "", "")
    monkeypatch.setattr(mpr, "ensure_venv", REAL_ENSURE_VENV)
    monkeypatch.setattr(mpr, "subprocess",
                        types.SimpleNamespace(run=fake_run, TimeoutExpired=subprocess.TimeoutExpired))
    monkeypatch.setattr(mpr, "check_venv", lambda v: (Path(v) / "bin" / "python").is_file())
    monkeypatch.setattr(cli, "_robustness_photos", lambda *a, **k: None)
    argv = ["robustness", "--shared", str(shared), "--images", "1", "--mp-venv", str(mine)]
    o = call(argv, capsys)
    assert o.exc is None and o.status in (0, 2), o.describe(argv)
    assert (mine / "keep.txt").is_file()


def _fake_venv_commands(monkeypatch, pip_ok: bool) -> None:
    """``python -m venv`` / ``pip install`` without a network: pip succeeds or fails."""
    def fake_run(cmd, **kw):
        if cmd[1:3] == ["-m", "venv"]:
            (Path(cmd[3]) / "bin").mkdir(parents=True)
            (Path(cmd[3]) / "bin" / "python").write_text("fake")
        return subprocess.CompletedProcess(cmd, 0 if pip_ok else 1, "", "" if pip_ok else "no network")
    monkeypatch.setattr(mpr, "subprocess",
                        types.SimpleNamespace(run=fake_run, TimeoutExpired=subprocess.TimeoutExpired))
    monkeypatch.setattr(mpr, "check_venv", lambda v: (Path(v) / "bin" / "python").is_file())


def test_mp_venv_creation_keeps_a_folder_of_ones_own_beside_it(tmp_path, monkeypatch):
    """The venv was built in ``<venv>.tmp``, emptied first with shutil.rmtree: a folder of that name
    was lost. A failed install removes only the folder it made."""
    _fake_venv_commands(monkeypatch, pip_ok=False)
    mine = tmp_path / "mp.tmp"
    mine.mkdir()
    (mine / "keep.txt").write_text("my data\n")
    assert REAL_ENSURE_VENV(tmp_path / "mp") is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mp.tmp"] and (mine / "keep.txt").is_file()


@pytest.mark.parametrize("empty", [False, True])
def test_mp_venv_is_built_where_there_is_nothing(empty, tmp_path, monkeypatch):
    """At a missing path or in an empty folder: built, and nothing else left beside it."""
    _fake_venv_commands(monkeypatch, pip_ok=True)
    venv = tmp_path / "cache" / "mp-venv"
    if empty:
        venv.mkdir(parents=True)
    assert REAL_ENSURE_VENV(venv) == venv and (venv / "bin" / "python").is_file()
    assert [p.name for p in venv.parent.iterdir()] == ["mp-venv"]


def test_null_figures_read_back_as_n_a(tmp_path):
    """robustness.json holds null where a condition found no hand (it held a NaN token); REPORT.md's
    robustness section says n/a there, as robustness.md does, not '-' (not measured)."""
    from bench.robustness import table
    from bench.run import jsonable, robustness_section
    res = {"clean": {"handtrack": {"pck@0.1": 0.5, "found_rate": 0.5, "handedness_acc": 1.0}},
           "dark": {"handtrack": {"pck@0.1": 0.0, "found_rate": 0.0, "handedness_acc": float("nan")}}}
    (tmp_path / "robustness.json").write_text(json.dumps(jsonable({"images": 1, "seed": 0, "results": res}),
                                                         allow_nan=False))
    assert json.loads((tmp_path / "robustness.json").read_text())["results"]["dark"]["handtrack"][
        "handedness_acc"] is None
    text = "\n".join(robustness_section(tmp_path))
    assert table(res) in text and "n/a" in text


# -- values accepted and then ignored or clamped without a word ------------------------------------
def _said(o: Outcome, caplog, option: str) -> bool:
    return o.status == 2 and option in "".join(o.error_lines()) or option in o.err + caplog.text


@pytest.mark.parametrize("extra, option", [
    (["--only", "accuracy", "--video-frames", "5"], "--video-frames"),
    (["--only", "videos", "--speed-sizes", "64x48"], "--speed-sizes"),
    (["--only", "videos", "--mp-venv", "{O}"], "--mp-venv"),          # with --no-mediapipe
])
def test_an_option_of_a_part_that_does_not_run_is_not_ignored(extra, option, shared, out, stubs, capsys, caplog):
    argv = ["--shared", str(shared), "--out", str(out), "--no-mediapipe",
            *[a.replace("{O}", str(out)) for a in extra]]
    assert _said(call(argv, capsys), caplog, option)


@pytest.mark.parametrize("argv, option", [
    (["--only", "accuracy", "--threads", "1", "--accuracy-images", HUGE], "--accuracy-images"),
    (["robustness", "--conditions", "clean", "--threads", "1", "--images", HUGE], "--images"),
])
def test_more_photos_than_there_are_is_not_silently_clamped(argv, option, shared, out, capsys, caplog):
    if argv[0] == "robustness":
        argv = ["robustness", "--shared", str(shared), "--no-mediapipe", *argv[1:]]
    else:
        argv = ["--shared", str(shared), "--out", str(out), "--no-mediapipe", "--no-plots", "-q", *argv]
    o = call(argv, capsys)
    assert o.exc is None and _said(o, caplog, option), o.describe(argv)


# -- result files hold no NaN/Infinity ------------------------------------------------------------
def test_results_json_of_a_tiny_run_is_strict_json(shared, out, capsys):
    argv = ["--shared", str(shared), "--out", str(out), "--no-mediapipe", "--no-plots", "-q", "--only",
            "videos,accuracy", *PART_PREFIX["videos"], "--accuracy-images", "1"]
    o = call(argv, capsys)
    assert o.status == 0, o.describe(argv)
    assert_no_nan_json(out / "results.json")


def test_frame_rate_json_of_a_tiny_run_is_strict_json(shared, out, capsys):
    argv = ["frame-rate", "--shared", str(shared), "--factors", "0.5,2", "--blackout", "0.05", "--threads", "1",
            "--out", str(out)]
    o = call(argv, capsys)
    assert o.status == 0, o.describe(argv)
    assert_no_nan_json(out / "frame_rate.json")


def test_soak_json_is_strict_json(shared, out, capsys):
    argv = ["soak", "--shared", str(shared), "--video", str(shared / "videos" / "clip.mp4"), "--frames", "2",
            "--size", "64x48", "--threads", "1", "--out", str(out)]
    o = call(argv, capsys)
    assert o.status == 0, o.describe(argv)
    assert_no_nan_json(out / "soak.json")


@pytest.mark.parametrize("extra, name", [
    (["--images", "1", "--conditions", "clean"], "robustness.json"),
    (["--no-photos", "--videos", "clip.mp4", "--video-conditions", "clean"], "robustness_videos.json"),
])
def test_robustness_json_is_strict_json(extra, name, shared, out, capsys):
    out.mkdir()
    argv = ["robustness", "--shared", str(shared), "--no-mediapipe", "--threads", "1", "--out", str(out), *extra]
    o = call(argv, capsys)
    assert o.status == 0, o.describe(argv)
    assert_no_nan_json(out / name)


# -- the seeded sampler --------------------------------------------------------------------------
def _pool_for_sampling(pool: dict) -> list[tuple[str, str]]:
    return [(v, k) for v, k in pool.items() if k in ("ok", "bad", "either")]


def draw_case(rng: random.Random) -> tuple[str, list[tuple[str, str, str]], str | None, bool]:
    """A command, 1-3 (option, value, kind) draws from its table (known bugs left out: they have
    their own xfails), the run command's part, and whether to write ``--opt=value``."""
    command = rng.choice(["run", "run", "run", "live", "models", "soak", "robustness", "frame-rate", "train-step"])
    options = [opt for (c, opt) in SPECS if c == command]
    part = None
    if command == "run":
        part = rng.choice(list(PART_PREFIX))
        options = [o for o in options if MAIN_PARTS.get(o, "tracker") in (part, "tracker")]
    if command == "robustness":
        options = [o for o in options if o != "--video-frames"]
    picked = rng.sample(options, min(len(options), rng.choice([1, 1, 2, 3])))
    draws = []
    for opt in picked:
        value, kind = rng.choice(_pool_for_sampling(SPECS[(command, opt)][0]))
        draws.append((opt, value, kind))
    return command, draws, part, rng.random() < 0.25


@pytest.mark.parametrize("case", range(N_CASES))
def test_random_command_line(case, shared, out, stubs, capsys):
    command, draws, part, eq = draw_case(random.Random(SEED * 1000 + case))
    base = prefix(command, draws[0][0], shared, out)
    if command == "run":
        base = ["--shared", str(shared), "--out", str(out), "--no-mediapipe", "--no-plots", "-q", "--only", part,
                *PART_PREFIX[part]]
    argv = list(base)
    for opt, value, _ in draws:
        argv += [f"{opt}={value}"] if eq else [opt, value]
    o = call(argv, capsys)
    label = f"case {case}: {o.describe(argv)}"
    assert o.exc is None and o.status in ("reached", 2), label
    bad = [(opt, v) for opt, v, k in draws if k == "bad"]
    if bad or o.status == 2:
        named = [opt for opt, v, k in draws if k in ("bad", "either")]
        assert named, f"{label}\nrefused, but every value was a good one"
        assert o.status == 2, f"{label}\naccepted a bad value: {bad}"
        errors = o.error_lines()
        assert len(errors) == 1 and any(opt in errors[0] for opt in named), f"{label}\nerror lines: {errors}"
        return
    last = {opt: (v, k) for opt, v, k in draws}          # argparse: the last of an option counts
    for opt, (value, kind) in last.items():
        check_case(o, argv, command, opt, value, kind)
    assert not out.exists() or command == "soak" or not any(out.iterdir()), f"{label}\nwrote into --out"


def test_the_sampler_draws_refused_and_accepted_lines():
    """The draws cover every command and both outcomes (a guard on the sampler itself)."""
    seen = set()
    for case in range(N_CASES):
        command, draws, _, _ = draw_case(random.Random(SEED * 1000 + case))
        seen.add((command, any(k == "bad" for _, _, k in draws)))
    assert {c for c, _ in seen} == {"run", "live", "models", "soak", "robustness", "frame-rate", "train-step"}
    assert {b for _, b in seen} == {True, False}


@pytest.mark.parametrize("where", ["marked", "default"])
def test_a_broken_venv_this_tool_made_is_rebuilt(where, tmp_path, monkeypatch):
    """A venv the bench made in an earlier run (its marker file inside, or at the default cache
    path) that no longer works is replaced by a new one; only a folder of one's own is left alone."""
    _fake_venv_commands(monkeypatch, pip_ok=True)
    venv = tmp_path / "cache" / "mp-venv"
    venv.mkdir(parents=True)
    (venv / "pyvenv.cfg").write_text("home = /gone\n")        # broken: no bin/python
    if where == "marked":
        (venv / mpr.VENV_MARKER).write_text("")
    else:
        monkeypatch.setenv("HANDTRACK_MP_VENV", str(venv))
    assert REAL_ENSURE_VENV(venv) == venv and (venv / "bin" / "python").is_file()
    assert (venv / mpr.VENV_MARKER).is_file() and not (venv / "pyvenv.cfg").exists()
    assert [p.name for p in venv.parent.iterdir()] == ["mp-venv"]


@pytest.mark.parametrize("extra", [["--video", "VIDEO"], ["--size", "64x48"], ["--detector-model", "DETECTOR"]])
def test_soak_synthetic_refuses_the_options_it_does_not_use(extra, shared, tmp_path, capsys):
    """soak --synthetic loops its own clip at its own size with ground-truth detections: --video,
    --size and --detector-model were taken and ignored without a word."""
    from tracker.backend import default_model_path
    values = {"VIDEO": str(shared / "videos" / "clip.mp4"), "DETECTOR": str(default_model_path("detector.onnx"))}
    argv = ["soak", "--shared", str(shared), "--synthetic", "--threads", "1", "--frames", "2",
            "--out", str(tmp_path / "o"), *[values.get(x, x) for x in extra]]
    o = call(argv, capsys)
    assert o.status == 2 and extra[0] in o.err and "--synthetic" in o.err, o.describe(argv)


@pytest.mark.parametrize("extra", [["--images", "5"], ["--conditions", "clean"]])
def test_robustness_no_photos_refuses_the_photo_options(extra, shared, capsys):
    """--images and --conditions set the photo part: with --no-photos they were taken and ignored."""
    argv = ["robustness", "--shared", str(shared), "--no-mediapipe", "--threads", "1", "--no-photos",
            "--videos", "clip.mp4", *extra]
    o = call(argv, capsys)
    assert o.status == 2 and extra[0] in o.err and "--no-photos" in o.err, o.describe(argv)


def test_speed_frames_that_do_not_fit_in_memory_are_refused(shared, tmp_path, capsys):
    """The speed part decodes --speed-frames of every clip at each size before timing: a count
    past the memory was taken and filled it."""
    argv = ["--shared", str(shared), "--out", str(tmp_path / "o"), "--no-mediapipe", "--no-plots", "-q",
            "--only", "speed", "--speed-frames", str(10 ** 9)]
    o = call(argv, capsys)
    assert o.status == 2 and "--speed-frames" in o.err and "memory" in o.err, o.describe(argv)
