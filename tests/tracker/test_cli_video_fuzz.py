"""Seeded randomized audit of ``handtrack video`` (README "Command line" is the contract).

Each case draws a command line from a fixed seed: inputs (a video, several, an image, a folder, a
missing path, a folder with no images, a text file named .mp4, one file twice, a glob-like name)
and options (-o/--json/--csv/--meta to files, folders, ``-``, one path twice, a missing folder,
an existing file, an input; --max-hands, --threads, --device, --static, --detector-turns,
--frame-rate, --mirror, --annotated-images, --max-frames, unknown and repeated options), runs
``cli.main`` in-process (about a quarter on the shipped models, the rest on the fakes of
``test_cli.fake_models``) and checks what holds for every command line:

- exit status 0 or 2, never a Python traceback;
- status 2: one error line (``handtrack: error: ...``, or argparse's usage then its error line);
- status 0: every requested output exists and is complete (JSONL lines, CSV rows and annotated
  video frames = the frames the summary reports, ``--meta`` valid JSON with ``completed`` true);
  ``-`` puts only track data on stdout, the summary going to stderr;
- nothing else in the workspace changes: no stray or partial file, inputs untouched, a file the
  run did not write keeps its bytes; on status 2 only the outputs of inputs completed before the
  error (their summary printed) may have changed, and those are complete ("nothing already
  written is lost").

A case is reproduced from its number: ``draw_case(random.Random(SEED * 1000 + case), ws)``.
A read-only folder is drawn only where it is one (not as root). The tests at the end pin down
what this audit found (an over-long output name, a --csv that cannot be opened after --json, a
folder of unreadable images, an annotated image that is another output), fixed in session 41.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import random
import re
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from tracker import cli

from .test_cli import fake_models  # noqa: F401 - fixture, requested per case

SEED = 41
N_CASES = 150
REAL_MODEL_SHARE = 0.25     # cases on the shipped models (they load in ~0.25 s on a CPU)
VIDEO_FRAMES = 20

EXT = {"output": ".mp4", "json": ".jsonl", "csv": ".csv", "meta": ".meta.json"}
FLAG = {"output": "-o", "json": "--json", "csv": "--csv", "meta": "--meta"}
OLD = b"OLD CONTENT\n"


# -- inputs, made once per module and copied into each case's workspace ---------------------------
def _write_video(path: Path, fps: float) -> None:
    """VIDEO_FRAMES frames of 160x120 written with cv2.VideoWriter (mp4v)."""
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (160, 120))
    assert w.isOpened()
    for i in range(VIDEO_FRAMES):
        frame = np.full((120, 160, 3), 8 * i, np.uint8)
        cv2.rectangle(frame, (10 + 4 * i, 20), (50 + 4 * i, 90), (0, 200, 255), -1)
        w.write(frame)
    w.release()


@pytest.fixture(scope="module")
def originals(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("s41cli_inputs")
    _write_video(root / "clip.mp4", 30)
    _write_video(root / "b.mp4", 15)              # another frame rate: --frame-rate auto refuses the pair
    shutil.copy(root / "clip.mp4", root / "odd[1]*.mp4")     # a glob-like name, given as it is
    photos = root / "photos"
    photos.mkdir()
    for name, (w, h) in (("a.png", (160, 120)), ("b.png", (120, 90)), ("c.png", (200, 150))):
        img = np.full((h, w, 3), 90, np.uint8)
        cv2.circle(img, (w // 2, h // 2), h // 4, (20, 180, 40), -1)
        assert cv2.imwrite(str(photos / name), img)
    assert cv2.imwrite(str(root / "shot.jpg"), np.full((120, 160, 3), 140, np.uint8))
    mixed = root / "mixed"                  # an unreadable image among two good ones: skipped
    mixed.mkdir()
    shutil.copy(photos / "a.png", mixed / "m1.png")
    (mixed / "m2.png").write_text("not a png\n")
    shutil.copy(photos / "c.png", mixed / "m3.png")
    (root / "empty").mkdir()
    (root / "empty" / "notes.txt").write_text("no images here\n")
    (root / "notes.mp4").write_text("this is text, not a video\n")
    # verify the made inputs: the fuzz's expectations rest on them
    for name, fps in (("clip.mp4", 30), ("b.mp4", 15)):
        cap = cv2.VideoCapture(str(root / name))
        n = 0
        while cap.read()[0]:
            n += 1
        assert n == VIDEO_FRAMES and round(cap.get(cv2.CAP_PROP_FPS)) == fps
        cap.release()
    return root


class Workspace:
    """One case's folder: ``in/`` (a copy of the inputs), output folders, pre-existing files."""

    def __init__(self, root: Path, originals: Path) -> None:
        self.root = root
        self.inp = root / "in"
        shutil.copytree(originals, self.inp)
        self.out = root / "out"
        self.out2 = root / "out2"
        self.ann = root / "ann"
        for d in (self.out, self.out2, self.ann):
            d.mkdir()
        for kind, ext in EXT.items():       # files an output may overwrite (README: existing ones are)
            (self.out / f"old{ext}").write_bytes(OLD)
        self.ro = root / "ro"
        self.ro.mkdir()
        self.ro.chmod(0o500)
        #: whether the read-only folder is one (root writes anywhere: those cases are left out)
        self.ro_works = not os.access(self.ro, os.W_OK)

    # name -> (path as given on the command line, frames it holds, or None for a bad input)
    def inputs(self) -> dict[str, tuple[str, int | None]]:
        i = self.inp
        return {
            "clip": (str(i / "clip.mp4"), VIDEO_FRAMES),
            "b": (str(i / "b.mp4"), VIDEO_FRAMES),
            "glob": (str(i / "odd[1]*.mp4"), VIDEO_FRAMES),
            "photos": (str(i / "photos"), 3),
            "photos/": (str(i / "photos") + os.sep, 3),
            "png": (str(i / "photos" / "a.png"), 1),
            "jpg": (str(i / "shot.jpg"), 1),
            "mixed": (str(i / "mixed"), 2),
            "missing": (str(i / "nope.mp4"), None),
            "pattern": (str(i / "*.mp4"), None),
            "empty": (str(i / "empty"), None),
            "text": (str(i / "notes.mp4"), None),
        }


