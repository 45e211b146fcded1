"""The user docs against the code, beyond what tests/test_docs.py pins (option tables, links, option
names of doc commands): doc commands parse as written, every ``--option`` the docs name exists,
the examples' documented commands parse, the CLI's defaults are the documented option defaults, and
the README's output fields, CSV columns and keypoint names are the ones the code writes."""
from __future__ import annotations

import argparse
import ast
import contextlib
import dataclasses
import importlib.util
import io
import re
import shlex
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.test_docs import COMMAND_DOCS, command_options, command_parser, doc_commands
from tracker import Hand, HandTrackerOptions, HandTrackerResult, KEYPOINT_NAMES
from tracker import cli

ROOT = Path(__file__).resolve().parents[1]

#: every command the docs show (``python -m ...`` and ``handtrack ...``, with their subcommands)
COMMANDS = ([("handtrack", None), ("handtrack", "video"), ("handtrack", "webcam")]
            + [(m, None) for m in ("train.train_landmarks", "train.train_detector", "train.evaluate",
                                   "train.prelabel", "train.pack", "train.widen", "train.sanity",
                                   "train.curves", "train.mine", "export.onnx_export", "export.quantize", "bench")]
            + [("bench", s) for s in ("models", "live", "robustness", "soak", "train-step", "frame-rate")])
#: options of other programs the docs name (pip, torchrun, pytest-xdist)
FOREIGN = {"--no-deps", "--nproc_per_node", "--dist"}
#: placeholders the docs write for a value the reader supplies
PLACEHOLDERS = {"T": "0.45", "M": "30"}


def _words(command: str) -> list[str] | None:
    """The argument words of a doc command line after ``python -m MODULE`` / ``handtrack``, cut at
    a shell operator; None for a synopsis or template line that cannot run as written."""
    words = shlex.split(command.replace("\\ ", " ").replace("[", "").replace("]", ""))
    for i, w in enumerate(words):
        if w in ("|", ";", "&&") or w.startswith(">") or w.startswith("2>"):
            words = words[:i]
            break
    args = [PLACEHOLDERS.get(w, w) for w in words[3 if words[0] == "python" else 1:]]
    if any(re.search(r"\$|\.\.\.|\||^(INPUT|FOLDER|PHOTOS/|F|N)$|:$", a) for a in args):
        return None
    return args


def _parse(parser: argparse.ArgumentParser, args: list[str]) -> str | None:
    """None when ``args`` parse (or ask for --help/--version), else argparse's error line."""
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            parser.parse_args(args)
    except SystemExit as e:
        if e.code:
            return (err.getvalue().strip().splitlines() or ["exit %s" % e.code])[-1]
    return None


@pytest.mark.parametrize("doc", COMMAND_DOCS)
def test_doc_commands_parse_as_written(doc, monkeypatch):
    """Not only the option names: the subcommand, required arguments (``-o``), choices
    (``--detector-turns 1|2|4``) and values must be ones the command accepts, so that a command
    copied from the docs does not stop at its usage line. Bracketed options are parsed as given;
    an inline span in prose may leave arguments out, a code block may not."""
    pytest.importorskip("torch")      # the training and export modules' main() need the [train] extra
    text = (ROOT / doc).read_text(encoding="utf-8")
    fenced = {c for c, *_ in doc_commands("".join(re.findall(r"^```[^\n]*\n.*?^```\n?", text, flags=re.S | re.M)))}
    parsers: dict = {}
    checked, wrong = 0, []
    written: set[str] = set()         # files the doc's commands make (-o/--out), for those after them
    for command, module, sub, _ in doc_commands(text):
        args = _words(command)
        if not args or (sub and args == [sub]):
            continue                  # a command named in prose (`handtrack video`), or a synopsis
        if (module, sub) not in parsers:
            parsers[module, sub] = command_parser(module, sub, monkeypatch)
        error = _parse(parsers[module, sub], args[1:] if sub else args)
        checked += 1
        missing = re.search(r"no such file: (\S+)$", error or "")
        if missing and missing.group(1) in written:
            error = None              # made by a command before it in the doc (export, then bench)
        written.update(b for a, b in zip(args, args[1:]) if a in ("-o", "--out", "--output"))
        # prose may name a command by part of it (`python -m bench --only videos --detector-model`):
        # what it gives must still be right, what it leaves out is not missing
        if error and (command in fenced or not re.search(r"required|expected one argument", error)):
            wrong.append(f"{command[:110]!r}: {error}")
    assert checked, f"{doc}: no runnable command lines found"
    assert not wrong, f"{doc}: commands that stop at their usage line:\n" + "\n".join(wrong)


