"""Session 41 audit: seeded random corruptions of the training data loaders (train.data).

A small valid set (photos written by ``_single_hand_csv``, a COCO keypoints JSON of 21-point hands
as hands21 has, the documented 17-point CSV) is corrupted at random, a few faults per file, and
loaded with ``skip_bad`` off and on. The contract (README "Your own labels", docs/training.md,
the loaders' docstrings): a bad file, annotation or row is exactly one ValueError /
FileNotFoundError naming the file (and the row / annotation), or with ``skip_bad`` a counted skip
that keeps every good hand; harmless variants load the same hands; nothing else escapes and no
invalid value is loaded. Each failure message gives the seed, the case and its faults."""
from __future__ import annotations

import copy
import json
import math
import re
import shutil
import struct
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import pytest

from tracker.keypoints import NUM_KEYPOINTS, from_21
from train.data import (LEFT, RIGHT, UNKNOWN, ImageCache, LoadReport, load_coco, load_csv, load_records,
                        load_train_val)

from tests.train.test_data_malformed_files import _coco as _s36_coco
from tests.train.test_data_malformed_files import _kp21, _refused_or_skipped
from tests.train.test_journey_own_csv_rough_edges import _single_hand_csv
from tests.train.test_data import _ann

# "1e39" overflows float32 to inf on the way (refused as such); numpy says so once per file
pytestmark = pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")

ALLOWED = (ValueError, FileNotFoundError)
N_PHOTOS = 8
PER_HAND = 2 * NUM_KEYPOINTS
SEEDS = (41, 4101, 410001)
CASES = 150


# --- what a loaded hand is, and what every one must be ------------------------------------------

def _key_of(image, kp, vis, side, score, box, size):
    return (Path(image).as_posix(), tuple(np.round(np.asarray(kp, np.float32), 3).ravel().tolist()),
            tuple(np.asarray(vis, np.float32).tolist()), side, round(float(score), 4),
            None if box is None else round(float(box), 3), size)


def _key(r):
    return _key_of(r.image, r.keypoints, r.visible, r.handedness, r.handedness_score, r.box_side, r.image_size)


def _check_records(recs, ctx):
    for r in recs:
        assert isinstance(r.image, Path), ctx
        assert r.keypoints.shape == (NUM_KEYPOINTS, 2) and r.keypoints.dtype == np.float32, ctx
        assert np.isfinite(r.keypoints).all(), f"{ctx}: non-finite keypoints loaded: {r.keypoints}"
        assert r.visible.shape == (NUM_KEYPOINTS,) and set(np.unique(r.visible).tolist()) <= {0.0, 1.0}, ctx
        assert r.visible.sum() >= 2, ctx
        assert r.handedness in (LEFT, RIGHT, UNKNOWN), ctx
        assert isinstance(r.handedness_score, float) and math.isfinite(r.handedness_score), ctx
        assert r.box_side is None or (math.isfinite(r.box_side) and r.box_side > 0), ctx
        assert r.image_size is None or all(type(v) is int and v > 0 for v in r.image_size), ctx


@dataclass
class Expect:
    """What loading a corrupted file must give."""
    keys: Counter = field(default_factory=Counter)   # the hands loaded (with skip_bad: the good ones)
    errors: list = field(default_factory=list)       # (order, exc, regex): one per counted skip
    file_error: tuple | None = None                  # (exc, regex): the whole file refused


def _raised(fn, ctx):
    """fn()'s result, or the exception it raised: only ValueError / FileNotFoundError themselves
    (not UnicodeDecodeError, JSONDecodeError or other subclasses) may leave a loader."""
    try:
        return fn(), None
    except Exception as e:   # noqa: BLE001 - what escapes is the finding
        assert type(e) in ALLOWED, f"{ctx}: {type(e).__name__} escaped: {e}"
        return None, e


def _assert_contract(load, path: Path, exp: Expect, ctx: str):
    recs, e = _raised(lambda: load(path, skip_bad=False), ctx)
    if e is None:
        assert exp.file_error is None and not exp.errors, f"{ctx}: loaded without an error"
        _check_records(recs, ctx)
        assert Counter(map(_key, recs)) == exp.keys, f"{ctx}: other hands than expected"
    else:
        assert str(path) in str(e), f"{ctx}: the error does not name the file: {e}"
        want = exp.file_error or (min(exp.errors, key=lambda t: t[0])[1:] if exp.errors else None)
        assert want is not None, f"{ctx}: refused a valid file: {type(e).__name__}: {e}"
        assert type(e) is want[0] and re.search(want[1], str(e)), \
            f"{ctx}: expected {want[0].__name__} /{want[1]}/, got {type(e).__name__}: {e}"
    rep = LoadReport()
    recs, e = _raised(lambda: load(path, skip_bad=True, report=rep), ctx + " [skip_bad]")
    if exp.file_error is not None:
        assert e is not None and type(e) is exp.file_error[0] and str(path) in str(e), \
            f"{ctx} [skip_bad]: a whole bad file must still be an error, got {e!r}"
        return
    assert e is None, f"{ctx} [skip_bad]: {type(e).__name__}: {e}"
    _check_records(recs, ctx)
    assert rep.skipped == len(exp.errors), f"{ctx} [skip_bad]: skipped {rep.skipped}, expected {len(exp.errors)}"
    assert rep.loaded == len(recs), ctx
    assert Counter(map(_key, recs)) == exp.keys, f"{ctx} [skip_bad]: the good hands were not all kept"


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> tuple[Path, list[list[str]]]:
    """The folder with ``photos/0..7.png`` (96x96) and the base CSV's rows (a header, then one hand
    per row), as test_journey_own_csv_rough_edges writes them."""
    root = tmp_path_factory.mktemp("s41set")
    csv_path = _single_hand_csv(root, n=N_PHOTOS)
    import csv as csvmod
    with open(csv_path, newline="", encoding="utf-8") as f:
        rows = list(csvmod.reader(f))
    assert len(rows) == N_PHOTOS + 1 and len(rows[1]) == 1 + PER_HAND
    return root, rows