@pytest.fixture
def ws(originals, tmp_path):
    w = Workspace(tmp_path, originals)
    yield w
    w.ro.chmod(0o700)


# -- drawing a command line ----------------------------------------------------------------------
GOOD_INPUTS = ["clip", "clip", "clip", "b", "glob", "photos", "photos/", "png", "jpg", "mixed"]
BAD_INPUTS = ["missing", "pattern", "empty", "text"]


def _target(rng: random.Random, ws: Workspace, kind: str, inputs: list[str], several: bool, noisy: bool) -> str:
    """A value for -o/--json/--csv/--meta; ``noisy``: refused ones drawn too."""
    ext = EXT[kind] if kind != "meta" else ".json"
    if several:
        choices = ["folder"] * 4 + ["folder2"] * 2
    else:
        choices = ["new"] * 4 + ["folder", "existing"] + (["stdout"] if kind in ("json", "csv") else [])
    if noisy:
        choices += ["stdout", "existing", "missing_dir", "shared", "input", "input_folder", "link", "overlong"]
        if ws.ro_works:
            choices += ["ro_file", "ro_folder"]
        choices += ["bad_ext"] if kind == "output" else []
    c = rng.choice(choices)
    if c == "overlong":                     # a name over 255 bytes: the system refuses it
        return str(ws.out / ("n" * 300 + ext))
    if c == "new":
        return str(ws.out / f"{rng.choice(['t', 'run', 'T'])}{ext}")
    if c == "folder":
        return str(ws.out)
    if c == "folder2":
        return str(ws.out2) + rng.choice(["", os.sep])
    if c == "stdout":
        return "-"
    if c == "existing":
        return str(ws.out / f"old{ext}")
    if c == "missing_dir":
        return str(ws.root / "nodir" / f"x{ext}")
    if c == "shared":
        return str(ws.out / "same.mp4")
    if c == "input":
        return rng.choice(inputs)
    if c == "input_folder":                 # folder mode next to the inputs: may name one of them
        return str(ws.inp)
    if c == "link":                         # another name of an input
        link = ws.out / f"link{ext}"
        if not link.is_symlink():
            link.symlink_to(Path(inputs[0]).resolve())
        return str(link)
    if c == "ro_file":
        return str(ws.ro / f"x{ext}")
    if c == "ro_folder":
        return str(ws.ro)
    assert c == "bad_ext"
    return str(ws.out / "x.txt")