def test_parse_check_catches_a_bad_value_and_a_missing_output(monkeypatch):
    pytest.importorskip("torch")
    video = command_parser("handtrack", "video", monkeypatch)
    assert _parse(video, _words("handtrack video clip.mp4 --detector-turns 4")[1:]) is None
    assert "invalid choice" in _parse(video, _words("handtrack video clip.mp4 --detector-turns 3")[1:])
    export = command_parser("export.onnx_export", None, monkeypatch)
    assert "required" in _parse(export, _words("python -m export.onnx_export landmarks runs/x/last.pt"))
    assert _words("handtrack video INPUT [-o annotated.mp4]") is None        # a synopsis is not run


def _all_options(monkeypatch) -> set[str]:
    """The option strings of every command and example."""
    examples = [example_parser(p, monkeypatch) for p in sorted((ROOT / "examples").glob("*.py"))]
    return set().union(*(command_options(m, s, monkeypatch) for m, s in COMMANDS),
                       *({o for a in p._actions for o in a.option_strings} for p in examples))


@pytest.mark.parametrize("doc", COMMAND_DOCS + ["examples/pinch.py", "examples/draw_detections.py"])
def test_every_option_the_docs_name_exists(doc, monkeypatch):
    """``--options`` named in prose (``--small-hands``, ``--only speed``) are not on a command line
    that test_docs checks: each must still be an option of one of the project's commands."""
    pytest.importorskip("torch")
    named = set(re.findall(r"(?<![\w-])(--[a-z][\w-]*)", (ROOT / doc).read_text(encoding="utf-8")))
    unknown = sorted(named - _all_options(monkeypatch) - FOREIGN)
    assert not unknown, f"{doc}: options no command has: {unknown}"


@pytest.mark.parametrize("doc", ["README.md", "docs/options.md", "docs/benchmarks.md"])
def test_cli_flags_of_tracker_options_are_handtrack_options(doc, monkeypatch):
    """"CLI ``--x``" beside a tracker option names the ``handtrack`` flag that sets it."""
    flags = set(re.findall(r"CLI `(--[a-z][\w-]*)", (ROOT / doc).read_text(encoding="utf-8")))
    have = command_options("handtrack", "video", monkeypatch)
    assert not sorted(flags - have), f"{doc}: CLI flags handtrack video lacks: {sorted(flags - have)}"


# -- examples --------------------------------------------------------------------------------------

class _Grabbed(Exception):
    def __init__(self, parser):
        self.parser = parser