# --- CSV -----------------------------------------------------------------------------------------

def _csv_keys(root: Path, path: str, values: list[str]) -> list:
    """The hands a valid row gives: 17 x,y per hand, sides left/right with two hands."""
    arr = np.array([float(v) if v.strip() else math.nan for v in values], np.float32).reshape(-1, NUM_KEYPOINTS, 2)
    image = root / path.strip().replace("\\", "/")
    return [_key_of(image, kp, np.ones(NUM_KEYPOINTS), (LEFT, RIGHT)[h] if len(arr) == 2 else UNKNOWN, 1.0, None, None)
            for h, kp in enumerate(arr) if not np.isnan(kp).all()]


def _is_text(cell: str) -> bool:
    try:
        float(cell)
        return False
    except ValueError:
        return bool(cell.strip())


BAD, OK = "bad", "ok"
TEXT = ["abc", "1.2.3", "12,5", "x1", "--3", "0x10", "1e", "None", "null", "12px", "?"]
NONFINITE = ["inf", "-inf", "Infinity", "-Infinity", "INF", "1e39", "-1e40"]
ODD_NAMES = ["photos/hand {d}.png", "photos/mano ñ {d}.png", "photos/a,b {d}.png", 'photos/q"uote {d}.png',
             "photos/第{d}手.png", "photos/sub dir/{d} (copy).PNG"]