def draw_case(rng: random.Random, ws: Workspace) -> tuple[list[str], bool]:
    """A random ``video`` command line and whether it runs on the shipped models. Half the cases
    draw from values that should work (they may still clash: the same stem twice, --frame-rate
    auto over two rates, --annotated-images with a video), half from all values."""
    noisy = rng.random() < 0.5
    table = ws.inputs()
    n = rng.choice([1] * 6 + [2] * 3 + [3])
    names = [rng.choice(GOOD_INPUTS) if not noisy or rng.random() < 0.8 else rng.choice(BAD_INPUTS)
             for _ in range(n)]
    if n > 1 and rng.random() < 0.15:
        names[-1] = names[0]                # the same file twice
    inputs = [table[k][0] for k in names]
    opts: list[list[str]] = []
    for kind in ("output", "json", "csv", "meta"):
        if rng.random() < 0.45:
            value = _target(rng, ws, kind, inputs, n > 1, noisy)
            flag = FLAG[kind] if kind != "output" or rng.random() < 0.7 else "--output"
            opts.append([f"{flag}={value}"] if rng.random() < 0.1 else [flag, value])
    if rng.random() < 0.3:
        # a target that folder mode would write: the run may overwrite it, a refused run must not
        stem = Path(inputs[0]).resolve().stem
        (ws.out / f"{stem}{rng.choice(list(EXT.values()))}").write_bytes(OLD)
    if noisy and n > 1 and rng.random() < 0.6:
        # a folder where folder mode writes the last input's video or JSONL: that input fails when
        # its outputs open, after the inputs before it (only -o and --json: a blocked --csv or
        # --meta meets the truncation tested in test_a_refused_csv_leaves_the_json_file_as_it_was)
        stem = Path(inputs[-1]).resolve().stem
        blocker = ws.out / f"{stem}{rng.choice(['.mp4', '.jsonl'])}"
        if not blocker.exists():
            blocker.mkdir()

    def maybe(p: float, flag: str, good: list[str] | None = None, bad: tuple[str, ...] = ()) -> None:
        if rng.random() < p:
            opts.append([flag] if good is None else [flag, rng.choice(good + list(bad) if noisy else good)])

    maybe(0.3, "--max-hands", ["1", "2", "5"], ("0", "-1", "abc"))
    maybe(0.15, "--threads", ["1", "2"], ("0", "x"))
    maybe(0.15, "--device", ["cpu"], ("cuda", "bogus"))
    maybe(0.3, "--static")
    maybe(0.2, "--detector-turns", ["1", "2", "4"], ("3",))
    maybe(0.2, "--frame-rate", ["30", "auto", "12.5"], ("0", "nan"))
    maybe(0.2, "--mirror")
    maybe(0.25, "--annotated-images", [str(ws.ann)],
          (str(ws.root / "nodir"), table["photos"][0], str(ws.inp)) + ((str(ws.ro),) if ws.ro_works else ()))
    maybe(0.15, "--max-frames", ["1", "5"], ("0",))
    if noisy:
        maybe(0.1, "--every-frame")         # a webcam option: unknown to video
        maybe(0.1, rng.choice(["--bogus", "--jsn", "-x"]))
    if opts and rng.random() < 0.15:        # an option given twice (argparse: the last one counts)
        again = rng.choice(opts)
        kind = next((k for k, f in FLAG.items() if f == again[0]), None)
        opts.append([again[0], _target(rng, ws, kind, inputs, n > 1, noisy)] if kind else list(again))
    if rng.random() < 0.85:
        opts.append(["--no-progress"])
    rng.shuffle(opts)
    flat = [a for o in opts for a in o]
    where = rng.random()
    if where < 0.8 or not noisy:
        argv = ["video", *inputs, *flat]
    elif where < 0.95:
        argv = ["video", *flat, *inputs]
    else:                                   # options between the inputs
        argv = ["video", inputs[0], *flat, *inputs[1:]]
    return argv, rng.random() < REAL_MODEL_SHARE


