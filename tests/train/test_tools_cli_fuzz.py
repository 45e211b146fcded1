"""Session 42 audit: argument handling of the smaller training tools' command lines.

``python -m train.evaluate`` (landmarks, detector with --calibrate, acquisition), ``train.pack``,
``train.prelabel``, ``train.mine``, ``train.widen``, ``train.sanity`` and ``train.curves``: each
``main(argv)`` runs in-process (SystemExit caught, stdout and stderr captured) on tiny inputs made
once per module (a COCO set of 3 + 4 photos, 4 photos with a label CSV, a tiny checkpoint, a
history, broken files) and copied into each test's folder; models are the shipped ONNX files.

What holds for every command line:

- exit status 0, or a refusal: one error line (the last line of stderr; argparse's usage may come
  before it) that names the option or path at fault and its value; never a Python traceback;
- a value that should be refused is refused before the work: the functions that do the work
  (decoding the photos, composing scenes, the evaluations, mining, training, re-encoding, drawing)
  are replaced by a guard for those cases, which also keeps a value such as ``--scenes 1e30`` from
  running for ever;
- a value that is accepted is used: the figures echo it (``--threshold``, ``--scenes``, ...), no
  silent clamp or default;
- nothing but the outputs is written: no input is, a refused run writes nothing, an output that
  existed before is either left alone or replaced by a complete one;
- JSON written or printed is strict (no NaN or Infinity).

Status 1 with one ``error: ...`` line (``SystemExit("error: ...")``, the training tools' way of
reporting a bad input or a run-time error, ``train.common.run_cli``) passes as a refusal here
(:data:`REFUSED`), as status 2 does (argparse: a bad option value, refused at parse time);
:func:`test_an_input_error_exits_with_status_1_and_one_error_line` holds that convention.

Table-driven: every numeric option with 0, -1, nan, inf, -inf, 1e308, 10**30, text and an
in-range value; every path option with a missing path, a file for a folder and the reverse, an
empty or corrupt file, an output that is an input, an output in a missing folder. Then a seeded
random sampler over option combinations (``draw_case(random.Random(SEED * 1000 + case))``
reproduces case ``case``); it leaves out the values of :data:`KNOWN` (tested on their own). Permission
cases are left out (the tests run as root). The 25 bugs this audit found (54 strict xfails) were
fixed in the same session; each case now holds the fix.
"""
from __future__ import annotations

import contextlib
import importlib
import io
import json
import math
import random
import re
import shutil
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
import pytest

from tests.train.test_pack import _set

ROOT = Path(__file__).resolve().parents[2]
ASSETS = ROOT / "assets"
SEED = 42
N_RANDOM = 40
HUGE_INT = str(10 ** 30)
GENERIC = ("0", "-1", "nan", "inf", "-inf", "1e308", HUGE_INT, "abc")
OLD = b"OLD CONTENT\n"
#: statuses of a refusal: 1 (``SystemExit("error: ...")``, an input or run-time error), 2 (a usage error)
REFUSED = (1, 2)


# --- the inputs, made once per module -----------------------------------------------------------

def _make_originals(root: Path) -> None:
    _set(root / "src", 3, 4)                                   # COCO train.json / val.json, 64x48 photos
    photos = root / "photos"
    photos.mkdir()
    pts = ",".join(f"{10.0 + v:.1f}" for v in range(34))      # 17 (x, y) inside the 96x96 photo
    rows = ["image,x0,y0"]
    for i in range(4):
        cv2.imwrite(str(photos / f"p{i}.png"), np.full((96, 96, 3), 30 + 40 * i, np.uint8))
        rows.append(f"p{i}.png,{pts}")
    (photos / "labels.csv").write_text("\n".join(rows) + "\n")
    (root / "empty.json").write_text("")
    (root / "trunc.json").write_text('{"images": [{"id": 1, "file_')
    (root / "notonnx.onnx").write_text("this is not a model\n")
    (root / "empty.onnx").write_bytes(b"")
    (root / "notck.pt").write_text("not a checkpoint\n")
    (root / "dir").mkdir()
    (root / "file.txt").write_text("a file, not a folder\n")
    import torch

    from train.model import LandmarkModelConfig, LandmarkNet
    cfg = LandmarkModelConfig(input_size=64, width=0.25, decoder_channels=8)
    torch.save({"model": LandmarkNet(cfg).state_dict(), "model_config": cfg.to_dict()}, root / "last.pt")
    hist = [{"minutes": m, "step": 100 * m, "pck10": 0.9 * m / 90, "pck05": 0.8 * m / 90} for m in (0, 30, 60, 90)]
    (root / "history.json").write_text(json.dumps(hist))
    out = root / "out"
    out.mkdir()
    for name in ("old.json", "old.png", "old.csv", "old.pt"):   # outputs of an earlier run
        (out / name).write_bytes(OLD)
    (out / "oldpack").mkdir()
    (out / "oldpack" / "keep.txt").write_bytes(OLD)


