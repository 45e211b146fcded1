"""Audit of the argument handling of ``python -m export.onnx_export`` (landmarks, detector) and
``python -m export.quantize`` (their ``--help`` and module docstrings are the contract).

Each command line runs ``main(argv)`` in-process. What holds for every one:

- exit status 0, or a refusal: one ``error:`` line naming the option (or the checkpoint / model
  file) and the value given, never a Python traceback. A bad option value refused by argparse is
  status 2; both commands end their run-time refusals (a missing or unusable file, refused data)
  with ``SystemExit("error: ...")``, status 1, the convention of the train/ and export/ tools
  (``train.common.run_cli``): the tables and samplers accept either and
  ``test_*_input_error_exits_with_status_1`` pin it down;
- refused before the work (the torch export, the quantisation), where it could be: the export and
  the quantisation are replaced by spies that record whether they were reached;
- a refused run leaves every file and folder as it was (an earlier output byte-identical, no
  temporary file beside it, no folder made for -o);
- a written file holds exactly the values given (``--threshold``, ``--version``), no value is
  silently ignored or clamped, and ``--check-count`` checks what it says.

Most cases run on a fake export (a tiny ONNX graph, verification skipped): the argument handling
around it is the real code. The few real exports are made once (``made``) or where the behaviour
is the exporter's own (a temporary name, a failure after the export). ``train.train_detector.
make_val_scenes`` is guarded in every test: a scene count it cannot make (``--check-count`` or
``--calib`` 10**30) raises instead of filling the memory. A sampled case is reproduced from its
number: ``draw_export(random.Random(SEED * 1000 + case), ...)``. The bugs found (session 42) are
fixed; the samplers leave out the values that have a test of their own (each pool says which).
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import math
import os
import random
import shutil
import traceback
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import onnx
import pytest
import torch

import export.detector_export as detector_export
import export.onnx_export as onnx_export
import export.quantize as quantize_mod
import train.train_detector
from export.onnx_export import meta_text
from tests.export.test_export import _tiny_detector_checkpoint, _tiny_landmark_checkpoint
from tests.export.test_journey_quantize_own_csv import _own_csv
from tests.train.test_train_cli import tiny_coco

SEED = 42
N_EXPORT_CASES = 80
N_QUANTIZE_CASES = 40
MAX_SCENES = 10_000          # make_val_scenes refuses more (10**30 filled the memory until killed)
VERSION = "v1.10-ñ✓"         # the real landmark export's --version: non-ASCII, would decode as JSON half
HANDS = 4                    # labelled hands in made.data (train and val)


class Reached(Exception):
    """The quantisation was called: the command line was accepted."""


class Runaway(Exception):
    """make_val_scenes was asked for more scenes than any check needs."""


@dataclass
class Run:
    argv: list
    rc: int | str            # "traceback": an exception escaped main; "reached": the quantisation was called
    out: str
    err: str

    def __str__(self) -> str:
        shown = [a if len(a) < 80 else a[:60] + f"...({len(a)} chars)" for a in self.argv]
        return f"argv {shown}\nrc {self.rc!r}\nstdout: {self.out[-800:]}\nstderr: {self.err[-1500:]}"


def _run(main, argv, capsys) -> Run:
    """``main(argv)`` as the interpreter would end it: SystemExit("text") prints the text, status 1."""
    capsys.readouterr()
    extra = ""
    try:
        main(list(argv))
        rc = 0
    except SystemExit as e:
        if e.code is None or isinstance(e.code, int):
            rc = e.code or 0
        else:
            rc, extra = 1, f"{e.code}\n"
    except Reached:
        rc = "reached"
    except Exception:  # noqa: BLE001 - what the user would see as a traceback
        rc, extra = "traceback", traceback.format_exc()
    out, err = capsys.readouterr()
    return Run(list(argv), rc, out, err + extra)


def _error_line(r: Run) -> str:
    assert "Traceback (most recent call last)" not in r.err, r
    errors = [x for x in r.err.splitlines() if "error:" in x]
    assert len(errors) == 1, f"not one error line\n{r}"
    return errors[0]


def _names_value(line: str, value: str) -> bool:
    """Whether the error ``line`` quotes ``value`` (as given, stripped, or as the number it reads as)."""
    if value in line or value.strip() in line:
        return True
    try:
        return repr(float(value)) in line
    except ValueError:
        return False


def _refused(r: Run, option: str | None = None, value: str | None = None, status=(1, 2)) -> str:
    assert r.rc in status, r
    line = _error_line(r)
    if option is not None:
        assert option in line, f"the error does not name {option}\n{r}"
    if value is not None:
        assert _names_value(line, value), f"the error does not quote {value[:60]!r}\n{r}"
    return line


def _meta(path: Path) -> dict:
    return {p.key: meta_text(p.value) for p in onnx.load(str(path)).metadata_props}


def _snapshot(*roots: Path) -> tuple[dict[str, str], set[str]]:
    files, dirs = {}, set()
    for root in roots:
        for dirpath, dirnames, names in os.walk(root):
            dirs.update(str(Path(dirpath) / d) for d in dirnames)
            for name in names:
                p = Path(dirpath) / name
                files[str(p)] = "-> " + os.readlink(p) if p.is_symlink() else hashlib.sha256(p.read_bytes()).hexdigest()
    return files, dirs


def _unchanged(before, roots: tuple[Path, ...], r: Run) -> None:
    """Every file and folder as it was, none added (an empty folder made for -o neither)."""
    files, dirs = _snapshot(*roots)
    assert files == before[0], f"files changed by a refused run: " \
        f"{sorted(set(files.items()) ^ set(before[0].items()))}\n{r}"
    assert dirs == before[1], f"folders changed by a refused run: {sorted(dirs ^ before[1])}\n{r}"


# -- inputs, made once -----------------------------------------------------------------------------
def _quiet_main(main, argv) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        main(argv)
    return out.getvalue()


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    root = tmp_path_factory.mktemp("s42export")
    d = SimpleNamespace(root=root)
    torch.manual_seed(0)
    d.lm, d.det = _tiny_landmark_checkpoint(root / "lm.pt"), _tiny_detector_checkpoint(root / "det.pt")
    d.data = tiny_coco(root / "data", n=HANDS)
    d.csv = _own_csv(root / "own", n=6)
    # the real exports: a landmark model with a --version, a detector with a --threshold checked
    # on 2 composed scenes of real photos
    (root / "exported").mkdir()
    d.lm_onnx, d.det_onnx = root / "exported" / "lm.onnx", root / "exported" / "det.onnx"
    _quiet_main(onnx_export.main, ["landmarks", str(d.lm), "-o", str(d.lm_onnx), "--version", VERSION])
    d.det_figures = json.loads(_quiet_main(onnx_export.main, [
        "detector", str(d.det), "-o", str(d.det_onnx), "--threshold", "0.45", "--check-data", str(d.data),
        "--check-count", "2"]).strip().splitlines()[-1])
    d.exported_files = sorted(p.name for p in (root / "exported").iterdir())
    bad = root / "bad"
    bad.mkdir()
    # checkpoints that are not one
    (bad / "empty.pt").write_bytes(b"")
    (bad / "trunc.pt").write_bytes(d.lm.read_bytes()[:3000])
    torch.save({"weights": {}}, bad / "plain.pt")
    torch.save([1, 2, 3], bad / "list.pt")
    torch.save({"model": {}}, bad / "nocfg.pt")
    (bad / "notes.pt").write_text("these are notes, not a checkpoint\n")
    shutil.copy(d.lm_onnx, bad / "model.pt")
    (bad / "ckdir").mkdir()
    # data that holds no usable hand
    (bad / "garbage.json").write_text("{not json")
    (bad / "garbage.csv").write_bytes(b"\x00\x01garbage,,,\n")
    (bad / "empty.csv").write_text("")
    (bad / "emptydir").mkdir()
    nohands = bad / "nohands"
    nohands.mkdir()
    (nohands / "val.json").write_text(json.dumps({"images": [{"id": 0, "file_name": "x.png", "width": 9, "height": 9}],
                                                  "annotations": [], "categories": []}))
    # model files quantize cannot use
    (bad / "empty.onnx").write_bytes(b"")
    (bad / "trunc.onnx").write_bytes(d.lm_onnx.read_bytes()[:5000])
    (bad / "notes.onnx").write_text("these are notes, not a model\n")
    m = onnx.load(str(d.lm_onnx))
    for p in m.metadata_props:
        if p.key == "kind":
            p.value = "segmenter"
    onnx.save(m, str(bad / "segmenter.onnx"))
    # datasets with no hands in one split
    no = {"images": [], "annotations": [], "categories": []}
    for name, split in (("notrain", "train"), ("noval", "val")):
        shutil.copytree(d.data, bad / name)
        (bad / name / f"{split}.json").write_text(json.dumps(no))
    d.bad = bad
    d.snapshot = _snapshot(root)
    return d


@pytest.fixture(autouse=True)
def guarded_scenes(monkeypatch):
    real = train.train_detector.make_val_scenes

    def guarded(groups, cache, scfg, n, *a, **k):
        if n > MAX_SCENES:
            raise Runaway(f"make_val_scenes asked for {n} scenes")
        return real(groups, cache, scfg, n, *a, **k)
    monkeypatch.setattr(train.train_detector, "make_val_scenes", guarded)


def _tiny_graph() -> onnx.ModelProto:
    from onnx import TensorProto, helper
    io_ = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 3, 4, 4]) for n in ("image", "out")]
    return helper.make_model(helper.make_graph([helper.make_node("Identity", ["image"], ["out"])], "fake",
                                               [io_[0]], [io_[1]]))


@pytest.fixture
def fake_export(monkeypatch):
    """The torch export and its verification replaced: a tiny graph, the outputs it was asked for."""
    calls = []

    def export(module, example, out, *a, **k):
        calls.append(Path(out))
        return _tiny_graph()

    def verify(model, module, inputs, decode=None, **k):
        return {"max_abs_diff": 0.0, "max_keypoint_diff_px": 0.0}
    for mod in (onnx_export, detector_export):
        monkeypatch.setattr(mod, "_export", export)
        monkeypatch.setattr(mod, "verify", verify)
    return calls


@pytest.fixture
def quantize_spy(monkeypatch):
    calls = []

    def spy(float_path, out, batches):
        calls.append(SimpleNamespace(model=Path(float_path), out=Path(out), batches=list(batches)))
        raise Reached
    monkeypatch.setattr(quantize_mod, "quantize", spy)
    return calls


CKPT = {"landmarks": "lm", "detector": "det"}
OTHER = {"landmarks": "det", "detector": "lm"}


def _export_argv(made, kind, out, *opts, ckpt=None):
    return [kind, str(ckpt or getattr(made, CKPT[kind])), "-o", str(out), *opts]


# -- both commands: --help -------------------------------------------------------------------------
@pytest.mark.parametrize("main", [onnx_export.main, quantize_mod.main], ids=["onnx_export", "quantize"])
def test_help_exits_0_with_the_usage(main, capsys):
    r = _run(main, ["--help"], capsys)
    assert r.rc == 0 and r.out.startswith("usage: python -m export.") and "error" not in r.err, r


# -- export: option values -----------------------------------------------------------------------
BAD_THRESHOLDS = ["-0.1", "nan", "NaN", "inf", "1e308", str(10 ** 30), "abc", "", "x" * 5000, "45", "0,5", "1.0000001"]
BAD_COUNTS = ["0", "-1", "nan", "inf", "1e308", "abc", "", "1.5", "x" * 5000, "2e3"]


def _short(v: str) -> str:
    return v if len(v) < 20 else f"{v[:4]}*{len(v)}"


@pytest.mark.parametrize("kind, opt, value", [("detector", "--threshold", v) for v in BAD_THRESHOLDS]
                         + [(k, "--check-count", v) for k in ("landmarks", "detector") for v in BAD_COUNTS],
                         ids=lambda v: _short(v) if isinstance(v, str) else v)
def test_a_bad_option_value_is_one_usage_error_before_any_work(made, fake_export, tmp_path, capsys, kind, opt, value):
    out = tmp_path / "m.onnx"
    extra = ["--check-data", str(made.data)] if opt == "--check-count" else []
    r = _run(onnx_export.main, _export_argv(made, kind, out, *extra, opt, value), capsys)
    _refused(r, opt, value, status=(2,))
    assert not fake_export and list(tmp_path.iterdir()) == [], r


@pytest.mark.parametrize("value", ["0", "1", "0.45", "1e-07", " 0.3 ", "0.30000000000000004", "０.５"])
def test_a_threshold_in_0_1_is_stored_exactly(made, fake_export, tmp_path, capsys, value):
    out = tmp_path / "d.onnx"
    r = _run(onnx_export.main, _export_argv(made, "detector", out, "--threshold", value), capsys)
    assert r.rc == 0, r
    stored = _meta(out)["threshold"]
    assert type(stored) is float and stored == float(value) and math.isfinite(stored), (stored, value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.onnx"]


VERSIONS = ["1.10", VERSION + " 日本語", "x" * 20000, "-1", "null", "NaN", '{"a": 1}', " padded ", "0", "tab\there"]


@pytest.mark.parametrize("kind", ["landmarks", "detector"])
@pytest.mark.parametrize("value", VERSIONS, ids=_short)
def test_the_version_is_stored_exactly_as_given(made, fake_export, tmp_path, capsys, kind, value):
    out = tmp_path / "m.onnx"
    r = _run(onnx_export.main, _export_argv(made, kind, out, "--version", value), capsys)
    assert r.rc == 0, r
    assert _meta(out)["model_version"] == value


@pytest.mark.parametrize("kind, count, checked", [("landmarks", "1", 1), ("landmarks", "3", 3),
                                                  ("landmarks", str(10 ** 30), HANDS),   # "checks them all"
                                                  ("landmarks", None, HANDS), ("detector", "1", 1),
                                                  ("detector", "3", 3), ("detector", None, 16)])
def test_check_count_checks_what_the_figures_say(made, fake_export, tmp_path, capsys, kind, count, checked):
    out = tmp_path / "m.onnx"
    r = _run(onnx_export.main, _export_argv(made, kind, out, "--check-data", str(made.data),
                                            *(["--check-count", count] if count else [])), capsys)
    assert r.rc == 0, r
    figs = json.loads(r.out.strip().splitlines()[-1])
    assert figs["real_crops" if kind == "landmarks" else "real_scenes"] == checked, figs


def test_the_real_exports_hold_exactly_the_values_given(made):
    """The exports made for real: the threshold and the version read back as given, the scenes of
    --check-data counted, nothing but the two files in their folder (no temporary file)."""
    from tracker.detector import HandDetector
    from tracker.landmarks import LandmarkModel
    raw = {p.key: p.value for p in onnx.load(str(made.det_onnx)).metadata_props}
    assert raw["threshold"] == "0.45" and HandDetector(made.det_onnx, threads=1).default_threshold == 0.45
    assert LandmarkModel(made.lm_onnx, threads=1).meta["model_version"] == VERSION
    assert made.det_figures["real_scenes"] == 2 and made.det_figures["real_scenes_max_keypoint_diff_px"] <= 0.1
    assert made.exported_files == ["det.onnx", "lm.onnx"]


@pytest.mark.parametrize("kind", ["landmarks", "detector"])
def test_an_empty_version_is_not_replaced_silently(made, fake_export, tmp_path, capsys, kind):
    out = tmp_path / "m.onnx"
    r = _run(onnx_export.main, _export_argv(made, kind, out, "--version", ""), capsys)
    if r.rc == 0:
        assert _meta(out)["model_version"] == ""
    else:
        _refused(r, "--version")
        assert not fake_export


def test_a_version_that_cannot_be_stored_is_refused_before_the_export(made, fake_export, tmp_path, capsys):
    r = _run(onnx_export.main, _export_argv(made, "landmarks", tmp_path / "m.onnx", "--version", "v1\udcff"), capsys)
    _refused(r, "--version")
    assert not fake_export, r


# -- export: the checkpoint argument -------------------------------------------------------------
BAD_CKPTS = ["missing.pt", "empty.pt", "trunc.pt", "plain.pt", "list.pt", "nocfg.pt", "notes.pt", "model.pt", "other"]


@pytest.mark.parametrize("kind", ["landmarks", "detector"])
@pytest.mark.parametrize("name", BAD_CKPTS)
def test_an_unusable_checkpoint_is_one_error_naming_it_before_any_work(made, fake_export, tmp_path, capsys, kind,
                                                                      name):
    ckpt = getattr(made, OTHER[kind]) if name == "other" else made.bad / name
    out = tmp_path / "m.onnx"
    r = _run(onnx_export.main, _export_argv(made, kind, out, ckpt=ckpt), capsys)
    _refused(r, str(ckpt))
    assert not fake_export and list(tmp_path.iterdir()) == [], r


@pytest.mark.parametrize("command", ["onnx_export", "quantize"])
def test_a_folder_given_as_the_input_is_called_a_folder(made, tmp_path, capsys, command):
    folder = made.bad / "ckdir"
    if command == "onnx_export":
        r = _run(onnx_export.main, _export_argv(made, "landmarks", tmp_path / "m.onnx", ckpt=folder), capsys)
    else:
        r = _run(quantize_mod.main, [str(folder), "-o", str(tmp_path / "q.onnx"), "--data", str(made.data)], capsys)
    line = _refused(r, str(folder))
    assert "folder" in line or "directory" in line, r


def _odd_checkpoint(made, tmp_path, key, value) -> Path:
    ck = torch.load(made.lm, weights_only=False)
    ck[key] = value
    torch.save(ck, tmp_path / "odd.pt")
    return tmp_path / "odd.pt"


@pytest.mark.parametrize("value", [None, [1, 2]], ids=["None", "list"])
def test_a_checkpoint_whose_weights_are_not_a_state_dict_is_one_error(made, fake_export, tmp_path, capsys, value):
    ckpt = _odd_checkpoint(made, tmp_path, "model", value)
    r = _run(onnx_export.main, _export_argv(made, "landmarks", tmp_path / "m.onnx", ckpt=ckpt), capsys)
    _refused(r, str(ckpt))
    assert not fake_export


def test_a_checkpoint_with_no_training_state_exports_or_is_refused_first(made, fake_export, tmp_path, capsys):
    ckpt = _odd_checkpoint(made, tmp_path, "state", None)
    r = _run(onnx_export.main, _export_argv(made, "landmarks", tmp_path / "m.onnx", ckpt=ckpt), capsys)
    if r.rc != 0:
        _refused(r, str(ckpt))
        assert not fake_export, r


# -- export: -o ----------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["landmarks", "detector"])
@pytest.mark.parametrize("case", ["checkpoint", "checkpoint via ./", "link to the checkpoint", "a folder", "empty",
                                  "under a file", "the --check-data labels"])
def test_an_output_that_cannot_be_one_is_refused_before_any_work(made, fake_export, tmp_path, capsys, kind, case):
    ws = tmp_path / "ws"
    ws.mkdir()
    ckpt = ws / "m.pt"
    shutil.copy(getattr(made, CKPT[kind]), ckpt)
    labels = ws / "val.json"
    shutil.copy(made.data / "val.json", labels)
    extra = []
    out = {"checkpoint": str(ckpt), "checkpoint via ./": f"{ws}/./m.pt", "link to the checkpoint": str(ws / "l.onnx"),
           "a folder": str(ws), "empty": "", "under a file": str(labels / "m.onnx"),
           "the --check-data labels": str(labels)}[case]
    if case == "link to the checkpoint":
        (ws / "l.onnx").symlink_to(ckpt)
    if case == "the --check-data labels":
        extra = ["--check-data", str(labels)]
    before = _snapshot(ws)
    r = _run(onnx_export.main, [kind, str(ckpt), "-o", out, *extra], capsys)
    _refused(r, "-o/--output")
    assert not fake_export, r
    _unchanged(before, (ws,), r)


def test_an_output_into_folders_not_made_yet_is_written(made, fake_export, tmp_path, capsys):
    out = tmp_path / "a" / "b" / "m.onnx"
    r = _run(onnx_export.main, _export_argv(made, "detector", out, "--threshold", "0.5"), capsys)
    assert r.rc == 0 and _meta(out)["threshold"] == 0.5, r
    assert [p.name for p in out.parent.iterdir()] == ["m.onnx"]


@pytest.mark.parametrize("command", ["onnx_export", "quantize"])
def test_an_output_naming_a_new_folder_is_not_written_as_a_file(made, fake_export, quantize_spy, tmp_path, capsys,
                                                                 command):
    out = tmp_path / "newdir"
    if command == "onnx_export":
        r = _run(onnx_export.main, _export_argv(made, "landmarks", f"{out}{os.sep}"), capsys)
    else:
        r = _run(quantize_mod.main, [str(made.lm_onnx), "-o", f"{out}{os.sep}", "--data", str(made.data),
                                     "--calib", "1", "--threads", "1"], capsys)
        assert not quantize_spy or quantize_spy[0].out.name != "newdir", r
    assert not out.is_file(), r
    if r.rc != 0:
        _refused(r, "-o/--output")


def test_an_output_name_of_legal_length_is_written_or_refused_first(made, tmp_path, capsys, monkeypatch):
    calls = []
    real = detector_export._export
    monkeypatch.setattr(detector_export, "_export", lambda *a, **k: calls.append(1) or real(*a, **k))
    # the longest name whose probe file (".NAME.PID.probe", check_output) the system takes
    n = os.pathconf(tmp_path, "PC_NAME_MAX") - len(f"..{os.getpid()}.probe")
    out = tmp_path / ("n" * (n - 5) + ".onnx")
    r = _run(onnx_export.main, _export_argv(made, "detector", out), capsys)
    if r.rc == 0:
        assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]
    else:
        _refused(r, "-o/--output")
        assert not calls and list(tmp_path.iterdir()) == [], r


@pytest.mark.parametrize("command", ["onnx_export", "quantize"])
def test_an_output_onto_the_labels_of_a_data_folder_is_refused(made, fake_export, quantize_spy, tmp_path, capsys,
                                                               command):
    data = tmp_path / "data"
    shutil.copytree(made.data, data)
    labels = data / ("val.json" if command == "onnx_export" else "train.json")
    before = labels.read_bytes()
    if command == "onnx_export":
        r = _run(onnx_export.main, _export_argv(made, "landmarks", labels, "--check-data", str(data)), capsys)
    else:
        r = _run(quantize_mod.main, [str(made.lm_onnx), "-o", str(labels), "--data", str(data), "--calib", "1",
                                     "--threads", "1"], capsys)
    assert labels.read_bytes() == before, r
    _refused(r, "-o/--output")
    assert not fake_export and not quantize_spy, r


@pytest.mark.parametrize("case", ["export: other kind", "export: bad --check-data", "quantize: missing model",
                                  "quantize: missing data"])
def test_a_refused_run_leaves_no_folder_behind(made, fake_export, quantize_spy, tmp_path, capsys, case):
    out = tmp_path / "new" / "m.onnx"
    if case == "export: other kind":
        r = _run(onnx_export.main, _export_argv(made, "landmarks", out, ckpt=made.det), capsys)
    elif case == "export: bad --check-data":
        r = _run(onnx_export.main, _export_argv(made, "detector", out, "--check-data", str(made.bad / "empty.csv")),
                 capsys)
    elif case == "quantize: missing model":
        r = _run(quantize_mod.main, [str(tmp_path / "no.onnx"), "-o", str(out), "--data", str(made.data)], capsys)
    else:
        r = _run(quantize_mod.main, [str(made.lm_onnx), "-o", str(out), "--data", str(tmp_path / "nodata")], capsys)
    _refused(r)
    assert list(tmp_path.iterdir()) == [], r


def test_a_refused_export_keeps_the_earlier_file(made, fake_export, tmp_path, capsys):
    """An earlier model at -o stays byte-identical, with nothing beside it, whatever the refusal:
    on the command line (a --version that cannot be stored too), the checkpoint, the data."""
    out = tmp_path / "m.onnx"
    shutil.copy(made.lm_onnx, out)
    bad = made.bad
    for argv in (_export_argv(made, "detector", out, "--threshold", "nan"),
                 _export_argv(made, "landmarks", out, "--check-count", "0", "--check-data", str(made.data)),
                 _export_argv(made, "landmarks", out, ckpt=bad / "trunc.pt"),
                 _export_argv(made, "landmarks", out, ckpt=made.det),
                 _export_argv(made, "detector", out, "--check-data", str(bad / "nohands")),
                 _export_argv(made, "landmarks", out, "--check-data", str(bad / "garbage.json")),
                 _export_argv(made, "landmarks", out, "--version", "v\udcff")):
        r = _run(onnx_export.main, argv, capsys)
        _refused(r)
        assert out.read_bytes() == made.lm_onnx.read_bytes(), r
        assert [p.name for p in tmp_path.iterdir()] == ["m.onnx"], r


@pytest.mark.parametrize("case", ["an earlier file", "a new folder"])
def test_a_real_export_failing_after_its_work_leaves_the_files_as_they_were(made, tmp_path, capsys, monkeypatch,
                                                                            case):
    """The real exporter: the model is built and verified, then writing it fails (a full disk,
    half the file written); the earlier file at -o is kept byte-identical with no temporary file
    beside it, and a folder made for -o is removed again."""
    import errno

    def full_disk(model, path, *a, **k):
        Path(path).write_bytes(model.SerializeToString()[:1000])
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(onnx, "save", full_disk)
    out = tmp_path / "d.onnx" if case == "an earlier file" else tmp_path / "new" / "d.onnx"
    if case == "an earlier file":
        shutil.copy(made.det_onnx, out)
    r = _run(onnx_export.main, _export_argv(made, "detector", out), capsys)
    assert "No space left" in _refused(r, "-o/--output", str(out))
    if case == "an earlier file":
        assert out.read_bytes() == made.det_onnx.read_bytes()
        assert [p.name for p in tmp_path.iterdir()] == ["d.onnx"], r
    else:
        assert list(tmp_path.iterdir()) == [], r


def test_a_quantisation_failing_after_its_work_leaves_no_folder_behind(made, tmp_path, capsys, monkeypatch):
    out = tmp_path / "new" / "q.onnx"

    def failing(float_path, out, batches):
        out.parent.mkdir(parents=True, exist_ok=True)   # as quantize() does for its temporary files
        raise ValueError("the calibration failed")
    monkeypatch.setattr(quantize_mod, "quantize", failing)
    r = _run(quantize_mod.main, _q_argv(made, out, "--calib", "1", "--threads", "1"), capsys)
    assert "the calibration failed" in _refused(r)
    assert list(tmp_path.iterdir()) == [], r


# -- export: --check-data --------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["landmarks", "detector"])
@pytest.mark.parametrize("name", ["garbage.json", "garbage.csv", "empty.csv", "nohands", "emptydir", "trunc.pt"])
def test_unusable_check_data_is_one_error_naming_it_before_the_export(made, fake_export, tmp_path, capsys, kind,
                                                                      name):
    data = made.bad / name
    r = _run(onnx_export.main, _export_argv(made, kind, tmp_path / "m.onnx", "--check-data", str(data)), capsys)
    _refused(r, "--check-data", str(data))
    assert not fake_export and list(tmp_path.iterdir()) == [], r


@pytest.mark.parametrize("command", ["onnx_export", "quantize"])
def test_an_empty_data_path_is_refused(made, fake_export, quantize_spy, tmp_path, capsys, monkeypatch, command):
    shutil.copytree(made.data, tmp_path / "here")
    monkeypatch.chdir(tmp_path / "here")
    if command == "onnx_export":
        r = _run(onnx_export.main, _export_argv(made, "landmarks", tmp_path / "m.onnx", "--check-data", ""), capsys)
        _refused(r, "--check-data")
    else:
        r = _run(quantize_mod.main, [str(made.lm_onnx), "-o", str(tmp_path / "q.onnx"), "--data", "", "--calib", "1",
                                     "--threads", "1"], capsys)
        _refused(r, "--data")
    assert not fake_export and not quantize_spy


def test_a_detector_check_count_no_run_can_make_is_refused_up_front(made, fake_export, tmp_path, capsys):
    count = str(10 ** 30)
    r = _run(onnx_export.main, _export_argv(made, "detector", tmp_path / "m.onnx", "--check-data", str(made.data),
                                            "--check-count", count), capsys)
    _refused(r, "--check-count", count)
    assert not fake_export


def test_export_input_error_exits_with_status_1(made, tmp_path, capsys):
    """A missing checkpoint is an input error found after parsing: status 1 with one error line
    naming it (the export tools' convention, train.common.run_cli), not argparse's usage status 2."""
    missing = tmp_path / "missing.pt"
    r = _run(onnx_export.main, _export_argv(made, "landmarks", tmp_path / "m.onnx", ckpt=missing), capsys)
    _refused(r, str(missing), status=(1,))


# -- export: seeded random command lines ---------------------------------------------------------
GOOD_THRESHOLDS = ["0", "1", "0.45", "1e-07", " 0.3 ", "0.999"]
# left out: --version '' (test_an_empty_version_is_not_replaced_silently) and a surrogate
# (test_a_version_that_cannot_be_stored_is_refused_before_the_export), both refused
GOOD_VERSIONS = ["1.10", VERSION, "x" * 3000, "-1", "null", "NaN", '{"a": 1}', " pad "]
BAD_CKPT_KEYS = ["missing.pt", "empty.pt", "trunc.pt", "plain.pt", "notes.pt", "model.pt"]
BAD_DATA_KEYS = ["garbage.json", "garbage.csv", "empty.csv", "nohands", "emptydir", "missing"]


def draw_export(rng: random.Random, made, ws: Path) -> tuple[list[str], dict]:
    """A random export command line and what it should do (``expect["ok"]``: written, else refused)."""
    kind = rng.choice(["landmarks", "detector"])
    ck_key = rng.choice([CKPT[kind]] * 6 + [OTHER[kind]] + BAD_CKPT_KEYS)
    ckpt = getattr(made, ck_key) if ck_key in ("lm", "det") else made.bad / ck_key
    ok = ck_key == CKPT[kind]
    out_key = rng.choice(["new"] * 4 + ["newdir", "existing", "existing", "folder", "checkpoint", "empty"])
    out = {"new": ws / "m.onnx", "newdir": ws / "d1" / "d2" / "m.onnx", "existing": ws / "old.onnx", "folder": ws,
           "checkpoint": ckpt, "empty": ""}[out_key]
    ok &= out_key in ("new", "newdir", "existing")
    opts, expect = [], {"kind": kind, "out": out, "ckpt": ckpt}
    if rng.random() < 0.4:
        expect["version"] = rng.choice(GOOD_VERSIONS)
        opts.append(["--version", expect["version"]])
    if rng.random() < 0.4:
        good = rng.random() < 0.6
        value = rng.choice(GOOD_THRESHOLDS if good else BAD_THRESHOLDS)
        ok &= good and kind == "detector"
        expect["threshold"] = value
        opts.append(["--threshold", value])
    data_ok = None
    if rng.random() < 0.35:
        key = rng.choice(["good"] * 3 + BAD_DATA_KEYS)
        data_ok = key == "good"
        ok &= data_ok
        opts.append(["--check-data", str(made.data if data_ok else made.bad / key)])
    count = None
    if rng.random() < 0.3:
        good = rng.random() < 0.6
        # left out: detector 10**30 (test_a_detector_check_count_no_run_can_make_is_refused_up_front)
        count = rng.choice((["1", "2", "3"] + ([str(10 ** 30)] if kind == "landmarks" else [])) if good
                           else BAD_COUNTS)
        ok &= good and data_ok is not None
        opts.append(["--check-count", count])
    if data_ok:
        n = int(count) if count and count.isdigit() else 16
        expect["checked"] = min(n, HANDS) if kind == "landmarks" else n
    rng.shuffle(opts)
    flat = [a for o in opts for a in ([f"{o[0]}={o[1]}"] if rng.random() < 0.2 else o)]
    head = [kind, str(ckpt)]
    argv = [*head, "-o", str(out), *flat] if rng.random() < 0.7 else ["-o", str(out), *flat, *head]
    expect["ok"] = ok
    return argv, expect


@pytest.mark.parametrize("case", range(N_EXPORT_CASES))
def test_random_export_command_line(made, fake_export, tmp_path, capsys, case):
    ws = tmp_path / "ws"
    ws.mkdir()
    shutil.copy(made.lm_onnx, ws / "old.onnx")
    argv, expect = draw_export(random.Random(SEED * 1000 + case), made, ws)
    before = _snapshot(ws)
    r = _run(onnx_export.main, argv, capsys)
    assert r.rc in (0, 1, 2), f"case {case}\n{r}"
    if not expect["ok"]:
        _refused(r)
        assert not fake_export, f"case {case}: refused after the export\n{r}"
        _unchanged(before, (ws,), r)
    else:
        assert r.rc == 0, f"case {case}: a good command line refused\n{r}"
        out = Path(expect["out"])
        meta = _meta(out)
        assert meta["kind"] == expect["kind"]
        assert meta["model_version"] == expect.get("version", f"{expect['ckpt'].stem}-step1"), meta["model_version"]
        if expect["kind"] == "detector":
            assert meta["threshold"] == float(expect.get("threshold", 0.3))
        figs = json.loads(r.out.strip().splitlines()[-1])
        if "checked" in expect:
            assert figs["real_crops" if expect["kind"] == "landmarks" else "real_scenes"] == expect["checked"], figs
        files, _ = _snapshot(ws)
        changed = {p for p in files if before[0].get(p) != files[p]}
        assert changed == {str(out)}, f"case {case}: {sorted(changed)}\n{r}"
    assert _snapshot(made.root) == made.snapshot, f"case {case}: an input changed\n{r}"


# -- quantize ------------------------------------------------------------------------------------
def _q_argv(made, out, *opts, model=None, data=None):
    return [str(model or made.lm_onnx), "-o", str(out), "--data", str(data or made.data), *opts]


Q_BAD = [("--calib", v) for v in ("0", "-1", "nan", "inf", "1e308", "abc", "", "1.5", "x" * 5000)] + \
        [("--eval", v) for v in ("0", "-3", "nan", "abc", "")] + \
        [("--photos", v) for v in ("-1", "nan", "abc", "")] + \
        [("--threads", v) for v in ("0", "-1", "nan", "", "1.5")] + \
        [("--val-fraction", v) for v in ("nan", "inf", "-0.1", "1", "1e308", "abc", "", "x" * 5000)]


@pytest.mark.parametrize("opt, value", Q_BAD, ids=lambda v: _short(v))
@pytest.mark.parametrize("kind", ["landmarks", "detector"])
def test_quantize_bad_option_value_is_refused_before_any_work(made, quantize_spy, tmp_path, capsys, kind, opt, value):
    model = made.lm_onnx if kind == "landmarks" else made.det_onnx
    r = _run(quantize_mod.main, _q_argv(made, tmp_path / "q.onnx", opt, value, model=model), capsys)
    _refused(r, opt, value)
    assert not quantize_spy and list(tmp_path.iterdir()) == [], r


@pytest.mark.parametrize("kind", ["landmarks", "detector"])
@pytest.mark.parametrize("opts, batches", [(["--calib", "1"], 1), (["--calib", "3", "--threads", "2"], 3),
                                           (["--calib", "2", "--photos", "0", "--eval", "1"], 2)])
def test_quantize_good_values_reach_the_work_as_given(made, quantize_spy, tmp_path, capsys, kind, opts, batches):
    model = made.lm_onnx if kind == "landmarks" else made.det_onnx
    out = tmp_path / "sub" / "q.onnx"
    r = _run(quantize_mod.main, _q_argv(made, out, *opts, model=model), capsys)
    assert r.rc == "reached", r
    (call,) = quantize_spy
    assert call.model == model and call.out == out and len(call.batches) == batches


def test_quantize_val_fraction_of_a_single_file_is_taken(made, quantize_spy, tmp_path, capsys, monkeypatch):
    import train.data
    seen, real = [], train.data.load_train_val
    monkeypatch.setattr(train.data, "load_train_val", lambda p, **k: seen.append(k) or real(p, **k))
    r = _run(quantize_mod.main, _q_argv(made, tmp_path / "q.onnx", "--calib", "2", "--val-fraction", "0.25",
                                        data=made.csv), capsys)
    assert r.rc == "reached" and seen == [{"val_fraction": 0.25}], r


@pytest.mark.parametrize("name", ["missing.onnx", "empty.onnx", "trunc.onnx", "notes.onnx", "segmenter.onnx", "ckpt"])
def test_quantize_unusable_model_is_one_error_naming_it_before_any_work(made, quantize_spy, tmp_path, capsys, name):
    model = made.lm if name == "ckpt" else made.bad / name
    r = _run(quantize_mod.main, _q_argv(made, tmp_path / "q.onnx", "--calib", "1", model=model), capsys)
    _refused(r, str(model))
    assert not quantize_spy and list(tmp_path.iterdir()) == [], r


@pytest.mark.parametrize("case", ["the model", "the model via ./", "a folder", "empty", "under a file"])
def test_quantize_output_that_cannot_be_one_is_refused_before_any_work(made, quantize_spy, tmp_path, capsys, case):
    model = tmp_path / "m.onnx"
    shutil.copy(made.lm_onnx, model)
    (tmp_path / "f").write_text("x")
    out = {"the model": str(model), "the model via ./": f"{tmp_path}/./m.onnx", "a folder": str(tmp_path),
           "empty": "", "under a file": str(tmp_path / "f" / "q.onnx")}[case]
    before = _snapshot(tmp_path)
    r = _run(quantize_mod.main, [str(model), "-o", out, "--data", str(made.data), "--calib", "1"], capsys)
    _refused(r, "-o/--output")
    assert not quantize_spy
    _unchanged(before, (tmp_path,), r)


@pytest.mark.parametrize("name", ["missing", "garbage.json", "garbage.csv", "emptydir", "trunc.pt"])
def test_quantize_unusable_data_is_one_error_naming_it_before_any_work(made, quantize_spy, tmp_path, capsys, name):
    data = made.bad / name
    old = tmp_path / "q.onnx"
    shutil.copy(made.lm_onnx, old)
    r = _run(quantize_mod.main, _q_argv(made, old, "--calib", "1", data=data), capsys)
    _refused(r, str(data))
    assert not quantize_spy and old.read_bytes() == made.lm_onnx.read_bytes(), r
    assert [p.name for p in tmp_path.iterdir()] == ["q.onnx"]


@pytest.mark.parametrize("kind", ["landmarks", "detector"])
@pytest.mark.parametrize("name", ["notrain", "empty.csv"])
def test_quantize_data_without_training_hands_is_refused_naming_it(made, quantize_spy, tmp_path, capsys, kind, name):
    data = made.bad / name
    model = made.lm_onnx if kind == "landmarks" else made.det_onnx
    r = _run(quantize_mod.main, _q_argv(made, tmp_path / "q.onnx", "--calib", "1", model=model, data=data), capsys)
    line = _refused(r)
    assert "--data" in line or str(data) in line, r
    assert not quantize_spy


@pytest.mark.parametrize("kind", ["landmarks", "detector"])
def test_quantize_data_without_val_hands_is_refused_before_the_work(made, quantize_spy, tmp_path, capsys, kind):
    data = made.bad / "noval"
    model = made.lm_onnx if kind == "landmarks" else made.det_onnx
    r = _run(quantize_mod.main, _q_argv(made, tmp_path / "q.onnx", "--calib", "1", model=model, data=data), capsys)
    line = _refused(r)
    assert "--data" in line or str(data) in line, r
    assert not quantize_spy


@pytest.mark.parametrize("opt", ["--calib", "--eval"])
def test_quantize_detector_scene_count_no_run_can_make_is_refused_up_front(made, quantize_spy, tmp_path, capsys,
                                                                           opt):
    count = str(10 ** 30)
    argv = _q_argv(made, tmp_path / "q.onnx", "--calib", "1", "--eval", "1", model=made.det_onnx)
    argv[argv.index(opt) + 1] = count
    r = _run(quantize_mod.main, argv, capsys)
    _refused(r, opt, count)
    assert not quantize_spy


@pytest.mark.parametrize("opt", ["--calib", "--eval"])
def test_quantize_count_above_the_hands_is_not_clamped_silently(made, quantize_spy, tmp_path, capsys, caplog, opt):
    argv = _q_argv(made, tmp_path / "q.onnx", "--calib", "2", "--eval", "2", "--threads", "1")
    argv[argv.index(opt) + 1] = "50"                 # made.data holds 4 hands in each split
    with caplog.at_level(logging.WARNING):
        r = _run(quantize_mod.main, argv, capsys)
    said = [x.getMessage() for x in caplog.records if x.levelno >= logging.WARNING and opt in x.getMessage()]
    if r.rc != "reached":
        _refused(r, opt, "50")
    else:
        assert said, f"{opt} 50 used as {HANDS} without a warning\n{r}"


def test_quantize_val_fraction_with_a_dataset_folder_is_refused(made, quantize_spy, tmp_path, capsys):
    r = _run(quantize_mod.main, _q_argv(made, tmp_path / "q.onnx", "--calib", "1", "--val-fraction", "0.5"), capsys)
    _refused(r, "--val-fraction", "0.5")
    assert not quantize_spy


@pytest.mark.parametrize("source", ["csv", "json"])
def test_quantize_output_onto_the_data_file_is_refused(made, quantize_spy, tmp_path, capsys, source):
    if source == "csv":
        data = _own_csv(tmp_path / "own", n=6)
    else:
        data = tmp_path / "d" / "val.json"
        shutil.copytree(made.data, data.parent)
    before = data.read_bytes()
    r = _run(quantize_mod.main, _q_argv(made, data, "--calib", "1", data=data), capsys)
    assert data.read_bytes() == before
    _refused(r, "-o/--output")
    assert not quantize_spy


def test_quantize_input_error_exits_with_status_1(made, tmp_path, capsys):
    """A missing model file: status 1 with one error line naming it (as the export)."""
    missing = tmp_path / "missing.onnx"
    r = _run(quantize_mod.main, _q_argv(made, tmp_path / "q.onnx", model=missing), capsys)
    _refused(r, str(missing), status=(1,))


# -- quantize: seeded random command lines -------------------------------------------------------
def draw_quantize(rng: random.Random, made, ws: Path) -> tuple[list[str], dict]:
    model_key = rng.choice(["lm"] * 4 + ["det"] * 3 + ["missing.onnx", "trunc.onnx", "ckpt", "empty.onnx",
                                                      "segmenter.onnx"])
    model = {"lm": made.lm_onnx, "det": made.det_onnx, "ckpt": made.lm}.get(model_key, made.bad / model_key)
    ok = model_key in ("lm", "det")
    out_key = rng.choice(["new"] * 4 + ["newdir", "existing", "folder", "model", "empty"])
    out = {"new": ws / "q.onnx", "newdir": ws / "a" / "q.onnx", "existing": ws / "old.onnx", "folder": ws,
           "model": model, "empty": ""}[out_key]
    ok &= out_key in ("new", "newdir", "existing")
    data_key = rng.choice(["coco"] * 3 + ["csv"] * 2 + ["missing", "garbage.json", "emptydir"])
    data = {"coco": made.data, "csv": made.csv}.get(data_key, made.bad / data_key)
    ok &= data_key in ("coco", "csv")
    good = rng.random() < 0.8
    # at most 3 (made.data's 4 training hands; more: test_quantize_count_above_the_hands_is_not_clamped_silently)
    calib = rng.choice(["1", "2", "3"] if good else ["0", "-1", "nan", "abc", ""])
    ok &= good
    opts = [["--calib", calib]]
    for opt, goods, bads in (("--eval", ["1", "2"], ["0", "x"]), ("--photos", ["0", "2"], ["-1", "x", ""]),
                             ("--threads", ["1", "2"], ["0", "x", "1.5"]),
                             # a good one with a dataset folder: test_quantize_val_fraction_with_a_dataset_folder_...
                             ("--val-fraction", ["0.25", "0"] if data_key == "csv" else [],
                              ["nan", "1", "-0.1", "abc", "", "1e308"])):
        if rng.random() < 0.3:
            good = goods and rng.random() < 0.6
            opts.append([opt, rng.choice(goods if good else bads)])
            ok &= bool(good)
    rng.shuffle(opts)
    flat = [a for o in opts for a in ([f"{o[0]}={o[1]}"] if rng.random() < 0.2 else o)]
    argv = [str(model), "-o", str(out), "--data", str(data), *flat]
    return argv, {"ok": ok, "model": model, "out": out, "calib": int(calib) if ok else None}


@pytest.mark.parametrize("case", range(N_QUANTIZE_CASES))
def test_random_quantize_command_line(made, quantize_spy, tmp_path, capsys, case):
    ws = tmp_path / "ws"
    ws.mkdir()
    shutil.copy(made.lm_onnx, ws / "old.onnx")
    argv, expect = draw_quantize(random.Random(SEED * 1000 + case), made, ws)
    before = _snapshot(ws)
    r = _run(quantize_mod.main, argv, capsys)
    if expect["ok"]:
        assert r.rc == "reached", f"case {case}: a good command line refused\n{r}"
        (call,) = quantize_spy
        assert (call.model, call.out, len(call.batches)) == (expect["model"], expect["out"], expect["calib"])
    else:
        _refused(r)
        assert not quantize_spy, f"case {case}: refused after the quantisation started\n{r}"
    _unchanged(before, (ws,), r)      # the spy writes nothing: every case leaves the files as they were
    assert _snapshot(made.root) == made.snapshot, f"case {case}: an input changed\n{r}"


@pytest.mark.parametrize("value", ["nan", "inf", "-0.1", "1", "abc"])
def test_quantize_val_fraction_outside_a_share_is_a_usage_error(made, quantize_spy, tmp_path, capsys, value):
    """quantize --val-fraction outside [0, 1): refused at parse time (status 2), as the training
    loops and train.evaluate do, not once the data were read (status 1)."""
    r = _run(quantize_mod.main, _q_argv(made, tmp_path / "q.onnx", "--val-fraction", value,
                                        data=made.csv), capsys)
    _refused(r, "--val-fraction", value, status=(2,))
    assert not quantize_spy, r