# -- checking the outcome ------------------------------------------------------------------------
def _snapshot(root: Path) -> dict[str, str]:
    files = {}
    for dirpath, _, names in os.walk(root):
        for name in names:
            p = Path(dirpath) / name
            files[str(p)] = ("-> " + os.readlink(p) if p.is_symlink()
                             else hashlib.sha256(p.read_bytes()).hexdigest())
    return files


def _lines(text: str) -> list[str]:
    return [x for x in re.split(r"[\r\n]", text) if x.strip()]


def _frames_of_video(path: str) -> int:
    cap = cv2.VideoCapture(path)
    assert cap.isOpened(), f"annotated video {path} does not open"
    n = 0
    while cap.read()[0]:
        n += 1
    cap.release()
    return n


def _summaries(text: str, inputs: list[str]) -> list[int]:
    """Frames per input, for the inputs whose summary was printed (in order)."""
    several = len(inputs) > 1
    lines = _lines(text)
    got, pos = [], 0
    for inp in inputs:
        head = f"{inp}: " if several else ""
        for j in range(pos, len(lines)):
            line = lines[j]
            if line.startswith(head) and re.match(r"(\d+) frames in \d", line[len(head):]):
                got.append(int(re.match(r"(\d+)", line[len(head):]).group(1)))
                pos = j + 1
                break
        else:
            break
    return got


def _expected_targets(args, inputs: list[str]) -> list[dict[str, str]]:
    """Where each input's outputs go, worked out from the README (decided before the run: a folder
    named by an option gets ``<input stem><ext>``)."""
    per = []
    for inp in inputs:
        d = {}
        for kind in EXT:
            v = getattr(args, kind)
            if v is None:
                continue
            d[kind] = v if v == "-" else str(Path(v) / f"{Path(inp).resolve().stem}{EXT[kind]}") \
                if os.path.isdir(v) else v
        per.append(d)
    return per


def _check_complete(kind: str, path: str, frames: int, inp: str, image_input: bool) -> None:
    assert os.path.isfile(path), f"{FLAG[kind]} {path}: not written"
    if kind == "json":
        recs = [json.loads(x) for x in Path(path).read_text(encoding="utf-8").splitlines()]
        assert len(recs) == frames, f"{path}: {len(recs)} lines for {frames} frames"
        idx = [r["frame"] for r in recs]
        # an unreadable image is skipped: its index is missing (README: gaps)
        assert idx == list(range(frames)) if not image_input else idx == sorted(set(idx)), idx
        assert all(("image" in r) == image_input for r in recs)
    elif kind == "csv":
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
        assert rows[0] == cli.csv_header() and len(rows) == frames + 1, f"{path}: {len(rows)} rows"
    elif kind == "output":
        assert _frames_of_video(path) == frames, f"{path}: annotated video frames"
    else:
        meta = json.loads(Path(path).read_text(encoding="utf-8"))
        assert meta["completed"] is True and meta["frames"] == frames and meta["input"] == inp, meta


def _check_error_format(err: str) -> None:
    """One error line: ``handtrack: error: ...`` alone, or argparse's usage and then its error line
    (``handtrack video: error: argument ...``; unknown options: ``handtrack: error: unrecognized
    arguments: ...`` under the top-level usage)."""
    lines = _lines(err)
    errors = [x for x in lines if "error:" in x]
    assert len(errors) == 1, f"not one error line: {lines}"
    assert re.match(r"handtrack( video)?: error: ", errors[0]), errors
    usage = [i for i, x in enumerate(lines) if x.startswith("usage:")]
    if errors[0].startswith("handtrack video: error:") or usage:
        assert len(usage) == 1 and usage[0] < lines.index(errors[0]), lines