def example_parser(path: Path, monkeypatch) -> argparse.ArgumentParser:
    """The argparse parser of ``python examples/NAME.py``: its ``main`` runs until it parses."""
    spec = importlib.util.spec_from_file_location(f"s36_example_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)     # dataclasses look it up
    spec.loader.exec_module(module)

    def grab(self, *args, **kwargs):
        raise _Grabbed(self)
    with monkeypatch.context() as m:
        m.setattr(argparse.ArgumentParser, "parse_known_args", grab)
        try:
            module.main([])
        except _Grabbed as got:
            return got.parser
    raise AssertionError(f"{path.name}: main() parsed no command line")


def example_commands() -> list[tuple[str, str, str]]:
    """(where, example file name, arguments) of every ``[python ]examples/NAME.py ...``: inline
    code spans and code-block lines of the docs, lines of the examples' own docstrings."""
    found = []
    for doc in COMMAND_DOCS + sorted(str(p.relative_to(ROOT)) for p in (ROOT / "examples").glob("*.py")):
        text = (ROOT / doc).read_text(encoding="utf-8")
        if doc.endswith(".py"):
            spans = (ast.get_docstring(ast.parse(text)) or "").splitlines()
        else:
            spans = [line for block in re.findall(r"^```[^\n]*\n(.*?)^```", text, flags=re.S | re.M)
                     for line in block.splitlines()]
            prose = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)
            spans += [re.sub(r"\s+", " ", s) for s in re.findall(r"`([^`]+)`", prose)]
        for span in spans:
            m = re.match(r"\s*(?:python )?examples/(\w+\.py)\b(.*)$", span.split(" #")[0])
            if m:
                found.append((doc, m.group(1), m.group(2).strip()))
    return found


def test_example_commands_parse_as_written(monkeypatch):
    commands = example_commands()
    assert {name for _, name, _ in commands} == {p.name for p in (ROOT / "examples").glob("*.py")}, \
        "every example shows how it is run"
    parsers: dict = {}
    wrong = []
    for where, name, rest in commands:
        if not rest:
            continue                  # the example named in prose
        if name not in parsers:
            parsers[name] = example_parser(ROOT / "examples" / name, monkeypatch)
        error = _parse(parsers[name], shlex.split(rest))
        if error:
            wrong.append(f"{where}: examples/{name} {rest}: {error}")
    assert not wrong, "\n".join(wrong)


# -- the CLI's defaults are the documented option defaults ----------------------------------------

@pytest.mark.parametrize("argv", [["video", "clip.mp4"], ["webcam"]])
def test_cli_without_flags_builds_the_documented_default_tracker(argv, monkeypatch):
    """The README's option table gives HandTrackerOptions' defaults; ``handtrack`` without flags
    must build that tracker (its --max-hands, --threads and --min-tracking-confidence defaults are
    written in the parser, apart from the dataclass)."""
    got = {}

    class Recorder:
        def __init__(self, **kwargs):
            got.update(kwargs)
    monkeypatch.setattr("tracker.hand_tracker.HandTracker", Recorder)
    cli.build_tracker(cli.make_parser().parse_args(argv), mirrored=False)
    defaults = {f.name: f.default for f in dataclasses.fields(HandTrackerOptions)}
    assert set(got) <= set(defaults)
    differ = {k: (v, defaults[k]) for k, v in got.items() if v != defaults[k]}
    assert not differ, f"handtrack {argv[0]}: built / documented default: {differ}"


@pytest.mark.parametrize("sub", ["video", "webcam"])
def test_cli_help_states_the_defaults_it_has(sub):
    """A "(default N)" in an option's help is the value argparse gives it."""
    parser = next(a for a in cli.make_parser()._actions if isinstance(a, argparse._SubParsersAction)).choices[sub]
    checked, wrong = 0, []
    for action in parser._actions:
        m = re.search(r"default:? ([0-9.]+|cpu|cuda)\b", action.help or "")
        if not m or action.default is None:
            continue
        checked += 1
        said = m.group(1)
        same = said == action.default if isinstance(action.default, str) else float(said) == float(action.default)
        if not same:
            wrong.append(f"{action.option_strings}: help says {said}, default is {action.default!r}")
    assert checked >= 6 and not wrong, wrong


# -- README: output fields, CSV columns, keypoint names -------------------------------------------

def _readme() -> str:
    return (ROOT / "README.md").read_text(encoding="utf-8")