def _csv_fault(rng, root: Path, cells: list[str], d: int, prev: list[str] | None):
    """One random fault (or harmless variant) for data row ``d``: (name, cells, (BAD, exc, regex)
    or (OK, keys))."""
    path, values = cells[0], cells[1:]
    nv = len(values)
    i = 1 + int(rng.integers(nv))                      # a value cell
    kinds = ["too_few", "too_many", "empty_cell", "text", "nonfinite", "nan_cell", "empty_path", "missing_image",
             "folder", "triplets", "layout21", "spaces_path", "abs_path", "backslash", "renamed", "pad_numbers",
             "sci", "set_value", "blank_hand"]
    if prev is not None:
        kinds.append("dup_prev")
    if nv == PER_HAND:
        kinds.append("add_empty_hand")
    kind = str(rng.choice(kinds))
    c = list(cells)
    if kind == "too_few":
        c = c[:-int(rng.integers(1, PER_HAND))]
        return kind, c, (BAD, ValueError, r"expected a multiple of 34 values|triplets")
    if kind == "too_many":
        c += [f"{rng.uniform(0, 90):.1f}" for _ in range(int(rng.integers(1, PER_HAND)))]
        return kind, c, (BAD, ValueError, r"expected a multiple of 34 values|triplets")
    if kind == "empty_cell":
        c[i] = str(rng.choice(["", " ", "  "]))
        return kind, c, (BAD, ValueError, r"hand \d has empty cells")
    if kind == "text":
        c[i] = str(rng.choice(TEXT))
        return kind, c, (BAD, ValueError, "non-numeric value")
    if kind == "nonfinite":
        c[i] = str(rng.choice(NONFINITE))
        return kind, c, (BAD, ValueError, r"not finite")
    if kind == "nan_cell":
        c[i] = str(rng.choice(["nan", "NaN", "NAN", "-nan"]))
        return kind, c, (BAD, ValueError, r"hand \d has empty cells")
    if kind == "empty_path":
        c[0] = str(rng.choice(["", " ", "\t"]))
        return kind, c, (BAD, ValueError, "empty image path")
    if kind == "missing_image":
        c[0] = f"photos/missing_{d}.png"
        return kind, c, (BAD, FileNotFoundError, rf"image file not found: photos/missing_{d}\.png \(looked for")
    if kind == "folder":
        c[0] = "photos"
        return kind, c, (BAD, FileNotFoundError, "image path is a folder")
    if kind == "triplets":
        xy = np.array(values, np.float64).reshape(-1, 2)
        c = [path] + [f"{v:.1f}" for x, y in xy for v in (x, y, 2.0)]
        return kind, c, (BAD, ValueError, "x, y, visibility triplets")
    if kind == "layout21":
        c = [path] + [f"{rng.uniform(0, 90):.1f}" for _ in range(42)]
        return kind, c, (BAD, ValueError, r"got 42 \(21-point rows\?")
    if kind == "dup_prev":
        return kind, list(prev), (BAD, ValueError, r"the same hand as row \d+ \(a row listed twice\?\)")
    # harmless variants
    if kind == "spaces_path":
        c[0] = " " + path + "  "
    elif kind == "abs_path":
        c[0] = str(root / path)
    elif kind == "backslash":
        c[0] = path.replace("/", "\\")
    elif kind == "renamed":
        c[0] = str(rng.choice(ODD_NAMES)).format(d=d)
        (root / c[0]).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(root / path, root / c[0])
    elif kind == "pad_numbers":
        c[1:] = [f" {v}\t " for v in values]
    elif kind == "sci":
        c[1:] = [f"{float(v):e}" for v in values]
    elif kind == "set_value":   # off the photo included: a hand partly outside the frame
        c[i] = f"{rng.uniform(-50, 150):.2f}"
    elif kind == "blank_hand":  # a hand of empty (or NaN) cells is no hand
        h = int(rng.integers(nv // PER_HAND))
        blank = str(rng.choice(["", "nan", "NaN", " "]))
        c[1 + h * PER_HAND:1 + (h + 1) * PER_HAND] = [blank] * PER_HAND
    elif kind == "add_empty_hand":  # the second hand empty: the first is a left hand
        c += [""] * PER_HAND
    return kind, c, (OK, _csv_keys(root, c[0], c[1:]))


def _csv_line(cells: list[str], quote_all: bool = False) -> str:
    def q(s):
        return '"' + s.replace('"', '""') + '"' if quote_all or any(ch in s for ch in ',"\r\n') else s
    return ",".join(q(s) for s in cells)


def _two_hand_rows(root: Path, rows: list[list[str]]) -> list[list[str]]:
    """Two rows of two hands (left then right) on photos of their own."""
    out = []
    for k in range(2):
        shutil.copyfile(root / "photos" / f"{k}.png", root / "photos" / f"two{k}.png")
        left = [f"{float(v) - 3:.1f}" for v in rows[1 + k][1:]]
        right = [f"{float(v) + 4:.1f}" for v in rows[1 + k][1:]]
        out.append([f"photos/two{k}.png"] + left + right)
    return out


def _csv_case(rng, root: Path, base: list[list[str]], n: int):
    """A corrupted CSV (bytes), its expectation and a description."""
    header, data = base[0], [list(r) for r in base[1:]]
    exp = Expect()
    faults = []
    file_kind = rng.random()
    if file_kind < 0.12:   # the whole file is not UTF-8 CSV text, or no CSV at all
        kind = str(rng.choice(["latin1", "utf16", "huge_field", "binary"]))
        lines = [_csv_line(header)] + [_csv_line(r) for r in data]
        if kind == "latin1":
            lines[1] = _csv_line(["photos/señal.png"] + data[0][1:])
            blob = "\n".join(lines).encode("latin-1")
        elif kind == "utf16":
            blob = "\n".join(lines).encode("utf-16")
        elif kind == "huge_field":
            lines[2] = _csv_line([data[1][0], "1" * 200_000] + data[1][2:])
            blob = "\n".join(lines).encode()
        else:
            blob = bytes(rng.integers(128, 256, 300, dtype=np.uint8))
        regex = {"huge_field": r"row 3: malformed CSV"}.get(kind, "is not UTF-8 text")
        return blob, Expect(file_error=(ValueError, regex)), f"file:{kind}"
    targets = rng.choice(len(data), size=int(rng.integers(1, 4)), replace=False)
    outcomes = {}
    for d in sorted(int(t) for t in targets):
        prev = base[d] if d >= 1 and d - 1 not in outcomes else None   # base[d] is data row d-1
        kind, cells, out = _csv_fault(rng, root, data[d], d, prev)
        data[d] = cells
        outcomes[d] = out
        faults.append(f"row{d}:{kind}")
    quote_all = {d for d in outcomes if faults and rng.random() < 0.2}
    with_header = rng.random() < 0.6
    lines = ([_csv_line(header)] if with_header else []) + [_csv_line(r, d in quote_all) for d, r in enumerate(data)]
    data_line = list(range(int(with_header), len(lines)))   # data row -> index in lines
    if rng.random() < 0.4:   # blank lines anywhere, before the header too
        for _ in range(int(rng.integers(1, 4))):
            at = int(rng.integers(len(lines) + 1))
            lines.insert(at, str(rng.choice(["", "   ", ",,,", ","])))
            data_line = [j + (j >= at) for j in data_line]
        faults.append("blank_lines")
    if not with_header:
        faults.append("no_header")
        d0 = data[0]   # the first row with text is a header when its second cell is not a number
        if len(d0) > 1 and _is_text(d0[1]):
            outcomes[0] = (OK, [])
    for d, row in enumerate(data):
        out = outcomes[d] if d in outcomes else (OK, _csv_keys(root, row[0], row[1:]))
        if out[0] == OK:
            exp.keys.update(out[1])
        else:
            exp.errors.append((data_line[d], out[1], rf"labels\.csv: row {data_line[d] + 1}: .*{out[2]}"))
    newline = "\r\n" if rng.random() < 0.4 else "\n"
    text = newline.join(lines) + (newline if rng.random() < 0.8 else "")
    bom = rng.random() < 0.3
    faults += ["crlf"] * (newline == "\r\n") + ["bom"] * bom
    return (b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"), exp, " ".join(faults)


@pytest.mark.parametrize("seed", SEEDS)
def test_csv_faults_are_one_named_error_or_a_counted_skip(photos, tmp_path, seed):
    root0, rows = photos
    root = tmp_path / "set"
    shutil.copytree(root0 / "photos", root / "photos")
    base = rows + _two_hand_rows(root, rows)
    rng = np.random.default_rng(seed)
    kinds = Counter()
    for n in range(CASES):
        blob, exp, what = _csv_case(rng, root, base, n)
        path = root / "labels.csv"
        path.write_bytes(blob)
        _assert_contract(load_csv, path, exp, f"seed {seed} case {n} ({what})")
        kinds.update(w.split(":")[-1] for w in what.split())
    # the draw covered the faults (a change of the generator that drops some would show here)
    assert len(kinds) >= 20, kinds


def test_the_base_csv_loads_as_documented(photos, tmp_path):
    """The oracle's premise: the generated CSV (a header, 8 one-hand rows, 2 two-hand rows) gives
    12 hands with the values written, sides unknown / left / right."""
    root0, rows = photos
    root = tmp_path / "set"
    shutil.copytree(root0 / "photos", root / "photos")
    base = rows + _two_hand_rows(root, rows)
    (root / "labels.csv").write_text("\n".join(_csv_line(r) for r in base) + "\n", encoding="utf-8")
    recs = load_csv(root / "labels.csv")
    assert len(recs) == N_PHOTOS + 4
    assert Counter(r.handedness for r in recs) == {UNKNOWN: N_PHOTOS, LEFT: 2, RIGHT: 2}
    np.testing.assert_allclose(recs[0].keypoints.ravel(), [float(v) for v in rows[1][1:]], atol=1e-4)
    assert recs[0].image == root / "photos" / "0.png"


# --- COCO ----------------------------------------------------------------------------------------

SIDES = {"left": LEFT, "right": RIGHT, "LEFT": LEFT, "Right ": RIGHT, "r": RIGHT, "unknown": UNKNOWN, None: UNKNOWN}


def _coco_base() -> dict:
    """8 images (ids 10..17, 96x96) with 11 hands: one on each, a second on the first three; some
    with a hidden point, some with a bbox."""
    images = [{"id": 10 + i, "file_name": f"photos/{i}.png", "width": 96, "height": 96} for i in range(N_PHOTOS)]
    anns = []
    for a, img in enumerate(list(range(N_PHOTOS)) + [0, 1, 2]):
        ann = _ann(100 + a, side=("left", "right")[a % 2])
        kp = np.array(_kp21(), np.float64).reshape(21, 3)
        kp[:, 0] += 2 * a
        kp[:, 1] += a % 5
        if a % 3 == 0:
            kp[20, 2] = 0            # a hidden fingertip
        if a % 4 == 1:
            kp[4, 2] = 1             # labelled, occluded
        ann.update(image_id=10 + img, keypoints=kp.ravel().tolist())
        if a % 2 == 0:
            ann["bbox"] = [5.0, 10.0, 50.0 + a, 45.0]
        anns.append(ann)
    return {"images": images, "annotations": anns, "categories": [{"id": 1, "name": "hand"}]}


def _coco_key(root: Path, im: dict, ann: dict):
    """The hand a valid annotation gives (the 17-point mapping, its side, score, box and size)."""
    kp = np.asarray(ann["keypoints"], np.float64).reshape(21, 3)
    k17, v17 = from_21(kp[:, :2], kp[:, 2])
    score = ann.get("handedness_score")
    bbox = ann.get("bbox")
    side = max(bbox[2], bbox[3]) if isinstance(bbox, list) and len(bbox) == 4 else None
    size = (im["width"], im["height"]) if im.get("width") and im.get("height") else None
    return _key_of(root / im["file_name"], k17, v17, SIDES[ann.get("handedness")], 1.0 if score is None else score,
                   side if side and side > 0 else None, size)


def _ann_fault(rng, ann: dict, where: str):
    """One random fault (or harmless variant) of an annotation: (name, new value, canonical
    annotation or None, regex)."""
    kinds = ["del_key", "image_id", "kp_len", "kp_type", "coord", "vis", "no_visible", "score", "bbox", "not_object",
             "nested", "str_numbers", "score_str", "no_bbox", "extra_keys", "dup_id", "repeat", "off_image", "side"]
    kind = str(rng.choice(kinds))
    a = copy.deepcopy(ann)
    kp = list(a["keypoints"])
    j = int(rng.integers(21))
    bad = None
    if kind == "del_key":
        k = str(rng.choice(["keypoints", "image_id"]))
        del a[k]
        bad = "missing 'keypoints'" if k == "keypoints" else r"image_id None is not the id of an image"
    elif kind == "image_id":
        a["image_id"] = [str(a["image_id"]), None, 999, [a["image_id"]], a["image_id"] + 0.5, True,
                         math.nan][int(rng.integers(7))]
        bad = r"image_id .* is not the id of an image in 'images'"
    elif kind == "kp_len":
        a["keypoints"] = [kp[:-3], kp + [1.0, 2.0, 2], kp[:51], [], kp[:42]][int(rng.integers(5))]
        bad = rf"expected 21 keypoints x 3 values \(63\), got {len(a['keypoints'])}$"
    elif kind == "kp_type":
        a["keypoints"] = [None, {}, "abc", [kp[:3], kp[3:]], [[1, 2], [3]]][int(rng.integers(5))]
        bad = r"expected 21 keypoints x 3 values \(63\), got 1$|keypoints are not numbers"
    elif kind == "coord":
        v = [math.nan, math.inf, -math.inf, None, "abc", [1, 2], "nan"][int(rng.integers(7))]
        kp[3 * j + int(rng.integers(2))] = v
        a["keypoints"] = kp
        bad = "non-finite keypoint values" if v is None or isinstance(v, float) or v == "nan" else "keypoints are not numbers"
    elif kind == "vis":
        kp[3 * j + 2] = [3, -1, 0.5, 7, 10, 2.0001][int(rng.integers(6))]
        a["keypoints"] = kp
        bad = rf"visibility \S+ of keypoint {j} is not 0, 1 or 2"
    elif kind == "no_visible":
        a["keypoints"] = [0 if t % 3 == 2 else v for t, v in enumerate(kp)]
        bad = "fewer than 2 visible keypoints"
    elif kind == "score":
        a["handedness_score"] = ["abc", [1], {}, math.nan, math.inf, -math.inf][int(rng.integers(6))]
        bad = "handedness_score or bbox is not (numbers|finite)"
    elif kind == "bbox":
        a["bbox"] = [0, 0, [math.nan, math.inf, "w", None, [1]][int(rng.integers(5))], 30]
        bad = "handedness_score or bbox is not (numbers|finite)"
    elif kind == "not_object":
        return kind, ["x", 3, None, [1, 2], True][int(rng.integers(5))], None, rf"{where} \(id \?\): is not an object"
    if bad is not None:
        return kind, a, None, rf"{where} .*{bad}"
    canon = copy.deepcopy(a)
    if kind == "nested":
        a["keypoints"] = [kp[t:t + 3] for t in range(0, 63, 3)]
    elif kind == "str_numbers":
        a["keypoints"] = [repr(float(v)) for v in kp]
    elif kind == "score_str":
        a["handedness_score"] = str(a["handedness_score"])
    elif kind == "no_bbox":
        a.pop("bbox", None)
        canon = copy.deepcopy(a)
    elif kind == "extra_keys":
        a.update(iscrowd=0, area=12.5, category_id=1, foo=[1, {"a": None}], num_keypoints="21")
    elif kind == "dup_id":
        a["id"] = 100
    elif kind == "off_image":   # a point outside the photo (a hand cut by the frame edge)
        kp[3 * j + int(rng.integers(2))] = float(rng.choice([-7.5, 150.25, -0.5, 96.0]))
        a["keypoints"] = canon["keypoints"] = kp
    elif kind == "side":
        s = list(SIDES)[int(rng.integers(len(SIDES)))]
        a["handedness"] = canon["handedness"] = s
    return kind, a, canon, None


def _coco_case(rng, root: Path, n: int):
    data = _coco_base()
    images, anns = data["images"], data["annotations"]
    faults = []
    r = rng.random()
    if r < 0.14:   # the whole file
        kind = str(rng.choice(["truncated", "not_utf8", "top_list", "top_scalar", "no_images", "no_annotations",
                               "images_type", "annotations_type", "empty", "utf16"]))
        blob = json.dumps(data).encode()
        regex = "not a COCO keypoints file"
        if kind == "truncated":
            blob, regex = blob[:int(rng.integers(1, len(blob) - 1))], "malformed JSON"
        elif kind == "not_utf8":
            blob, regex = blob.replace(b"photos/3.png", b"photos/\xff3.png"), "malformed JSON"
        elif kind == "top_list":
            blob = json.dumps([data]).encode()
        elif kind == "top_scalar":
            blob = str(rng.choice(["null", "3", '"images"', "true"])).encode()
        elif kind in ("no_images", "no_annotations"):
            del data[kind[3:]]
            blob = json.dumps(data).encode()
        elif kind in ("images_type", "annotations_type"):
            data[kind.split("_")[0]] = [None, {}, "x", 3][int(rng.integers(4))]
            blob = json.dumps(data).encode()
        elif kind == "empty":
            blob, regex = str(rng.choice(["", "  \n"])).encode(), "malformed JSON"
        else:
            blob, regex = json.dumps(data).encode("utf-16"), "malformed JSON"
        return blob, Expect(file_error=(ValueError, regex)), f"file:{kind}"
    if r < 0.2:    # empty lists
        kind = str(rng.choice(["no_image_entries", "no_annotation_entries"]))
        exp = Expect()
        if kind == "no_image_entries":
            data["images"] = []
            exp.errors = [((1, i), ValueError, rf"annotation {i} .*is not the id of an image") for i in range(len(anns))]
        else:
            data["annotations"] = []
        return json.dumps(data).encode(), exp, f"file:{kind}"
    exp = Expect()
    dead = {}    # image index -> regex its annotations are refused with
    for i in sorted(int(t) for t in rng.choice(N_PHOTOS, size=int(rng.integers(0, 3)), replace=False)):
        im = images[i]
        kind = str(rng.choice(["img_no_file", "img_no_id", "img_id_str", "img_dup_id", "no_size", "zero_size",
                               "float_id", "unused_extra", "same_twice"]))
        faults.append(f"image{i}:{kind}")
        if kind == "img_no_file":
            im["file_name"] = [None, 3, ["a.png"], {}][int(rng.integers(4))]
            exp.errors.append(((0, i), ValueError, r"image entry without id/file_name"))
            dead[i] = "is not the id of an image"
        elif kind == "img_no_id":
            del im["id"]
            exp.errors.append(((0, i), ValueError, r"image entry without id/file_name"))
            dead[i] = "is not the id of an image"
        elif kind == "img_id_str":
            im["id"] = str(rng.choice(["img", "1x", ""])) + str(im["id"])
            exp.errors.append(((0, i), ValueError, rf"image id '{im['id']}' \(photos/{i}\.png\) is not an integer"))
            dead[i] = "is not the id of an image"
        elif kind == "img_dup_id" and i > 0 and i - 1 not in dead and images[i - 1].get("id") == 10 + i - 1:
            im["id"] = images[i - 1]["id"]   # two files, one id: neither photo's hands are used
            exp.errors.append(((0, i), ValueError, rf"image id {im['id']} names two files, .*photos/{i - 1}\.png "
                                                   rf"and .*photos/{i}\.png"))
            dead[i] = "is not the id of an image"
            dead[i - 1] = "names two files"
        elif kind == "no_size":
            del im[str(rng.choice(["width", "height"]))]
            im.pop("width", None), im.pop("height", None)   # the oracle: no size either way
        elif kind == "zero_size":
            im["width"] = im["height"] = 0
        elif kind == "float_id":
            im["id"] = float(im["id"])
        elif kind == "unused_extra":
            images.append({"id": 5000, "file_name": "photos/none.png", "width": 1, "height": 1})
        elif kind == "same_twice":
            images.append(dict(im))
    by_id = {10 + i: images[i] for i in range(N_PHOTOS)}
    img_of = [a["image_id"] - 10 for a in anns]
    alive = [t for t in range(len(anns)) if img_of[t] not in dead]
    canon = {t: copy.deepcopy(anns[t]) for t in range(len(anns))}
    appended = []
    for t in sorted(int(x) for x in rng.choice(alive, size=min(len(alive), int(rng.integers(1, 4))), replace=False)):
        kind, new, can, regex = _ann_fault(rng, anns[t], rf"train\.json: annotation {t}")
        faults.append(f"ann{t}:{kind}")
        anns[t] = new
        canon[t] = can
        if can is None:
            exp.errors.append(((1, t), ValueError, regex))
        elif kind == "repeat":
            appended.append(copy.deepcopy(new))   # an exact copy, loaded once
    for k, a in enumerate(appended):
        t = len(anns)
        anns.append(a)
        canon[t] = None
        img_of.append(img_of[anns.index(a)])
    for t in range(len(anns)):
        if img_of[t] in dead and t < len(img_of) - len(appended):
            exp.errors.append(((1, t), ValueError, rf"annotation {t} .*{dead[img_of[t]]}"))
        elif canon[t] is not None:
            exp.keys[_coco_key(root, by_id[canon[t]["image_id"]], canon[t])] += 1
    dumps = json.dumps(data, allow_nan=True, indent=2 if rng.random() < 0.3 else None,
                       ensure_ascii=bool(rng.random() < 0.5))
    if rng.random() < 0.2:
        dumps = dumps.replace("\n", "\r\n")
        faults.append("crlf")
    bom = rng.random() < 0.3
    faults += ["bom"] * bom
    return (b"\xef\xbb\xbf" if bom else b"") + dumps.encode("utf-8"), exp, " ".join(faults)


@pytest.mark.parametrize("seed", SEEDS)
def test_coco_faults_are_one_named_error_or_a_counted_skip(photos, seed):
    root, _ = photos
    rng = np.random.default_rng(seed)
    kinds = Counter()
    for n in range(CASES):
        blob, exp, what = _coco_case(rng, root, n)
        path = root / "train.json"
        path.write_bytes(blob)
        _assert_contract(load_coco, path, exp, f"seed {seed} case {n} ({what})")
        # load_records reads a .json file with load_coco: the same outcome
        _assert_contract(lambda p, **kw: load_records(p, **kw), path, exp, f"seed {seed} case {n} ({what}) load_records")
        kinds.update(w.split(":")[-1] for w in what.split())
    assert len(kinds) >= 20, kinds


def test_the_base_coco_loads_as_documented(photos):
    root, _ = photos
    p = root / "base.json"
    p.write_text(json.dumps(_coco_base()))
    recs = load_coco(p)
    assert len(recs) == 11 and len({r.image for r in recs}) == N_PHOTOS
    assert {r.visible.sum() for r in recs} == {16.0, 17.0}
    assert Counter(r.handedness for r in recs) == {LEFT: 6, RIGHT: 5}
    assert {r.box_side for r in recs} - {None} == {50.0, 52.0, 54.0, 56.0, 58.0, 60.0}
    assert all(r.image_size == (96, 96) for r in recs) and all(len(r.others) == 1 for r in recs[:3])


# --- decoding the photos (ImageCache) ------------------------------------------------------------

def _break_image(rng, p: Path, mode: str) -> Path:
    """Make photo ``p`` bad in one way; the path the labels must name."""
    if mode == "zero_byte":
        p.write_bytes(b"")
    elif mode == "random_jpg":
        p = p.with_suffix(".jpg")
        p.write_bytes(bytes(rng.integers(0, 256, int(rng.integers(1, 4000)), dtype=np.uint8)))
    elif mode == "text":
        p.write_text("not an image\n")
    elif mode == "truncated_png":
        blob = p.read_bytes()
        p.write_bytes(blob[:len(blob) // 2])
    elif mode == "missing":
        p.unlink()
    elif mode == "folder":
        p.unlink()
        p.mkdir()
    elif mode == "huge_header":   # a PNG whose header claims 100000 x 100000 pixels
        _, png = cv2.imencode(".png", np.zeros((8, 8, 3), np.uint8))
        blob = bytearray(png.tobytes())
        blob[16:24] = struct.pack(">II", 100_000, 100_000)
        blob[29:33] = struct.pack(">I", zlib.crc32(bytes(blob[12:29])))
        p.write_bytes(bytes(blob))
    return p


DECODE_ERRORS = {"zero_byte": (ValueError, "image failed to decode"), "random_jpg": (ValueError, "image failed to decode"),
                 "text": (ValueError, "image failed to decode"), "truncated_png": (ValueError, "image failed to decode"),
                 "huge_header": (ValueError, "image failed to decode"),
                 "missing": (FileNotFoundError, "image file not found"),
                 "folder": (FileNotFoundError, "image path is a folder, not an image file"),
                 "size": (ValueError, r"decodes to 96x96 pixels but its annotation gives width x height 95x96")}


@pytest.mark.parametrize("seed", SEEDS)
def test_photos_that_fail_to_decode_are_named_or_skipped(photos, tmp_path, seed):
    """COCO leaves the images to the decoder: a missing, empty, undecodable or wrongly sized photo
    is one error naming it, or with skip_bad counted and left out (ImageCache.filter)."""
    root0, _ = photos
    rng = np.random.default_rng(seed)
    for n in range(8):
        root = tmp_path / f"case{n}"
        shutil.copytree(root0 / "photos", root / "photos")
        data = _coco_base()
        broken = {}
        for i in rng.choice(N_PHOTOS, size=int(rng.integers(1, 4)), replace=False):
            mode = str(rng.choice(list(DECODE_ERRORS)))
            im = data["images"][int(i)]
            if mode == "size":
                im["width"] = 95
                path = root / im["file_name"]
            else:
                path = _break_image(rng, root / im["file_name"], mode)
                im["file_name"] = path.relative_to(root).as_posix()
            broken[path] = mode
        p = root / "train.json"
        p.write_text(json.dumps(data))
        ctx = f"seed {seed} case {n} ({ {k.name: v for k, v in broken.items()} })"
        recs = load_coco(p)   # the photos are not read here
        assert len(recs) == 11, ctx
        _, e = _raised(lambda: ImageCache(recs), ctx)
        first = min(broken)   # decoded in path order
        exc, regex = DECODE_ERRORS[broken[first]]
        assert e is not None and type(e) is exc and re.search(regex, str(e)) and str(first) in str(e), \
            f"{ctx}: expected {exc.__name__} /{regex}/ naming {first}, got {e!r}"
        rep = LoadReport()
        cache, e = _raised(lambda: ImageCache(recs, skip_bad=True, report=rep), ctx)
        assert e is None and rep.skipped == len(broken) and cache.bad == set(broken), ctx
        kept = cache.filter(recs)
        assert {r.image for r in kept} == {r.image for r in recs} - set(broken), ctx
        assert all(cache[r.image].shape == (96, 96, 3) and cache[r.image].dtype == np.uint8 for r in kept), ctx


def test_csv_rows_on_undecodable_photos_load_and_the_decoder_names_them(photos, tmp_path):
    """load_csv checks that each photo is there, not that it decodes: a zero-byte photo and random
    bytes named .jpg pass it and are named (or counted) when decoded."""
    root = tmp_path / "set"
    shutil.copytree(photos[0] / "photos", root / "photos")
    rows = [list(r) for r in photos[1]]
    rng = np.random.default_rng(7)
    _break_image(rng, root / "photos" / "2.png", "zero_byte")
    rows[5][0] = _break_image(rng, root / "photos" / "4.png", "random_jpg").relative_to(root).as_posix()
    (root / "labels.csv").write_text("\n".join(_csv_line(r) for r in rows) + "\n", encoding="utf-8")
    recs = load_csv(root / "labels.csv")
    assert len(recs) == N_PHOTOS
    with pytest.raises(ValueError, match=re.escape(f"image failed to decode: {root / 'photos' / '2.png'}")):
        ImageCache(recs)
    rep = LoadReport()
    cache = ImageCache(recs, skip_bad=True, report=rep)
    assert rep.skipped == 2 and len(cache.filter(recs)) == N_PHOTOS - 2
    assert any("4.jpg" in reason for reason in rep.reasons)


# --- load_records / load_train_val ---------------------------------------------------------------

def test_data_paths_and_split_folders(photos, tmp_path):
    root0, rows = photos
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / "nope.csv"))):
        load_train_val(tmp_path / "nope.csv")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match=r"no train\.json or train\.csv in data path .*empty"):
        load_train_val(tmp_path / "empty")
    root = tmp_path / "set"
    shutil.copytree(root0 / "photos", root / "photos")
    (root / "train.csv").write_text("\n".join(_csv_line(r) for r in rows[:6]) + "\n", encoding="utf-8")
    with pytest.raises(FileNotFoundError, match=r"no val\.json or val\.csv"):
        load_train_val(root)
    bad = [rows[0]] + [list(r) for r in rows[6:]]
    bad[2] = bad[2][:20]   # too few values, on row 3
    (root / "val.csv").write_text("\n".join(_csv_line(r) for r in bad) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match=re.escape(str(root / "val.csv")) + r": row 3: expected a multiple of 34"):
        load_train_val(root)
    rep = LoadReport()
    train, val = load_train_val(root, skip_bad=True, report=rep)
    assert (len(train), len(val), rep.skipped, rep.loaded) == (5, 2, 1, 7)
    # a train.json that is cut short, beside the CSVs, is the one read (and named)
    (root / "train.json").write_text('{"images": [')
    with pytest.raises(ValueError, match=r"malformed JSON in .*train\.json"):
        load_train_val(root, skip_bad=True)
    # one CSV file, split by photo; .CSV in capitals is a CSV too
    (root / "ALL.CSV").write_text("\n".join(_csv_line(r) for r in rows) + "\n", encoding="utf-8")
    train, val = load_train_val(root / "ALL.CSV", val_fraction=0.25)
    assert len(train) + len(val) == N_PHOTOS and len(val) == 2


# --- found by this audit, fixed in the same session ---------------------------------------------

BIG = "1" + "0" * 400   # a JSON integer no float holds (Python's json reads it as an int)


@pytest.mark.parametrize("where", ["keypoints", "handedness_score", "bbox", "width"])
def test_coco_integer_too_large_for_a_float_is_a_named_error(tmp_path, where):
    kp = json.dumps(_kp21())
    ann = {"keypoints": f"[{BIG}, " + json.dumps(_kp21()[1:])[1:], "handedness_score": f"{BIG}, \"keypoints\": {kp}",
           "bbox": f"[0, 0, {BIG}, 30], \"keypoints\": {kp}", "width": kp}[where]
    key = "keypoints" if where in ("keypoints", "width") else where
    width = BIG if where == "width" else "96"
    p = tmp_path / "train.json"
    p.write_text('{"images": [{"id": 1, "file_name": "a.png", "width": %s, "height": 96}, {"id": 2, "file_name": '
                 '"b.png"}], "annotations": [{"id": 9, "image_id": 2, "keypoints": %s}, {"id": 5, "image_id": 1, '
                 '"%s": %s}]}' % (width, kp, key, ann))
    if where == "width":   # an unusable size is either no size or an error naming the file
        try:
            recs = load_coco(p)
        except ValueError as e:
            assert str(p) in str(e)
        else:
            assert recs[1].image.name == "a.png" and recs[1].image_size is None
        return
    with pytest.raises(ValueError, match=r"train\.json: annotation 1 "):
        load_coco(p)
    rep = LoadReport()
    assert [r.image.name for r in load_coco(p, skip_bad=True, report=rep)] == ["b.png"] and rep.skipped == 1


@pytest.mark.parametrize("bbox", [[0, 0, 30, math.nan], [math.nan, 0, 30, 30], [0, math.inf, 30, 30],
                                  [0, 0, -math.inf, 30], [0, 0, 30, -math.inf]])
def test_coco_bbox_with_nan_or_inf_anywhere_is_refused(tmp_path, bbox):
    _refused_or_skipped(_s36_coco(tmp_path, [{"id": 5, "image_id": 1, "keypoints": _kp21(), "bbox": bbox}]),
                        r"train\.json: annotation 1 .*bbox")


LONG = "photos/" + "x" * 300 + ".png"   # one name longer than a file system allows (255 bytes)


@pytest.mark.parametrize("where", ["csv", "csv_skip_bad", "coco_check_images", "image_cache", "load_records"])
def test_a_file_name_too_long_for_the_file_system_is_not_found(photos, tmp_path, where):
    rows = [list(r) for r in photos[1][:3]]
    rows[2][0] = LONG
    shutil.copytree(photos[0] / "photos", tmp_path / "photos")
    csv_path = tmp_path / "labels.csv"
    csv_path.write_text("\n".join(_csv_line(r) for r in rows) + "\n", encoding="utf-8")
    if where == "csv":
        with pytest.raises(FileNotFoundError, match=r"labels\.csv: row 3: image file not found"):
            load_csv(csv_path)
    elif where == "csv_skip_bad":
        rep = LoadReport()
        assert len(load_csv(csv_path, skip_bad=True, report=rep)) == 1 and rep.skipped == 1
    elif where == "coco_check_images":
        p = tmp_path / "train.json"
        p.write_text(json.dumps({"images": [{"id": 1, "file_name": LONG}],
                                 "annotations": [{"id": 5, "image_id": 1, "keypoints": _kp21()}]}))
        with pytest.raises(FileNotFoundError, match=r"train\.json: annotation 0 .*image file not found"):
            load_coco(p, check_images=True)
    elif where == "image_cache":
        recs = load_csv(csv_path, check_images=False)
        rep = LoadReport()
        assert len(ImageCache(recs, skip_bad=True, report=rep).filter(recs)) == 1 and rep.skipped == 1
    else:
        with pytest.raises(FileNotFoundError, match="data path not found"):
            load_records(tmp_path / ("y" * 300 + ".csv"))


def test_coco_deeply_nested_json_is_one_named_error(tmp_path):
    p = tmp_path / "train.json"
    p.write_text('{"images": ' + "[" * 100_000 + "]" * 100_000 + ', "annotations": []}')
    with pytest.raises(ValueError, match=r"train\.json"):
        load_coco(p)


def test_a_stray_quote_is_named_and_does_not_swallow_the_rows_after_it(photos, tmp_path):
    shutil.copytree(photos[0] / "photos", tmp_path / "photos")
    lines = [_csv_line(r) for r in photos[1][:7]]   # a header, 6 hands
    lines[2] = '"' + lines[2]                      # row 3
    p = tmp_path / "labels.csv"
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"labels\.csv: row 3: .*quote"):
        load_csv(p)
    rep = LoadReport()
    try:
        recs = load_csv(p, skip_bad=True, report=rep)
    except ValueError as e:       # what follows cannot be read: the whole file refused is fine
        assert "row 3" in str(e)
    else:
        assert len(recs) == 5 and rep.skipped == 1


@pytest.mark.parametrize("value", ["1e6", "-2e5", "1e30"])
def test_a_point_far_outside_its_photo_is_refused_naming_it(photos, tmp_path, value):
    shutil.copytree(photos[0] / "photos", tmp_path / "photos")
    rows = [list(r) for r in photos[1][:4]]   # a header, 3 hands on 96x96 photos
    rows[2][5] = value                        # row 3, photos/1.png
    p = tmp_path / "labels.csv"
    p.write_text("\n".join(_csv_line(r) for r in rows) + "\n", encoding="utf-8")

    def load(skip_bad, report=None):
        recs = load_csv(p, skip_bad=skip_bad, report=report)
        return ImageCache(recs, skip_bad=skip_bad, report=report).filter(recs)

    with pytest.raises(ValueError, match=r"labels\.csv: row 3|photos/1\.png"):
        load(False)
    rep = LoadReport()
    assert len(load(True, rep)) == 2 and rep.skipped == 1