def run_and_check(argv: list[str], ws: Workspace, capfd, label: str) -> tuple[int, str, str]:
    """Run ``handtrack`` + ``argv`` in-process and check every rule of the module docstring;
    returns (exit status, stdout, stderr)."""
    table = {path: frames for path, frames in ws.inputs().values()}
    try:
        args = cli.make_parser().parse_args(argv)
    except SystemExit:
        args = None
    capfd.readouterr()
    expected = _expected_targets(args, args.input) if args is not None else []
    before = _snapshot(ws.root)

    try:
        rc = cli.main(argv)
    except SystemExit as e:                 # argparse's usage error: the console script exits with it
        rc = e.code

    out, err = capfd.readouterr()
    where = f"{label}: handtrack {' '.join(argv)}\nrc {rc}\nstdout: {out[-1500:]}\nstderr: {err[-1500:]}"
    assert rc in (0, 2), where
    assert "Traceback (most recent call last)" not in out + err, where
    after = _snapshot(ws.root)
    changed = {p for p in after if before.get(p) != after[p]}
    gone = set(before) - set(after)
    assert not gone, f"{where}\nfiles removed: {sorted(gone)}"
    inputs = args.input if args is not None else []
    stdout_used = args is not None and "-" in (args.json, args.csv)
    summary_text = err if stdout_used else out
    done = _summaries(summary_text, inputs) if args is not None else []
    if rc == 0:
        assert args is not None and len(done) == len(inputs), where
        assert "handtrack: error" not in err, where
    else:
        _check_error_format(err)
    allowed: set[str] = set()
    for k, frames in enumerate(done):
        inp = inputs[k]
        want = table.get(inp)
        if want is not None:
            want = min(want, args.max_frames) if args.max_frames else want
            assert frames == want, f"{where}\n{inp}: {frames} frames reported, {want} expected"
        src_images = Path(inp).is_dir() or Path(inp).suffix.lower() in (".png", ".jpg")
        for kind, path in expected[k].items():
            if path == "-":
                continue
            allowed.add(str(Path(path).resolve()))
            try:
                _check_complete(kind, path, frames, inp, src_images)
            except AssertionError as e:
                raise AssertionError(f"{where}\n{e}") from None
        if args.annotated_images is not None:
            names = sorted(p.name for p in Path(inp).iterdir()) if Path(inp).is_dir() else [Path(inp).name]
            folder = Path(inp) if Path(inp).is_dir() else Path(inp).parent
            names = [x for x in names if Path(x).suffix.lower() in (".png", ".jpg")
                     and cv2.imread(str(folder / x)) is not None][:frames]
            for name in names:
                p = Path(args.annotated_images) / name
                allowed.add(str(p.resolve()))
                assert cv2.imread(str(p)) is not None, f"{where}\nannotated image {p} missing"
    stray = {p for p in changed if str(Path(p).resolve()) not in allowed}
    assert not stray, f"{where}\nfiles written or changed that are no complete output: {sorted(stray)}"
    if stdout_used and rc == 0:
        assert "frames in" not in out and "hands per frame" not in out, where
        if args.json == "-":
            recs = [json.loads(x) for x in out.splitlines()]
            assert len(recs) == done[0], where
        else:
            rows = list(csv.reader(io.StringIO(out)))
            assert rows[0] == cli.csv_header() and len(rows) == done[0] + 1, where
    elif rc == 2:
        assert "frames in" not in out or not stdout_used, where
    return rc, out, err


@pytest.mark.parametrize("case", range(N_CASES))
def test_random_video_command_line(case, ws, request, capfd):
    argv, real = draw_case(random.Random(SEED * 1000 + case), ws)
    if not real:
        request.getfixturevalue("fake_models")
    run_and_check(argv, ws, capfd, f"case {case}")