@pytest.fixture(scope="module")
def originals(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("s42_inputs")
    _make_originals(root)
    return root


class WS:
    """One test's copy of the inputs; the attributes are the paths the command lines use."""

    def __init__(self, root: Path, originals: Path) -> None:
        shutil.copytree(originals, root, copy_function=shutil.copyfile)   # no copystat: quicker
        self.root = root
        self.src = str(root / "src")
        self.csv = str(root / "photos" / "labels.csv")
        self.photos = str(root / "photos")
        self.p0 = str(root / "photos" / "p0.png")
        self.ck = str(root / "last.pt")
        self.hist = str(root / "history.json")
        self.out = str(root / "out")
        self.nope = str(root / "nope")
        self.dir = str(root / "dir")
        self.file = str(root / "file.txt")
        self.empty = str(root / "empty.json")
        self.trunc = str(root / "trunc.json")
        self.notonnx = str(root / "notonnx.onnx")
        self.emptyonnx = str(root / "empty.onnx")
        self.notck = str(root / "notck.pt")
        self.lm = str(ASSETS / "landmarks.onnx")
        self.det = str(ASSETS / "detector.onnx")

    def fill(self, args: list[str]) -> list[str]:
        return [a.format(**vars(self)) for a in args]


@pytest.fixture
def ws(originals, tmp_path) -> WS:
    return WS(tmp_path / "ws", originals)


# --- running a command in-process --------------------------------------------------------------

class _WorkStarted(BaseException):
    """Raised by a guard: the command began its work (a BaseException: no ``except`` on the way takes it)."""


# the functions that do each tool's work, guarded for the command lines that must be refused first
GUARDS = {
    "train.evaluate": ("ImageCache", "_scenes", "evaluate_landmarks", "evaluate_detector", "evaluate_acquisition",
                       "calibrate_threshold"),
    "train.pack": ("reencode",),
    "train.mine": ("ImageCache", "mine"),
    "train.sanity": ("ImageCache", "overfit"),
    "train.widen": ("save_checkpoint",),
    "train.prelabel": ("prelabel",),
    "train.curves": ("plot_runs",),
}


def _guard(name):
    def guard(*a, **k):
        raise _WorkStarted(name)
    return guard


def guard_work(monkeypatch, module: str) -> None:
    mod = importlib.import_module(module)
    for name in GUARDS[module]:
        monkeypatch.setattr(mod, name, _guard(name))
    if module == "train.pack":
        # pack() reads both annotation files, then lays out its part folders (--parts of them) before
        # the first re-encoding: reading them is where a value check must have happened
        monkeypatch.setattr(mod, "json", type("GuardedJson", (), {"loads": staticmethod(_guard("json.loads")),
                                                                   "dumps": staticmethod(json.dumps)}))


@dataclass
class Outcome:
    rc: int | None
    err: list[str]          # stderr's non-blank lines
    out: str
    exc: str | None = None  # an exception other than SystemExit, with its traceback
    work: str | None = None  # the guard that was reached


def run_tool(module: str, argv: list[str]) -> Outcome:
    main = importlib.import_module(module).main
    err, out = io.StringIO(), io.StringIO()
    res = Outcome(None, [], "")
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        try:
            rc = main(argv)
            res.rc = 0 if rc is None else rc
        except SystemExit as e:
            if e.code is None or isinstance(e.code, int):
                res.rc = e.code or 0
            else:                                   # the interpreter prints it and exits with 1
                print(e.code, file=err)
                res.rc = 1
        except _WorkStarted as e:
            res.work = str(e)
        except BaseException:                       # noqa: BLE001 - any of them is the finding
            res.exc = traceback.format_exc()
    res.err = [x for x in err.getvalue().splitlines() if x.strip()]
    res.out = out.getvalue()
    return res


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Size and modification time of every file: a write, even of the same bytes, changes it."""
    return {str(p): ((st := p.stat()).st_size, st.st_mtime_ns) for p in root.rglob("*") if p.is_file()}


def strict_json(text: str):
    def refuse(c):
        raise ValueError(f"{c} in JSON")
    return json.loads(text, parse_constant=refuse)


def _value_forms(value: str) -> list[str]:
    forms = [value]
    try:
        f = float(value)
        forms += [repr(f), f"{f:g}"]
    except ValueError:
        pass
    return forms


def names(line: str, culprit: str) -> bool:
    """Whether an error line names ``culprit``: an option (``--x`` or ``x``: argparse and the
    libraries' messages), a path, or a value as typed or as Python prints it."""
    if culprit.startswith("-"):
        # "--out", or "threads" as the libraries name it, not the "out" of a folder in a path
        bare = re.escape(culprit.lstrip("-"))
        return culprit in line or re.search(rf"(?<![\w/.-]){bare}(?![\w/])", line) is not None
    return any(f in line for f in _value_forms(culprit))


def describe(module: str, argv: list[str], res: Outcome) -> str:
    return (f"python -m {module} {' '.join(argv)}\nrc {res.rc}, guard reached: {res.work}\n"
            f"stderr: {res.err[-4:]}\nstdout: {res.out[-600:]}\n{res.exc or ''}")


# --- output checks -----------------------------------------------------------------------------

def _complete(kind: str, path: Path) -> None:
    if kind == "json":
        strict_json(path.read_text(encoding="utf-8"))
    elif kind == "picture":
        assert cv2.imread(str(path)) is not None, f"{path}: not a readable picture"
    elif kind == "csv":
        lines = path.read_text(encoding="utf-8").splitlines()
        assert lines[0].startswith("image,") and len(lines) >= 2, f"{path}: {lines[:2]}"
    elif kind == "checkpoint":
        from train.common import load_checkpoint
        load_checkpoint(path)
    elif kind == "pack":
        for name in ("train.json", "val.json"):
            strict_json((path / "part0" / name).read_text(encoding="utf-8"))
    else:
        raise AssertionError(kind)


def check(module: str, argv: list[str], res: Outcome, before: dict, root: Path, *, refuse: bool,
          culprits: tuple[str, ...] = (), outputs: dict[str, str] | None = None) -> None:
    """Every rule of the module docstring for one run. ``outputs``: path -> kind of what an accepted
    run writes (a "pack" output is a folder)."""
    where = describe(module, argv, res)
    assert res.exc is None, f"traceback:\n{where}"
    assert res.work is None, f"the work began before the command line was refused:\n{where}"
    after = snapshot(root)
    gone = set(before) - set(after)
    assert not gone, f"files removed: {sorted(gone)}\n{where}"
    changed = {p for p in after if before.get(p) != after[p]}
    if refuse:
        assert res.rc in REFUSED, f"expected a refusal:\n{where}"
        errors = [x for x in res.err if "error:" in x]
        assert len(errors) == 1 and res.err[-1] == errors[0], f"not one error line at the end:\n{where}"
        assert any(names(errors[0], c) for c in culprits), f"the error names none of {culprits}:\n{where}"
        assert not changed, f"a refused run wrote {sorted(changed)}\n{where}"
        return
    assert res.rc == 0, f"expected success:\n{where}"
    allowed = []
    for path, kind in (outputs or {}).items():
        p = Path(path)
        assert p.exists(), f"output {p} not written\n{where}"
        _complete(kind, p)
        allowed.append(str(p.resolve()))
    stray = [p for p in changed
             if not any(str(Path(p).resolve()) == a or str(Path(p).resolve()).startswith(a + "/") for a in allowed)]
    assert not stray, f"files written or changed that are no output: {sorted(stray)}\n{where}"
    if module in ("train.evaluate", "train.sanity"):
        strict_json(res.out)                       # the figures are printed as JSON


# --- the option tables -------------------------------------------------------------------------

def _num(s: str, conv=float):
    try:
        return conv(s)
    except (ValueError, OverflowError):
        return None


def int_in(lo: int, hi: float = math.inf) -> Callable[[str], bool]:
    return lambda s: (v := _num(s, int)) is not None and lo <= v <= hi


def float_in(lo: float, hi: float, lo_open: bool = False, hi_open: bool = False) -> Callable[[str], bool]:
    def ok(s: str) -> bool:
        v = _num(s)
        return (v is not None and math.isfinite(v) and (lo < v if lo_open else lo <= v)
                and (v < hi if hi_open else v <= hi))
    return ok


def pair_in(ok_pair: Callable[[float, float], bool]) -> Callable[[str], bool]:
    def ok(s: str) -> bool:
        parts = s.split(",")
        vals = [_num(p) for p in parts]
        return len(parts) == 2 and None not in vals and all(map(math.isfinite, vals)) and ok_pair(*vals)
    return ok


def size_ok(s: str) -> bool:
    parts = s.lower().split("x")
    vals = [_num(p, int) for p in parts]
    return len(parts) == 2 and None not in vals and all(32 <= v <= 8192 for v in vals)


@dataclass(frozen=True)
class Opt:
    flag: str
    ok: Callable[[str], bool]       # values that must be accepted (all others refused)
    good: tuple[str, ...]           # in-range values, quick to run
    values: tuple[str, ...] = GENERIC
    echo: str | None = None         # the key of the printed/written figures that must say the value


UNIT = float_in(0.0, 1.0)
TOOLS = {
    # tool: (module, base command line, its options)
    "landmarks": ("train.evaluate", ["landmarks", "--data", "{src}", "--threads", "1", "--limit", "2"], [
        Opt("--limit", int_in(0), ("3",), echo="limit"),
        Opt("--threads", int_in(1, 4096), ("2",), GENERIC + ("5000",)),
        Opt("--edge-cut", pair_in(lambda lo, hi: 0 <= lo < hi < 1), ("0.1,0.45",),
            ("0,0", "-1,0.5", "nan,0.5", "0.1,inf", "0.1,1e308", "0.5,0.2", "0.5", "abc"), echo="edge_cut"),
    ]),
    "landmarks-csv": ("train.evaluate", ["landmarks", "--data", "{csv}", "--threads", "1"], [
        Opt("--val-fraction", float_in(0.0, 1.0, hi_open=True), ("0.3",), GENERIC + ("1",), echo="val_fraction"),
    ]),
    "detector": ("train.evaluate", ["detector", "--data", "{src}", "--threads", "1", "--scenes", "1"], [
        Opt("--scenes", int_in(1, 10 ** 9), ("2",), echo="scenes"),
        Opt("--threshold", UNIT, ("0.4",), echo="threshold"),
        Opt("--match-iou", float_in(0.0, 1.0, lo_open=True), ("0.3",), echo="match_iou"),
        Opt("--threads", int_in(1, 4096), ("2",), GENERIC + ("5000",)),
        Opt("--scene-size", size_ok, ("96x64",),
            ("0x0", "31x64", "64x-1", "nanx64", "infxinf", "64", "abc", f"64x{HUGE_INT}", "1000000x1000000"),
            echo="scene_size"),
        Opt("--hand-frac", pair_in(lambda lo, hi: 0 < lo < hi <= 1.5), ("0.2,0.5",),
            ("0,0.5", "-1,0.5", "nan,1", "0.1,inf", "0.1,1e308", "0.6,0.6", "0.1,2", "abc"), echo="hand_frac"),
    ]),
    "calibrate": ("train.evaluate", ["detector", "--data", "{src}", "--threads", "1", "--scenes", "1", "--calibrate"], [
        Opt("--calibration-scenes", int_in(1, 10 ** 9), ("1",), echo="calibration_scenes"),
    ]),
    "acquisition": ("train.evaluate", ["acquisition", "--data", "{src}", "--threads", "1", "--scenes", "1",
                                       "--scene-size", "64x48"], [
        Opt("--presence", UNIT, ("0.6",), echo="presence_threshold"),
        Opt("--refine-score", UNIT, ("0.7",), echo="refine_score"),
        Opt("--threshold", UNIT, ("0.4",), echo="detector_threshold"),
        Opt("--low-detection-confidence", lambda s: s == "none" or UNIT(s), ("0.3", "none"),
            echo="low_detection_confidence"),
        Opt("--low-detection-keypoint-score", UNIT, ("0.2",), echo="low_detection_keypoint_score"),
        Opt("--detector-turns", lambda s: s in ("1", "2", "4"), ("2",), GENERIC + ("3",), echo="detector_turns"),
        Opt("--threads", int_in(1, 4096), ("2",), GENERIC + ("5000",)),
    ]),
    "pack": ("train.pack", ["--data", "{src}", "--out", "{out}/pack"], [
        Opt("--quality", int_in(1, 100), ("50",), GENERIC + ("101",)),
        Opt("--parts", int_in(1, 10 ** 9), ("3",), echo="parts"),
        Opt("--val-hands", int_in(0), ("2",), echo="val_hands"),
        Opt("--seed", int_in(0), ("3",)),
    ]),
    "mine": ("train.mine", ["--data", "{src}", "--split", "val", "--out", "{out}/u.json", "--threads", "1"], [
        Opt("--threshold", UNIT, ("0.2",), echo="threshold"),
        Opt("--threads", int_in(1, 4096), ("2",), GENERIC + ("5000",)),
    ]),
    "prelabel": ("train.prelabel", ["{p0}", "-o", "{out}/l.csv", "--threads", "1"], [
        Opt("--min-score", UNIT, ("0.5",)),
        Opt("--threads", int_in(1, 4096), ("2",), GENERIC + ("5000",)),
        Opt("--detector-turns", lambda s: s in ("1", "2", "4"), ("2",), GENERIC + ("3",)),
    ]),
    "widen": ("train.widen", ["{ck}", "{out}/w.pt"], [
        # >= the checkpoint's 1.0; a bound above it is the fix's choice, 1e30 is past any
        Opt("--expand", lambda s: (v := _num(s)) is not None and 1.0 <= v <= 1e6, ("1.25",), GENERIC + ("0.5",),
            echo="expand"),
    ]),
    "sanity": ("train.sanity", ["--data", "{src}", "--split", "val", "--hands", "2", "--steps", "1"], [
        Opt("--hands", int_in(1), ("1",)),
        Opt("--steps", int_in(1, 10 ** 9), ("2",)),
    ]),
    "curves": ("train.curves", ["-o", "{out}/c.png"], []),      # no numeric option: paths only
}

#: what each tool writes with its base command line (path template -> kind)
BASE_OUTPUTS = {"pack": {"{out}/pack": "pack"}, "mine": {"{out}/u.json": "json"}, "prelabel": {"{out}/l.csv": "csv"},
                "widen": {"{out}/w.pt": "checkpoint"}}

# values accepted until session 42's fixes (what they did then); refused first now, each checked by
# test_values_that_must_be_refused_first and left out of the random sampler
_NO_BOUND = "accepted and run: no upper bound on a count, the work goes on until memory runs out (refuse it first)"
_LATE_MODEL = ("the detector (and its --threads) is loaded only after every photo is decoded (landmarks loads its "
               "model first)")
KNOWN = {
    ("detector", "--scenes", HUGE_INT): _NO_BOUND,
    ("calibrate", "--calibration-scenes", HUGE_INT): _NO_BOUND,
    ("pack", "--parts", HUGE_INT): "accepted: pack() lists 10**30 part folders until memory runs out (a hang, then "
                                   "MemoryError)",
    ("sanity", "--steps", HUGE_INT): "accepted: trains for ever (no upper bound on --steps)",
    ("detector", "--scene-size", f"64x{HUGE_INT}"): "accepted by _size (no upper bound); cv2.error traceback when the "
                                                    "scenes are composed",
    ("detector", "--scene-size", "1000000x1000000"): "accepted by _size (no upper bound); cv2 OutOfMemoryError "
                                                     "traceback composing a 3 TB scene",
    ("detector", "--threads", HUGE_INT): _LATE_MODEL,
    ("detector", "--threads", "5000"): _LATE_MODEL,
    ("acquisition", "--threads", HUGE_INT): _LATE_MODEL,
    ("acquisition", "--threads", "5000"): _LATE_MODEL,
    ("widen", "--expand", "1e308"): "OverflowError traceback in build_net (cannot convert float infinity to integer)",
    ("widen", "--expand", HUGE_INT): "TypeError traceback in build_net (a width of 1e30 channels)",
}


def _echo_check(tool: str, opt: Opt, value: str, res: Outcome, out: str | None) -> None:
    """An accepted value is the one used (no silent clamp or default): the printed figures (evaluate)
    or the output ``out`` say it."""
    if opt.echo is None:
        return
    module = TOOLS[tool][0]
    if module == "train.evaluate":
        got = strict_json(res.out)[opt.echo]
    elif tool == "mine":
        got = strict_json(Path(out).read_text())[opt.echo]
    elif tool == "pack" and opt.echo == "parts":
        got = len([p for p in Path(out).iterdir() if p.name.startswith("part")])
    elif tool == "pack":
        got = len(strict_json((Path(out) / "part0" / "val.json").read_text())["annotations"])
        want = min(int(value), 4) or 4          # of the 4 val hands; 0: all
        assert got == want, f"--val-hands {value}: {got} val hands kept"
        return
    elif tool == "widen":
        import torch
        got = torch.load(out, weights_only=False)["model_config"]["expand"]
    else:
        raise AssertionError(tool)
    if opt.flag in ("--edge-cut", "--hand-frac"):
        want = [float(v) for v in value.split(",")]
    elif opt.flag == "--scene-size":
        want = [int(v) for v in value.lower().split("x")]
    elif value == "none":
        want = None
    elif opt.flag in ("--limit", "--scenes", "--calibration-scenes", "--parts", "--detector-turns"):
        want = int(value)
    else:
        want = float(value)
    if isinstance(want, float):
        assert got == pytest.approx(want), f"{opt.flag} {value}: the figures say {opt.echo} = {got}"
    else:
        assert got == want, f"{opt.flag} {value}: the figures say {opt.echo} = {got}"


def _values(tool: str, opt: Opt, accepted: bool | None):
    for value in dict.fromkeys(opt.values + opt.good):
        known = (tool, opt.flag, value) in KNOWN
        if accepted is None and known or accepted is not None and not known and opt.ok(value) == accepted:
            yield value


def _params(accepted: bool | None):
    for tool, (_, _, opts) in TOOLS.items():
        for opt in opts:
            values = list(_values(tool, opt, accepted))
            if accepted is False and values:
                yield pytest.param(tool, opt, values, id=f"{tool}{opt.flag}")
            elif accepted is not False:
                for value in values:
                    yield pytest.param(tool, opt, value, id=f"{tool}{opt.flag}={value[:24]}")


def run_case(ws: WS, tool: str, extra: list[str], refuse: bool, culprits: tuple[str, ...]) -> Outcome:
    """``extra`` after the tool's base command line, checked by :func:`check` (the base outputs)."""
    module, base, _ = TOOLS[tool]
    argv = ws.fill(base) + extra
    before = snapshot(ws.root)
    res = run_tool(module, argv)
    outputs = {ws.fill([k])[0]: v for k, v in BASE_OUTPUTS.get(tool, {}).items()}
    check(module, argv, res, before, ws.root, refuse=refuse, culprits=culprits, outputs=outputs)
    if refuse:
        line = [x for x in res.err if "error:" in x][0]
        assert any(f in line for f in _value_forms(extra[-1].split("=", 1)[1])), \
            f"the error does not say the value: {line}\n{describe(module, argv, res)}"
    return res


# "--x=VALUE" below: argparse takes "-inf" or "-1" after a bare "--x" for an option

@pytest.mark.parametrize("tool, opt, values", list(_params(False)))
def test_out_of_range_values_are_refused_first(tool, opt, values, ws, monkeypatch):
    """Each value alone on the tool's quick base command line: refused before any work, in one
    line naming the option and the value (the work is guarded: nothing runs)."""
    guard_work(monkeypatch, TOOLS[tool][0])
    failures = []
    for value in values:
        try:
            run_case(ws, tool, [f"{opt.flag}={value}"], True, (opt.flag,))
        except AssertionError as e:
            failures.append(f"{opt.flag}={value}: {e}")
    assert not failures, "\n\n".join(failures)


@pytest.mark.parametrize("tool, opt, value", list(_params(True)))
def test_in_range_values_are_used(tool, opt, value, ws, monkeypatch):
    """Each value alone on the tool's quick base command line: the run succeeds, its outputs are
    complete and its figures say the value (no silent clamp or default)."""
    res = run_case(ws, tool, [f"{opt.flag}={value}"], False, ())
    _echo_check(tool, opt, value, res, next(iter(ws.fill(list(BASE_OUTPUTS.get(tool, {})))), None))


@pytest.mark.parametrize("tool, opt, value", list(_params(None)))
def test_values_that_must_be_refused_first(tool, opt, value, ws, monkeypatch):
    """The values of :data:`KNOWN` (accepted before session 42's fixes), guarded: a count of 1e30
    would run until memory runs out."""
    guard_work(monkeypatch, TOOLS[tool][0])
    run_case(ws, tool, [f"{opt.flag}={value}"], True, (opt.flag,))


# --- paths --------------------------------------------------------------------------------------

def _corrupt(relpath: str, text: str):
    def prep(ws: WS) -> None:
        (ws.root / relpath).write_text(text)
    return prep


def _drop_image(ws: WS) -> None:
    (ws.root / "src" / "images" / "train" / "im2.webp").unlink()


@dataclass
class PathCase:
    tool: str
    args: list[str]                          # appended to the tool's base command line
    refuse: bool
    culprits: tuple[str, ...] = ()
    outputs: dict[str, str] = field(default_factory=dict)
    prep: Callable[[WS], None] | None = None
    base: list[str] | None = None            # instead of TOOLS[tool]'s


PATH_CASES = [
    # train.evaluate
    PathCase("landmarks", ["--data", "{nope}"], True, ("{nope}",)),
    PathCase("landmarks", ["--data", "{file}"], True, ("{file}",)),
    PathCase("landmarks", ["--data", "{dir}"], True, ("{dir}",)),
    PathCase("landmarks", ["--data", "{empty}"], True, ("{empty}",)),
    PathCase("landmarks", ["--data", "{trunc}"], True, ("{trunc}",)),
    PathCase("landmarks", ["--data", "{p0}"], True, ("{p0}",)),
    PathCase("landmarks", ["--split", "nope"], True, ("nope",)),
    PathCase("landmarks-csv", ["--split", "nope"], True, ("nope",)),
    PathCase("landmarks", ["--model", "{nope}.onnx"], True, ("{nope}",)),
    PathCase("landmarks", ["--model", "{notonnx}"], True, ("{notonnx}",)),
    PathCase("landmarks", ["--model", "{emptyonnx}"], True, ("{emptyonnx}",)),
    PathCase("landmarks", ["--model", "{dir}"], True, ("{dir}",)),
    PathCase("landmarks", ["--model", "{ck}"], True, ("{ck}",)),
    PathCase("landmarks", ["--model", "{det}"], True, ("{det}",)),
    PathCase("detector", ["--model", "{notonnx}"], True, ("{notonnx}",)),
    PathCase("detector", ["--model", "{lm}"], True, ("{lm}",)),
    PathCase("acquisition", ["--landmark-model", "{notonnx}"], True, ("{notonnx}",)),
    PathCase("landmarks", ["--out", "{out}/e.json"], False, outputs={"{out}/e.json": "json"}),
    PathCase("landmarks", ["--out", "{out}/new/deep/e.json"], False, outputs={"{out}/new/deep/e.json": "json"}),
    PathCase("landmarks", ["--out", "{out}/old.json"], False, outputs={"{out}/old.json": "json"}),
    PathCase("landmarks-csv", ["--out", "{csv}"], True, ("--out",)),
    PathCase("landmarks-csv", ["--out", "{root}/photos/./labels.csv"], True, ("--out",)),
    PathCase("landmarks", ["--model", "{out}/old.json", "--out", "{out}/old.json"], True, ("--out",)),
    PathCase("landmarks", ["--out", "{dir}"], True, ("--out",)),
    PathCase("landmarks", ["--out", "{file}/e.json"], True, ("--out",)),
    PathCase("landmarks", ["--out", "{src}/val.json"], True, ("--out",)),
    PathCase("landmarks-csv", ["--split", "all", "--out", "{photos}/p1.png"], True, ("--out",)),
    PathCase("landmarks", ["--worst-grid", "{out}/g.png"], False, outputs={"{out}/g.png": "picture"}),
    PathCase("landmarks", ["--worst-grid", "{out}/new/g.jpg"], False, outputs={"{out}/new/g.jpg": "picture"}),
    PathCase("landmarks", ["--worst-grid", "{out}/g.txt"], True, ("--worst-grid",)),
    PathCase("landmarks", ["--worst-grid", "{dir}"], True, ("--worst-grid",)),
    PathCase("landmarks", ["--worst-grid", "{out}/g.png", "--out", "{out}/g.png"], True, ("--worst-grid",)),
    PathCase("landmarks", ["--worst-grid", "{file}/g.png"], True, ("--worst-grid",)),
    PathCase("landmarks", ["--worst-grid", "{src}/images/val/im0.webp"], True, ("--worst-grid",)),
    PathCase("detector", ["--fp-grid", "{out}/fp.png"], False, outputs={"{out}/fp.png": "picture"}),
    PathCase("detector", ["--fp-grid", "{file}/fp.png"], True, ("--fp-grid",)),
    PathCase("detector", ["--fp-grid", "{src}/images/val/im1.webp"], True, ("--fp-grid",)),
    PathCase("landmarks", ["--edge-cut", "0.1,0.4", "--worst-grid", "{out}/g.png"], True, ("--worst-grid",)),
    PathCase("landmarks", ["--calibrate"], True, ("--calibrate",)),
    PathCase("detector", ["--calibrate", "--threshold", "0.3"], True, ("--threshold",)),
    # train.pack
    PathCase("pack", ["--data", "{nope}"], True, ("{nope}",)),
    PathCase("pack", ["--data", "{file}"], True, ("{file}",)),
    PathCase("pack", ["--data", "{dir}"], True, ("{dir}",)),
    PathCase("pack", ["--out", "{out}/new/deep"], False, outputs={"{out}/new/deep": "pack"}),
    PathCase("pack", ["--out", "{out}/oldpack"], False, outputs={"{out}/oldpack": "pack"}),
    PathCase("pack", ["--out", "{file}"], True, ("--out",)),
    PathCase("pack", [], True, ("train.json",), prep=_corrupt("src/train.json", "{trunc")),
    PathCase("pack", [], True, ("train.json",), prep=_corrupt("src/train.json", "")),
    PathCase("pack", [], True, ("val.json",), prep=_corrupt("src/val.json", '{"images": []}')),
    PathCase("pack", [], True, ("val.json",), prep=_corrupt("src/val.json", "[1, 2]")),
    PathCase("pack", [], True, ("train.json",),
             prep=_corrupt("src/train.json", '{"images": [{"id": 1}], "annotations": []}')),
    PathCase("pack", [], True, ("im2.webp",), prep=_drop_image),
    # train.prelabel
    PathCase("prelabel", ["{nope}"], True, ("{nope}",), base=["-o", "{out}/l.csv"]),
    PathCase("prelabel", ["{file}"], True, ("{file}",), base=["-o", "{out}/l.csv"]),
    PathCase("prelabel", ["{dir}"], True, ("{dir}",), base=["-o", "{out}/l.csv"]),
    PathCase("prelabel", ["{empty}"], True, ("{empty}",), base=["-o", "{out}/l.csv"]),
    PathCase("prelabel", ["{p0}", "-o", "{out}/old.csv"], True, ("{out}/old.csv",), base=[]),
    PathCase("prelabel", ["{p0}", "-o", "{out}/old.csv", "--overwrite"], False, base=[],
             outputs={"{out}/old.csv": "csv"}),
    PathCase("prelabel", ["{p0}", "-o", "{out}/new/l.csv"], True, ("{out}/new/l.csv",), base=[]),
    PathCase("prelabel", ["{p0}", "-o", "{file}/l.csv"], True, ("{file}/l.csv",), base=[]),
    PathCase("prelabel", ["{p0}", "-o", "{dir}"], True, ("{dir}",), base=[]),
    PathCase("prelabel", ["{p0}", "-o", "{out}/l.txt"], True, ("{out}/l.txt",), base=[]),
    PathCase("prelabel", ["--landmark-model", "{notonnx}"], True, ("{notonnx}",)),
    PathCase("prelabel", ["--landmark-model", "{emptyonnx}"], True, ("{emptyonnx}",)),
    PathCase("prelabel", ["--landmark-model", "{ck}"], True, ("{ck}",)),
    PathCase("prelabel", ["--landmark-model", "{dir}"], True, ("{dir}",)),
    PathCase("prelabel", ["--detector-model", "{lm}"], True, ("{lm}",)),
    # train.mine
    PathCase("mine", ["--data", "{nope}"], True, ("{nope}",)),
    PathCase("mine", ["--data", "{trunc}"], True, ("{trunc}",)),
    PathCase("mine", ["--data", "{dir}"], True, ("{dir}",)),
    PathCase("mine", ["--data", "{empty}"], True, ("{empty}",)),
    PathCase("mine", ["--detector", "{emptyonnx}"], True, ("{emptyonnx}",)),
    PathCase("mine", ["--detector", "{notonnx}"], True, ("{notonnx}",)),
    PathCase("mine", ["--detector", "{lm}"], True, ("{lm}",)),
    PathCase("mine", ["--detector", "{dir}"], True, ("{dir}",)),
    PathCase("mine", ["--out", "{out}/new/u.json"], False, outputs={"{out}/new/u.json": "json"}),
    PathCase("mine", ["--out", "{out}/old.json"], False, outputs={"{out}/old.json": "json"}),
    PathCase("mine", ["--out", "{dir}"], True, ("--out",)),
    PathCase("mine", ["--out", "{file}/u.json"], True, ("--out",)),
    PathCase("mine", ["--data", "{csv}", "--out", "{csv}"], True, ("--out",)),
    PathCase("mine", ["--detector", "{out}/old.json", "--out", "{out}/./old.json"], True, ("--out",)),
    PathCase("mine", ["--out", "{src}/val.json"], True, ("--out",)),
    PathCase("mine", ["--out", "{src}/images/val/im0.webp"], True, ("--out",)),
    PathCase("mine", ["--data", "{csv}", "--split", "nope"], True, ("--split",)),
    # train.widen
    PathCase("widen", ["{nope}", "{out}/w.pt"], True, ("{nope}",), base=["--expand", "1.5"]),
    PathCase("widen", ["{dir}", "{out}/w.pt"], True, ("{dir}",), base=["--expand", "1.5"]),
    PathCase("widen", ["{notck}", "{out}/w.pt"], True, ("{notck}",), base=["--expand", "1.5"]),
    PathCase("widen", ["{empty}", "{out}/w.pt"], True, ("{empty}",), base=["--expand", "1.5"]),
    PathCase("widen", ["{lm}", "{out}/w.pt"], True, ("{lm}",), base=["--expand", "1.5"]),
    PathCase("widen", ["{ck}", "{ck}"], True, ("{ck}",), base=["--expand", "1.5"]),
    PathCase("widen", ["{ck}", "{root}/./last.pt", "--overwrite"], True, ("last.pt",), base=["--expand", "1.5"]),
    PathCase("widen", ["{ck}", "{out}/old.pt"], True, ("{out}/old.pt",), base=["--expand", "1.5"]),
    PathCase("widen", ["{ck}", "{out}/old.pt", "--overwrite"], False, base=["--expand", "1.5"],
             outputs={"{out}/old.pt": "checkpoint"}),
    PathCase("widen", ["{ck}", "{dir}"], True, ("{dir}",), base=["--expand", "1.5"]),
    PathCase("widen", ["{ck}", "{out}/new/w.pt"], False, base=["--expand", "1.5"],
             outputs={"{out}/new/w.pt": "checkpoint"}),
    PathCase("widen", ["{ck}", "{file}/w.pt"], True, ("{file}/w.pt",), base=["--expand", "1.5"]),
    # train.sanity
    PathCase("sanity", ["--data", "{nope}"], True, ("{nope}",)),
    PathCase("sanity", ["--data", "{trunc}"], True, ("{trunc}",)),
    PathCase("sanity", ["--data", "{dir}"], True, ("{dir}",)),
    PathCase("sanity", ["--data", "{empty}"], True, ("{empty}",)),
    PathCase("sanity", ["--split", "nope"], True, ("nope",)),
    PathCase("sanity", ["--data", "{csv}", "--split", "nope"], True, ("--split",)),
    PathCase("sanity", ["--broken", "zero"], False),
    # train.curves
    PathCase("curves", ["{nope}"], True, ("{nope}",)),
    PathCase("curves", ["{dir}"], True, ("{dir}",)),
    PathCase("curves", ["{empty}"], True, ("{empty}",)),
    PathCase("curves", ["{trunc}"], True, ("{trunc}",)),
    PathCase("curves", ["{ck}"], True, ("{ck}",)),
    PathCase("curves", ["{hist}", "-o", "{out}/c.png"], False, base=[], outputs={"{out}/c.png": "picture"}),
    PathCase("curves", ["{hist}", "-o", "{out}/old.png"], False, base=[], outputs={"{out}/old.png": "picture"}),
    PathCase("curves", ["{hist}", "-o", "{out}/new/c.png"], True, ("{out}/new/c.png",), base=[]),
    PathCase("curves", ["{hist}", "-o", "{file}/c.png"], True, ("{file}/c.png",), base=[]),
    PathCase("curves", ["{hist}", "-o", "{dir}"], True, ("{dir}",), base=[]),
    PathCase("curves", ["{hist}", "-o", "{out}/c.gif"], True, ("{out}/c.gif",), base=[]),
    PathCase("curves", ["{hist}", "{hist}", "--label", "a", "-o", "{out}/c.png"], True, ("--label",), base=[]),
]


def _path_params():
    for i, c in enumerate(PATH_CASES):
        yield pytest.param(c, id=f"{i:03d}-{c.tool}-{'_'.join(c.args)[:40]}")


@pytest.mark.parametrize("case", list(_path_params()))
def test_path_options(case, ws, monkeypatch):
    """Missing paths, files for folders and the reverse, empty and corrupt files, outputs that are
    inputs or lie in a missing folder. A refusal must come before the work; an output that existed
    before is left alone or replaced by a complete one."""
    module, base, _ = TOOLS[case.tool]
    if case.prep:
        case.prep(ws)
    argv = ws.fill((base if case.base is None else case.base) + case.args)
    # a guard for the refusals; pack's bad data is found reading it (the guarded json.loads) or its photos
    if case.refuse and case.tool != "pack":
        guard_work(monkeypatch, module)
    before = snapshot(ws.root)
    res = run_tool(module, argv)
    outputs = {ws.fill([k])[0]: v for k, v in case.outputs.items()}
    check(module, argv, res, before, ws.root, refuse=case.refuse, culprits=tuple(ws.fill(list(case.culprits))),
          outputs=outputs)


# --- the bugs that need a case of their own ------------------------------------------------------

@pytest.mark.parametrize("module, args", [
    ("train.evaluate", ["landmarks", "--data", "{nope}"]),
    ("train.pack", ["--data", "{nope}", "--out", "{out}/p"]),
    ("train.mine", ["--data", "{nope}", "--out", "{out}/u.json"]),
    ("train.widen", ["{nope}", "{out}/w.pt", "--expand", "1.5"]),
    ("train.sanity", ["--data", "{nope}"]),
])
def test_an_input_error_exits_with_status_1_and_one_error_line(module, args, ws):
    """The train/ tools' convention (train.common.run_cli): a missing or corrupt input is status 1
    with one ``error:`` line naming it, no traceback (status 2 is argparse's, a bad option value)."""
    res = run_tool(module, ws.fill(args))
    assert res.exc is None and res.rc == 1, describe(module, args, res)
    assert [x for x in res.err if "error:" in x] == [res.err[-1]] and ws.nope in res.err[-1], \
        describe(module, args, res)


@pytest.mark.parametrize("module, args", [("train.prelabel", ["{nope}", "-o", "{out}/l.csv"]),
                                          ("train.curves", ["{nope}", "-o", "{out}/c.png"])])
def test_prelabel_and_curves_refuse_a_missing_input_with_status_2(module, args, ws):
    res = run_tool(module, ws.fill(args))
    assert res.rc == 2 and ws.nope in res.err[-1], describe(module, args, res)


@pytest.mark.parametrize("args", [["landmarks", "--out", ""], ["landmarks", "--worst-grid", ""],
                                  ["detector", "--scenes", "1", "--fp-grid", ""]])
def test_an_empty_output_path_is_refused(args, ws, monkeypatch):
    cwd = ws.root / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    argv = args + ["--data", ws.src, "--threads", "1", "--limit", "2"]
    guard_work(monkeypatch, "train.evaluate")
    res = run_tool("train.evaluate", argv)
    assert res.work is None and res.rc in REFUSED and args[-2] in res.err[-1], describe("train.evaluate", argv, res)


def test_pack_never_writes_over_its_input(ws):
    data = ws.root / "sets" / "part0"
    data.parent.mkdir()
    shutil.move(ws.src, data)
    argv = ["--data", str(data), "--out", str(data.parent), "--val-hands", "1"]
    before = {str(f): f.read_bytes() for f in data.rglob("*") if f.is_file()}
    res = run_tool("train.pack", argv)
    assert res.exc is None, describe("train.pack", argv, res)
    changed = [p for p, b in before.items() if not Path(p).exists() or Path(p).read_bytes() != b]
    assert not changed, f"inputs changed: {changed}\n{describe('train.pack', argv, res)}"


def test_prelabel_never_writes_over_its_model(ws):
    model = ws.root / "out" / "lm.csv"             # a model file under a .csv name
    shutil.copy(ws.lm, model)
    argv = [ws.p0, "-o", str(model), "--overwrite", "--landmark-model", str(model), "--threads", "1"]
    res = run_tool("train.prelabel", argv)
    assert res.rc in REFUSED and model.read_bytes() == Path(ws.lm).read_bytes(), describe("train.prelabel", argv, res)


def test_curves_never_writes_over_a_history(ws):
    hist = ws.root / "out" / "h.png"
    shutil.copy(ws.hist, hist)
    argv = [str(hist), "-o", str(hist)]
    res = run_tool("train.curves", argv)
    assert res.rc in REFUSED and hist.read_bytes() == Path(ws.hist).read_bytes(), describe("train.curves", argv, res)


@pytest.mark.parametrize("entries, drawn", [
    # were tracebacks (OverflowError setting the y range or converting minutes; a ValueError or
    # TypeError formatting the last figures, after the picture was written)
    pytest.param('[{"minutes": 0, "pck10": 0.1}, {"minutes": 1, "pck10": 1e308}]', False, id="pck10-1e308"),
    pytest.param('[{"minutes": 0, "pck10": 0.1}, {"minutes": 1' + "0" * 400 + ', "pck10": 0.5}]', False,
                 id="minutes-1e400"),
    pytest.param('[{"minutes": 0, "pck10": 0.1, "pck05": "x"}]', False, id="pck05-text"),
    pytest.param('[{"minutes": 0, "pck10": 0.1, "ema_pck10": null}]', True, id="ema-null"),
    pytest.param('[{"minutes": 0, "pck10": 0.1, "pck05": null}, {"minutes": 1, "pck10": 0.5, "pck05": 0.3}]', True,
                 id="pck05-null"),
    pytest.param('[{"minutes": 0, "pck10": 0.1}, {"minutes": 1e300, "pck10": 0.5}]', True, id="minutes-1e300"),
    pytest.param('[{"minutes": 0, "pck10": NaN}, {"minutes": 1, "pck10": 0.5}]', True, id="nan-validation"),
    pytest.param('[{"minutes": Infinity, "pck10": 0.5}]', False, id="minutes-inf"),
    pytest.param('[{"minutes": "x", "pck10": 0.5}]', False, id="minutes-text"),
])
def test_curves_history_values(entries, drawn, ws):
    """A history is a file too: a value it holds is drawn (null: not measured, a gap) or refused in
    one line naming the file, before the picture is written."""
    hist = ws.root / "h.json"
    hist.write_text(entries)
    out = ws.root / "out" / "c.png"
    argv = [str(hist), "-o", str(out)]
    before = snapshot(ws.root)
    res = run_tool("train.curves", argv)
    if drawn:
        check("train.curves", argv, res, before, ws.root, refuse=False, outputs={str(out): "picture"})
    else:
        check("train.curves", argv, res, before, ws.root, refuse=True, culprits=(str(hist),))


def test_prelabel_threads_error_states_the_real_limit(ws):
    argv = [ws.p0, "-o", f"{ws.out}/l.csv", f"--threads={HUGE_INT}"]
    res = run_tool("train.prelabel", argv)
    assert res.rc == 2 and "4096" in res.err[-1], describe("train.prelabel", argv, res)


# --- found while fixing the above ---------------------------------------------------------------

def test_pack_refuses_a_file_name_outside_the_set(ws):
    """An image ``file_name`` that is absolute (or climbs out with ``..``) was joined onto --out as
    itself: pack re-encoded the photo in place, over its input."""
    val = json.loads((ws.root / "src" / "val.json").read_text())
    photo = ws.root / "src" / val["images"][0]["file_name"]
    val["images"][0]["file_name"] = str(photo)
    (ws.root / "src" / "val.json").write_text(json.dumps(val))
    argv = ["--data", ws.src, "--out", f"{ws.out}/p"]
    before = snapshot(ws.root)
    res = run_tool("train.pack", argv)
    check("train.pack", argv, res, before, ws.root, refuse=True, culprits=("val.json",))


def test_scenes_that_do_not_fit_in_memory_are_refused_before_the_photos(ws, monkeypatch):
    """--scenes below the cap, but more scene pixels than the machine holds: refused once the scene
    size is known (after the model, before the photos are decoded), naming the option."""
    import train.data as data_mod
    monkeypatch.setattr(data_mod, "physical_memory", lambda: 2 * 10 * 96 * 64 * 3)   # half: 10 scenes
    guard_work(monkeypatch, "train.evaluate")
    for extra, culprit in ((["--scenes", "11"], "--scenes"),
                           (["--scenes", "2", "--calibrate", "--calibration-scenes", "20"], "--calibration-scenes")):
        argv = ["detector", "--data", ws.src, "--threads", "1", "--scene-size", "96x64", *extra]
        before = snapshot(ws.root)
        res = run_tool("train.evaluate", argv)
        check("train.evaluate", argv, res, before, ws.root, refuse=True, culprits=(culprit,))


@pytest.mark.parametrize("split, photos", [("train", 3), ("val", 1), ("all", 4)])
def test_mine_reads_a_single_file_split_as_evaluate_does(split, photos, ws):
    """mine --data labels.csv: --split picks the rows as train.evaluate and the training loops do
    (a tenth of the images held out), where every row was mined whatever --split said."""
    out = ws.root / "out" / "u.json"
    argv = ["--data", ws.csv, "--split", split, "--out", str(out), "--threads", "1"]
    before = snapshot(ws.root)
    res = run_tool("train.mine", argv)
    check("train.mine", argv, res, before, ws.root, refuse=False, outputs={str(out): "json"})
    assert strict_json(out.read_text())["photos"] == photos


# --- the seeded random sampler -------------------------------------------------------------------

def _pools(tool: str, opt: Opt) -> tuple[list[str], list[str]]:
    """(in-range, out-of-range) values an option draws from, the KNOWN bugs left out (10**30 hands or
    limit is accepted, but no quicker than all of them)."""
    bad = [v for v in opt.values if not opt.ok(v) and (tool, opt.flag, v) not in KNOWN]
    good = list(opt.good) + [v for v in opt.values if opt.ok(v) and v != HUGE_INT]
    return good, bad


# the command line before the drawn outputs and options (TOOLS' base without its outputs)
RANDOM_BASE = {"pack": ["--data", "{src}"], "mine": ["--data", "{src}", "--split", "val", "--threads", "1"],
               "prelabel": ["{p0}", "--threads", "1"], "widen": ["{ck}"]}
# output choices: (arguments, refused?); outputs that are folders, inputs, ... are in the path table
OUT_CHOICES = {
    "landmarks": [("--out {out}/r.json", False), ("--out {out}/old.json", False), ("--out {out}/n/r.json", False),
                  ("--worst-grid {out}/g.png", False), ("", False)],
    "detector": [("--out {out}/r.json", False), ("--fp-grid {out}/fp.png", False), ("", False)],
    "acquisition": [("--out {out}/old.json", False), ("", False)],
    "mine": [("--out {out}/r.json", False), ("--out {out}/old.json", False), ("--out {dir}", True)],
    "pack": [("--out {out}/oldpack", False), ("--out {out}/n/p", False)],
    "widen": [("{out}/old.pt", True), ("{out}/old.pt --overwrite", False), ("{out}/n/w.pt", False)],
    "prelabel": [("-o {out}/old.csv", True), ("-o {out}/old.csv --overwrite", False), ("-o {out}/n/l.csv", True)],
    "sanity": [("", False)],
}
OUT_CHOICES["landmarks-csv"] = OUT_CHOICES["landmarks"]
OUT_CHOICES["calibrate"] = OUT_CHOICES["detector"]
OUT_KIND = {"--out": "json", "--worst-grid": "picture", "--fp-grid": "picture", "-o": "csv", "pack": "pack",
            "widen": "checkpoint"}
WEIGHTS = {"landmarks": 3, "landmarks-csv": 1, "detector": 3, "calibrate": 1, "acquisition": 2, "pack": 2,
           "mine": 2, "prelabel": 2, "widen": 2, "sanity": 1}


@dataclass
class Drawn:
    tool: str
    argv: list[str]
    refuse: bool
    culprits: tuple[str, ...]
    outputs: dict[str, str]         # path -> kind
    values: list[tuple[Opt, str]]   # the options drawn, to check that the figures say them


def draw_case(rng: random.Random, ws: WS) -> Drawn:
    """A command line of one tool: 1 to all of its numeric options (about a third of them out of
    range), and an output (new, existing, in a missing folder, or refused)."""
    tool = rng.choices(list(WEIGHTS), list(WEIGHTS.values()))[0]
    _, base, opts = TOOLS[tool]
    values, culprits, refuse = [], [], False
    for opt in rng.sample(opts, rng.randint(1, len(opts))):
        good, bad = _pools(tool, opt)
        if bad and rng.random() < 0.3:
            values.append((opt, rng.choice(bad)))
            culprits.append(opt.flag)
            refuse = True
        else:
            values.append((opt, rng.choice(good)))
    choices = OUT_CHOICES[tool]
    if any(o.flag == "--edge-cut" for o, _ in values):     # with --worst-grid: a refused pair
        choices = [c for c in choices if "--worst-grid" not in c[0]]
    template, out_refused = rng.choice(choices)
    out_args = ws.fill(template.split())
    outputs = {}
    if out_args:
        path = out_args[0] if tool == "widen" else out_args[1]
        outputs[path] = OUT_KIND.get(tool, OUT_KIND.get(out_args[0]))
        if out_refused:
            culprits.append(path)
    extra = [f"{o.flag}={v}" for o, v in values]
    rng.shuffle(extra)
    argv = ws.fill(RANDOM_BASE.get(tool, base)) + out_args + extra
    return Drawn(tool, argv, refuse or out_refused, tuple(culprits), outputs, values)


@pytest.mark.parametrize("case", range(N_RANDOM))
def test_random_option_combinations(case, ws, monkeypatch):
    d = draw_case(random.Random(SEED * 1000 + case), ws)
    module = TOOLS[d.tool][0]
    if d.refuse:
        guard_work(monkeypatch, module)
    before = snapshot(ws.root)
    res = run_tool(module, d.argv)
    check(module, d.argv, res, before, ws.root, refuse=d.refuse, culprits=d.culprits, outputs=d.outputs)
    if not d.refuse:
        out = next(iter(d.outputs), None)
        for opt, value in d.values:
            _echo_check(d.tool, opt, value, res, out)


@pytest.mark.parametrize("value", ["nan", "inf", "-0.1", "1", "abc"])
def test_evaluate_val_fraction_outside_a_share_is_a_usage_error(value, ws):
    """--val-fraction outside [0, 1) with a single --data file: refused at parse time (status 2),
    not by the loader once the model had loaded (status 1)."""
    res = run_tool("train.evaluate", ["landmarks", "--data", ws.csv, "--val-fraction", value, "--threads", "1"])
    assert res.rc == 2 and res.exc is None and "--val-fraction" in res.err[-1] and value in res.err[-1], res