def _result() -> HandTrackerResult:
    k = np.zeros((17, 2), np.float32)
    hand = Hand(side="left", track_id=1, score=0.9, keypoints=k, raw_keypoints=k,
                scores=np.ones(17, np.float32), box=np.zeros(4, np.float32), handedness=0.9)
    return HandTrackerResult(hands=[hand], frame_index=0, timestamp_ms=0.0, image_size=(64, 48))


def test_readme_jsonl_example_has_the_fields_written():
    block = re.search(r"^JSONL \(`--json`\).*?```json\n(.*?)```", _readme(), flags=re.S | re.M).group(1)
    documented = set(re.findall(r'"(\w+)":', block))
    record = cli.frame_record(0, 0.0, _result())
    written = set(record) | set(record["hands"][0])
    assert documented == written, \
        f"README JSONL example: missing {written - documented}, unknown {documented - written}"
    with_image = list(cli.frame_record(0, 0.0, _result(), image="IMG_0004.png"))
    assert with_image[:3] == ["frame", "t_ms", "image"]          # README: "after `t_ms`"


def test_readme_csv_columns_are_the_header_written():
    text = re.sub(r"\s+", " ", _readme())
    m = re.search(r"CSV \(`--csv`\), a header and one row per frame: `(\w+), (\w+)`.*?\(columns `(\w+)`, "
                  r"`(\w+)`, `(\w+)`, \.\.\., `(\w+)`; (\d+) \+ (\d+) columns\)", text)
    assert m, "README's CSV paragraph moved or changed shape: update this test with it"
    header = cli.csv_header()
    assert header[:5] == list(m.group(1, 2, 3, 4, 5)) and header[-1] == m.group(6)
    assert len(header) == int(m.group(7)) + int(m.group(8))


def test_readme_names_every_result_field():
    text = re.sub(r"\s+", " ", _readme())
    para = re.search(r"Each `Hand` has (.*?)\. The result also has (.*?)\.", text)
    hand_named = set(re.findall(r"`([a-z_]+)`", para.group(1)))
    result_named = set(re.findall(r"`([a-z_]+)`", para.group(2)))
    hand_fields = {f.name for f in dataclasses.fields(Hand)}
    result_fields = {f.name for f in dataclasses.fields(HandTrackerResult)} - {"hands"}
    assert hand_named == hand_fields, f"Hand: missing {hand_fields - hand_named}, unknown {hand_named - hand_fields}"
    assert result_named == result_fields, \
        f"result: missing {result_fields - result_named}, unknown {result_named - result_fields}"


def test_readme_keypoint_order_is_the_models():
    text = re.sub(r"\s+", " ", _readme())
    listed = re.search(r"The 17 keypoints, in order: (.*?) \(`tracker\.keypoints", text).group(1)
    names = [re.sub(r"\s*\(.*?\)", "", n).strip() for n in listed.split(",")]
    assert names == list(KEYPOINT_NAMES)


def test_command_docstrings_keep_their_shell_line_breaks():
    """A ``\\`` ending a line of a (non-raw) module docstring joins the next line onto it, indent
    and all: ``--help`` of train.train_landmarks, train.pack and export.quantize showed one long
    line with a run of spaces instead of the two-line command the source shows."""
    wrong = []
    for path in sorted([*ROOT.glob("tracker/*.py"), *ROOT.glob("train/*.py"), *ROOT.glob("export/*.py"),
                        *ROOT.glob("bench/*.py"), *ROOT.glob("examples/*.py")]):
        source = path.read_text(encoding="utf-8")
        tree = ast.parse(source)
        if not (tree.body and isinstance(tree.body[0], ast.Expr) and isinstance(tree.body[0].value, ast.Constant)
                and isinstance(tree.body[0].value.value, str)):
            continue
        segment = ast.get_source_segment(source, tree.body[0].value)
        if segment[:1] in "rR":
            continue
        if re.search(r"(?<!\\)(\\\\)*\\\n", segment):
            wrong.append(path.relative_to(ROOT).as_posix())
    assert not wrong, f"write \\\\ for a shell line break in the docstrings of {wrong}"