# -- fixed cases: the rules the draws reach seldom, and what breaks them ---------------------------
def test_a_later_input_that_fails_keeps_the_outputs_of_the_earlier_ones(ws, fake_models, capfd):  # noqa: F811
    """README: "nothing already written is lost". The third input's JSONL target is a folder, so
    its outputs cannot open: status 2, and the first two inputs' outputs stay complete."""
    (ws.out / "b.jsonl").mkdir()
    argv = ["video", str(ws.inp / "clip.mp4"), str(ws.inp / "photos"), str(ws.inp / "b.mp4"), "-o", str(ws.out),
            "--json", str(ws.out), "--csv", str(ws.out), "--meta", str(ws.out), "--no-progress"]
    rc, out, err = run_and_check(argv, ws, capfd, "fixed")
    assert rc == 2 and "--json: cannot open output" in err
    assert (ws.out / "clip.jsonl").exists() and (ws.out / "photos.meta.json").exists()
    assert not (ws.out / "b.mp4").exists() and not (ws.out / "b.meta.json").exists()


def test_json_to_stdout_carries_the_tracks_only(ws, fake_models, capfd):  # noqa: F811
    argv = ["video", str(ws.inp / "photos"), "--json", "-", "--csv", str(ws.out / "t.csv"), "--static",
            "--annotated-images", str(ws.ann), "--no-progress"]
    rc, out, err = run_and_check(argv, ws, capfd, "fixed")
    assert rc == 0 and [json.loads(x)["image"] for x in out.splitlines()] == ["a.png", "b.png", "c.png"]
    assert "3 frames in" in err


LONG = "n" * 300                            # over NAME_MAX (255 bytes) of the usual file systems


@pytest.mark.parametrize("opt,value", [("-o", LONG + ".mp4"), ("--json", LONG + ".jsonl"), ("--csv", LONG + ".csv"),
                                       ("--meta", LONG + ".json"), ("--annotated-images", LONG)])
def test_an_overlong_output_name_is_a_usage_error(ws, fake_models, capfd, opt, value):  # noqa: F811
    """Refused before any work: the other output is not written (a --meta found unwritable only
    when the run ends would leave it behind)."""
    other = ["--json", str(ws.out / "t.jsonl")] if opt != "--json" else ["--csv", str(ws.out / "t.csv")]
    argv = ["video", str(ws.inp / "shot.jpg"), opt, str(ws.out / value), *other, "--no-progress"]
    rc, out, err = run_and_check(argv, ws, capfd, "fixed")
    assert rc == 2 and opt in err


def test_a_refused_csv_leaves_the_json_file_as_it_was(ws, fake_models, capfd):  # noqa: F811
    (ws.out / "clip.jsonl").write_bytes(OLD)      # the tracks of an earlier run
    (ws.out / "clip.csv").mkdir()                 # folder mode's CSV target: cannot be opened as a file
    argv = ["video", str(ws.inp / "clip.mp4"), "--json", str(ws.out), "--csv", str(ws.out), "--no-progress"]
    try:
        rc = cli.main(argv)
    finally:
        err = capfd.readouterr().err
    assert rc == 2 and "--csv: cannot open output" in err
    assert (ws.out / "clip.jsonl").read_bytes() == OLD


def test_a_folder_of_unreadable_images_is_refused_before_its_outputs_open(ws, fake_models, capfd):  # noqa: F811
    bad = ws.root / "bad"
    bad.mkdir()
    for name in ("1.png", "2.jpg"):
        (bad / name).write_text("not an image\n")
    argv = ["video", str(bad), "--json", str(ws.out / "old.jsonl"), "--csv", str(ws.out / "new.csv"),
            "--no-progress"]
    rc = cli.main(argv)
    err = capfd.readouterr().err
    assert rc == 2 and "INPUT" in err
    assert (ws.out / "old.jsonl").read_bytes() == OLD and not (ws.out / "new.csv").exists()


@pytest.mark.parametrize("opt", ["--json", "--csv", "--meta"])
def test_an_annotated_image_that_is_another_output_is_refused(ws, fake_models, capfd, opt):  # noqa: F811
    """README: an output file that is another output is a usage error (status 2), before any work."""
    argv = ["video", str(ws.inp / "photos"), "--static", "--annotated-images", str(ws.ann), opt,
            str(ws.ann / "b.png"), "--no-progress"]
    rc = cli.main(argv)
    err = capfd.readouterr().err
    assert rc == 2 and ("--annotated-images" in err or opt in err)
    assert list(ws.ann.iterdir()) == []
