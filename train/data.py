"""Hand keypoint data: COCO keypoints JSON and plain landmark CSV, mapped to the 17-point layout.

Both loaders return a list of :class:`HandRecord` (one per labelled hand) and raise one clear
error naming the file (and row/annotation) for bad input, or count and skip bad entries when
``skip_bad=True``.
"""
from __future__ import annotations

import csv
import json
import logging
import math
import os
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from tracker.keypoints import NUM_KEYPOINTS, from_21
from tracker.video import read_image_file

log = logging.getLogger(__name__)

#: handedness codes used in training targets
LEFT, RIGHT, UNKNOWN = 0, 1, -1


@dataclass
class HandRecord:
    """One labelled hand.

    Attributes:
        image: path of the image file.
        keypoints: (17, 2) float32 pixels of that image.
        visible: (17,) float32 in {0, 1}.
        handedness: LEFT, RIGHT or UNKNOWN, as seen in the image.
        handedness_score: confidence of the label (1.0 when the source gives none).
        image_id: groups the hands of one image.
        image_size: (width, height) pixels the source gives for the image (COCO ``width`` /
            ``height``), checked against the decoded image by :class:`ImageCache`; None: unknown.
    """

    image: Path
    keypoints: np.ndarray
    visible: np.ndarray
    handedness: int = UNKNOWN
    handedness_score: float = 1.0
    image_id: int = 0
    others: list = field(default_factory=list)  # keypoints (17,2) of other hands in the image
    box_side: float | None = None  # longest side of the source's own hand box (COCO ``bbox``)
    source: str = "dataset"        # COCO ``source``: "dataset" (the labelled hand) or "mediapipe"
    image_size: tuple[int, int] | None = None

    @property
    def norm_side(self) -> float:
        """PCK normaliser: the source's hand-box side, else that of the 17 visible points."""
        if self.box_side:
            return self.box_side
        b = self.box
        return float(max(b[2] - b[0], b[3] - b[1]))

    @property
    def box(self) -> np.ndarray:
        """Tight box (x0, y0, x1, y1) of the visible keypoints, pixels."""
        k = self.keypoints[self.visible > 0]
        return np.concatenate([k.min(0), k.max(0)]).astype(np.float32)


@dataclass
class LoadReport:
    """What a loader read and skipped."""

    loaded: int = 0
    skipped: int = 0
    reasons: list[str] = field(default_factory=list)

    def skip(self, reason: str, skip_bad: bool, exc=ValueError):
        if not skip_bad:
            raise exc(reason)
        self.skipped += 1
        if len(self.reasons) < 20:
            self.reasons.append(reason)
        log.warning("skipped: %s", reason)


def _side_code(value) -> int:
    if value is None:
        return UNKNOWN
    v = str(value).strip().lower()
    if v in ("left", "l"):
        return LEFT
    if v in ("right", "r"):
        return RIGHT
    return UNKNOWN


def load_coco(json_path: str | Path, image_root: str | Path | None = None, skip_bad: bool = False,
              check_images: bool = False, report: LoadReport | None = None) -> list[HandRecord]:
    """Load a COCO keypoints file with 21 points per hand (hands21 format) as 17-point records.

    Args:
        json_path: the annotation file. image_root: folder that ``file_name`` is relative to
            (default: the JSON's folder). skip_bad: count and skip bad annotations instead of
            raising. check_images: verify that every image file exists.

    An image entry's ``width`` / ``height`` (whole numbers > 0; optional) are kept as the records'
    ``image_size``; :class:`ImageCache` refuses an image that decodes to another size (an EXIF
    orientation the labelling tool ignored, a file resized after labelling).

    An annotation that repeats an earlier one (the same ``image_id``, identical ``keypoints``, every
    x, y and flag, and the same handedness, handedness_score, bbox side and source; a merged
    export) is dropped, with one warning giving how many were: a hand listed twice weighed double
    in training and counted twice in the evaluation. Annotations that differ in any of these,
    however little, are all kept.

    Raises:
        FileNotFoundError: the JSON (or, with check_images, an image) does not exist.
        ValueError: malformed JSON, an image id that is not an integer or that two files share,
            or an annotation that is not an object, whose image_id is no image's, whose keypoints
            are not 21 x 3 finite numbers with visibility flags 0, 1 or 2, or whose
            handedness_score / bbox is not finite numbers, naming the file and the image id /
            annotation index.
    """
    json_path = Path(json_path)
    report = report if report is not None else LoadReport()
    if not os.path.isfile(json_path):
        raise FileNotFoundError(f"annotation file not found: {json_path}")
    try:
        with open(json_path, encoding="utf-8-sig") as f:  # a BOM (Windows editors) is not JSON
            data = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as e:    # Recursion: nested [[[...
        raise ValueError(f"malformed JSON in {json_path}: {type(e).__name__}: {e}"[:500]) from None
    if not (isinstance(data, dict) and isinstance(data.get("images"), list)
            and isinstance(data.get("annotations"), list)):
        raise ValueError(f"{json_path} is not a COCO keypoints file (needs 'images' and 'annotations' lists)")
    root = Path(image_root) if image_root is not None else json_path.parent
    images, shared, sizes = {}, set(), {}
    for im in data["images"]:
        try:
            iid, img = im["id"], root / im["file_name"]
        except (KeyError, TypeError):
            report.skip(f"{json_path}: image entry without id/file_name: {im!r:.80}", skip_bad)
            continue
        if isinstance(iid, bool) or not (isinstance(iid, int) or (isinstance(iid, float) and iid.is_integer())):
            report.skip(f"{json_path}: image id {iid!r} ({im['file_name']}) is not an integer", skip_bad)
            continue
        if iid in images and images[iid] != img:
            # which photo its hands are on is unknown: neither is used
            report.skip(f"{json_path}: image id {iid} names two files, {images[iid]} and {img}", skip_bad)
            shared.add(iid)
        images.setdefault(iid, img)
        size = _coco_size(im)
        if size is not None:
            sizes.setdefault(iid, size)
    for iid in shared:
        del images[iid]
    records = []
    hands_of: dict = {}   # image id -> {(keypoints, labels): index of the annotation that gave them}
    repeated = []         # (annotation index, index of the one it repeats)
    for i, ann in enumerate(data["annotations"]):
        where = f"{json_path}: annotation {i} (id {ann.get('id') if isinstance(ann, dict) else '?'})"
        if not isinstance(ann, dict):
            report.skip(f"{where}: is not an object ({{...}}): {ann!r:.80}", skip_bad)
            continue
        iid = ann.get("image_id")
        if isinstance(iid, bool) or not isinstance(iid, (int, float)) or iid not in images:
            why = ("names two files" if isinstance(iid, (int, float)) and iid in shared
                   else "is not the id of an image in 'images'")
            report.skip(f"{where}: image_id {iid!r:.40} {why}", skip_bad)
            continue
        img = images[iid]
        try:
            kp = np.asarray(ann["keypoints"], dtype=np.float32)
        except KeyError as e:
            report.skip(f"{where}: missing {e}", skip_bad)
            continue
        except (TypeError, ValueError, OverflowError):       # Overflow: an integer no float holds
            report.skip(f"{where}: keypoints are not numbers", skip_bad)
            continue
        if kp.size != 21 * 3:
            report.skip(f"{where}: expected 21 keypoints x 3 values (63), got {kp.size}", skip_bad)
            continue
        kp = kp.reshape(21, 3)
        if not np.all(np.isfinite(kp)):
            report.skip(f"{where}: non-finite keypoint values", skip_bad)
            continue
        # anything else is another layout (a confidence, or all x then all y then all v), whose
        # points would be read as visible or not by the sign of an unrelated number
        odd = np.flatnonzero(~np.isin(kp[:, 2], (0.0, 1.0, 2.0)))
        if odd.size:
            report.skip(f"{where}: visibility {kp[odd[0], 2]:g} of keypoint {odd[0]} is not 0, 1 or 2 (COCO "
                        f"keypoints are x, y, v for each of the 21 points in turn)", skip_bad)
            continue
        if check_images and not os.path.isfile(img):
            report.skip(f"{where}: image file not found: {img}", skip_bad, FileNotFoundError)
            continue
        k17, v17 = from_21(kp[:, :2], kp[:, 2])
        if v17.sum() < 2:
            report.skip(f"{where}: fewer than 2 visible keypoints", skip_bad)
            continue
        score, bbox = ann.get("handedness_score"), ann.get("bbox")
        try:
            score = 1.0 if score is None else float(score)
            box = [float(v) for v in bbox] if isinstance(bbox, (list, tuple)) and len(bbox) == 4 else None
        except (TypeError, ValueError, OverflowError):
            report.skip(f"{where}: handedness_score or bbox is not numbers", skip_bad)
            continue
        side = None if box is None else max(box[2], box[3])
        # a NaN score is a NaN loss weight; an infinite box side an infinite PCK normaliser (and
        # every value of the box is checked: max(30, nan) is 30)
        if not math.isfinite(score) or (box is not None and not all(map(math.isfinite, box))):
            report.skip(f"{where}: handedness_score or bbox is not finite ({score!r}, {bbox!r:.60})", skip_bad)
            continue
        rec = HandRecord(img, k17, v17, _side_code(ann.get("handedness")), score, int(ann["image_id"]))
        if side is not None and side > 0:
            rec.box_side = side
        if isinstance(ann.get("source"), str):
            rec.source = ann["source"]
        # a copy gives nothing the first did not; the same points with another side or score are
        # conflicting labels, not a copy, and stay as they are
        same = (tuple(kp.ravel().tolist()), rec.handedness, score, rec.box_side, rec.source)
        first = hands_of.setdefault(int(iid), {}).setdefault(same, i)
        if first != i:
            repeated.append((i, first))
            continue
        rec.image_size = sizes.get(ann["image_id"])
        records.append(rec)
    if repeated:
        log.warning("%s: %d annotations repeat an earlier one of the same image (same image_id, identical keypoints "
                    "and labels): each hand loaded once; the first: annotation %d repeats annotation %d",
                    json_path, len(repeated), *repeated[0])
    _link_photo_hands(records, lambda r: r.image_id)
    report.loaded += len(records)
    return records


def _coco_size(im: dict) -> tuple[int, int] | None:
    """(width, height) of a COCO image entry when both are whole numbers > 0, else None (writers
    that leave them out or write 0)."""
    wh = (im.get("width"), im.get("height"))
    try:
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
               and v > 0 and float(v).is_integer() for v in wh):
            return int(wh[0]), int(wh[1])
    except OverflowError:           # an integer no float holds: no size either
        pass
    return None


def _link_photo_hands(records: list[HandRecord], key) -> None:
    """The hands of one photo (records with equal ``key(record)``) learn of each other
    (``others``: their keypoints) and share the ``image_id`` of the first (photo-level metrics
    group by it: a hand left out would count as a false positive)."""
    by_photo: dict = {}
    for r in records:
        by_photo.setdefault(key(r), []).append(r)
    for hands in by_photo.values():
        for r in hands:
            r.image_id = hands[0].image_id
            r.others = [o.keypoints for o in hands if o is not r]


def _posix_path(name: str, root: Path) -> str:
    """``name`` from a CSV with its backslashes read as folder separators (a CSV written on
    Windows) where they are none (POSIX), unless a file of that very name exists."""
    if "\\" in name and os.sep == "/" and not os.path.exists(root / name):
        return name.replace("\\", "/")
    return name


def _xyv_triplets(values: list[str]) -> bool:
    """Whether a CSV row's values (after the image path) are 17-point x, y, visibility triplets
    (COCO style): a multiple of 51 whose every third value is 0, 1 or 2."""
    if not values or len(values) % (NUM_KEYPOINTS * 3) != 0:
        return False
    flags = [v.strip() for v in values[2::3] if v.strip()]
    try:
        return len(flags) >= NUM_KEYPOINTS and all(float(v) in (0.0, 1.0, 2.0) for v in flags)
    except ValueError:
        return False


def load_csv(csv_path: str | Path, image_root: str | Path | None = None, skip_bad: bool = False,
             report: LoadReport | None = None, check_images: bool = True) -> list[HandRecord]:
    """Load a landmark CSV: one row per image, ``image_path, x0, y0, x1, y1, ...``.

    The values after the path are 17 (x, y) pixel pairs per hand, hand ``i`` in value columns
    ``i*34 .. i*34+33``. With two hands, hand 0 is the left and hand 1 the right hand (the
    tracker's own CSV order); with one hand its side is unknown. A hand whose cells are all empty
    is absent. A first row whose second cell is not a number is a header. An image named on
    several rows (one hand per row) is one image with all those hands (``image_id`` of its first
    row); the same hand named twice for one image is an error. Image paths are relative to the
    CSV's folder (``image_root``), with ``/`` or, as a CSV written on Windows has them, ``\\``;
    spaces around a path are dropped unless a file has that very name. Every image a row gives
    hands for must exist (``check_images``, one ``is_file`` per image): checked here, so that a
    missing one is told with its row, not only when the images are decoded. (:func:`load_coco`
    leaves its check off by default, as its callers had it.)

    The file is UTF-8 text (a leading byte-order mark, as Excel writes, is ignored).

    Raises:
        FileNotFoundError: the CSV does not exist; an image a row names does not exist (naming
            the file, the 1-based row, the path as written and where it was looked for).
        ValueError: a file that is not UTF-8 CSV text, naming it; a row with an empty image path,
            whose value count is not a multiple of 34 (or that holds x, y, visibility triplets), a
            non-numeric or infinite value, a partly empty hand, or a hand already given for that
            image, naming the file and the 1-based row number.
    """
    csv_path = Path(csv_path)
    report = report if report is not None else LoadReport()
    if not os.path.isfile(csv_path):
        raise FileNotFoundError(f"CSV file not found: {csv_path}")
    root = Path(image_root) if image_root is not None else csv_path.parent
    per_hand = NUM_KEYPOINTS * 2
    records = []
    labelled: dict = {}   # image -> [(row number, (17, 2) keypoints)] of the hands read so far
    present: set = set()  # images found on disk (an image on several rows is looked up once)
    relative_to = "the CSV's folder" if image_root is None else str(image_root)
    with open(csv_path, newline="", encoding="utf-8-sig") as f:
        rows = csv.reader(f)
        try:
            rows = list(rows)
        except UnicodeDecodeError:
            raise ValueError(f"{csv_path} is not UTF-8 text (save it as \"CSV UTF-8\")") from None
        except csv.Error as e:
            raise ValueError(f"{csv_path}: row {rows.line_num}: malformed CSV ({e})") from None
        # a cell over several lines is an unmatched double quote: the reader ran on with the rows
        # after it as that one cell, which no skip can give back
        multi = next((n for n, row in enumerate(rows, start=1) if any("\n" in c or "\r" in c for c in row)), None)
        if multi is not None:
            raise ValueError(f"{csv_path}: row {multi}: a cell runs over several lines: an unmatched double "
                             "quote (\") in it or before it? The rows after it cannot be read")
        first = True
        for rownum, row in enumerate(rows, start=1):
            if not row or all(not c.strip() for c in row):
                continue
            where = f"{csv_path}: row {rownum}"
            if first:   # the first row with text (blank lines before a header are skipped too)
                first = False
                try:
                    float(row[1]) if len(row) > 1 and row[1].strip() else None
                except ValueError:
                    continue  # header
            if not row[0].strip():
                report.skip(f"{where}: empty image path", skip_bad)
                continue
            values = row[1:]
            if _xyv_triplets(values):   # 2 hands of them are 102 values, which read as 3 hands
                report.skip(f"{where}: {len(values)} values that look like x, y, visibility triplets; "
                            f"the CSV takes 17 x,y pairs per hand (no visibility: every point labelled)",
                            skip_bad)
                continue
            if len(values) == 0 or len(values) % per_hand != 0:
                hint = (" (21-point rows? map them to the 17-point layout: tracker.keypoints.from_21)"
                        if values and len(values) % 42 == 0 else "")
                report.skip(f"{where}: expected a multiple of {per_hand} values after the image "
                            f"path (17 x,y per hand), got {len(values)}{hint}", skip_bad)
                continue
            n_hands = len(values) // per_hand
            # spaces around a typed path are not part of it, unless a file has that very name
            # (prelabel writes the names as they are)
            name = row[0] if row[0] != row[0].strip() and os.path.isfile(root / row[0]) else row[0].strip()
            image = root / _posix_path(name, root)
            try:
                arr = np.array([float(v) if v.strip() else math.nan for v in values], np.float32)
            except ValueError:
                report.skip(f"{where}: non-numeric value", skip_bad)
                continue
            if np.isinf(arr).any():
                report.skip(f"{where}: a value is not finite (inf)", skip_bad)
                continue
            arr = arr.reshape(n_hands, NUM_KEYPOINTS, 2)
            hands = []
            bad = False
            for h in range(n_hands):
                missing = np.isnan(arr[h])
                if missing.all():
                    continue
                if missing.any():
                    report.skip(f"{where}: hand {h} has empty cells", skip_bad)
                    bad = True
                    break
                side = (LEFT, RIGHT)[h] if n_hands == 2 else UNKNOWN
                hands.append(HandRecord(image, arr[h].copy(),
                                        np.ones(NUM_KEYPOINTS, np.float32), side, 1.0, rownum))
            if bad:
                continue
            # a missing image failed only when the images were decoded, naming the resolved path
            # alone (not the CSV, the row, or what paths are relative to); a row without hands
            # adds nothing to read, so its image is not needed
            if check_images and hands and image not in present:
                # os.path: False also for a name the system refuses (over 255 bytes), which pathlib raises for
                if not os.path.isfile(image):
                    what = ("image path is a folder, not an image file" if os.path.isdir(image)
                            else "image file not found")
                    report.skip(f"{where}: {what}: {name} (looked for {os.path.abspath(image)}; "
                                f"image paths are relative to {relative_to})", skip_bad, FileNotFoundError)
                    continue
                present.add(image)
            # the same hand of a photo on two rows (a row pasted twice, two exports merged) would
            # be two boxes on one hand for the detector and a missed hand in the evaluation
            seen = labelled.setdefault(image, [])
            twice = next((m for r in hands for m, k in seen if np.array_equal(r.keypoints, k)), None)
            if twice is not None:
                report.skip(f"{where}: image {row[0].strip()}: the same hand as row {twice} "
                            f"(a row listed twice?)", skip_bad)
                continue
            seen.extend((rownum, r.keypoints) for r in hands)
            records.extend(hands)
    # an image named on several rows (one hand per row, as annotation tools export) is one photo
    _link_photo_hands(records, lambda r: r.image)
    report.loaded += len(records)
    return records


def data_root(path: str | Path) -> Path:
    """The folder image paths are relative to: ``path`` itself for a dataset folder, else the
    folder of the JSON/CSV file (as :func:`load_records` reads them)."""
    p = Path(path)
    return p if os.path.isdir(p) else p.parent


def label_files(path: str | Path) -> list[Path]:
    """The label files a data path (as :func:`load_records` takes it) stands for: the file itself,
    or a dataset folder's ``*.json`` / ``*.csv`` files (every split). For "is this output one of the
    inputs?" before a tool writes (``tracker.cli.output_clash``): an output named like a dataset's
    ``val.json`` would replace the labels."""
    p = Path(path)
    if not os.path.isdir(p):
        return [p]
    return sorted(q for q in p.iterdir() if q.suffix.lower() in (".json", ".csv") and os.path.isfile(q))


def load_records(path: str | Path, split: str = "train", skip_bad: bool = False,
                 report: LoadReport | None = None) -> list[HandRecord]:
    """Records from a dataset folder (``<path>/<split>.json``), a COCO JSON or a CSV file."""
    p = Path(path)
    if not os.path.exists(p):       # os.path: False for a name too long too (pathlib raises OSError)
        raise FileNotFoundError(f"data path not found: {p}")
    if os.path.isdir(p):
        j = p / f"{split}.json"
        c = p / f"{split}.csv"
        if os.path.isfile(j):
            return load_coco(j, skip_bad=skip_bad, report=report)
        if os.path.isfile(c):
            return load_csv(c, skip_bad=skip_bad, report=report)
        raise FileNotFoundError(f"no {split}.json or {split}.csv in data path {p}")
    if p.suffix.lower() == ".csv":
        return load_csv(p, skip_bad=skip_bad, report=report)
    return load_coco(p, skip_bad=skip_bad, report=report)


def val_fraction_arg(text: str) -> float:
    """argparse type of ``--val-fraction`` (``train.evaluate``, ``export.quantize``): a share in
    [0, 1), as :func:`load_train_val` takes it; a bad one was refused only once the data were read."""
    import argparse
    try:
        v = float(text)
    except ValueError:
        v = math.nan                        # refused below, with the same message
    if not 0.0 <= v < 1.0:
        raise argparse.ArgumentTypeError(f"--val-fraction must be in [0, 1), got {text!r}")
    return v


def check_val_fraction_applies(data: str | Path, val_fraction: float) -> None:
    """ValueError naming ``--val-fraction`` when ``data`` is a dataset folder: only a single file
    is split by it (:func:`load_train_val`); a folder has its own splits, and the option was
    ignored without a word. For the tools to call when the option was given (not its default)."""
    if os.path.isdir(data):
        raise ValueError(f"--val-fraction {val_fraction:g}: applies to a single --data file; the folder {data} has "
                         "its own splits (--train-split, --val-split)")


def split_by_image(records: list[HandRecord], fraction: float, root: str | Path | None = None
                   ) -> tuple[list[HandRecord], list[HandRecord]]:
    """(train, val): ``fraction`` of the images held out for validation, whole images (both hands
    of a photo on one side), chosen by a hash of each image's path (relative to ``root`` when under
    it), so the split does not depend on row order, and adding k images moves at most k of the
    held-out ones back to training.
    At least one image goes to each side; with fewer than 2 images, or ``fraction`` 0, nothing is
    held out (val = train)."""
    images = sorted({r.image for r in records}, key=str)
    if fraction <= 0 or len(images) < 2:
        return list(records), list(records)

    def key(img: Path) -> float:
        name = img.as_posix()
        if root is not None:
            try:
                name = img.relative_to(root).as_posix()
            except ValueError:
                pass
        return zlib.crc32(name.encode("utf-8")) / 2 ** 32

    ranked = sorted(images, key=key)
    n_val = min(max(1, int(round(fraction * len(images)))), len(images) - 1)
    held = set(ranked[:n_val])
    return [r for r in records if r.image not in held], [r for r in records if r.image in held]


def load_train_val(path: str | Path, train_split: str = "train", val_split: str = "val", skip_bad: bool = False,
                   report: LoadReport | None = None, val_fraction: float = 0.1
                   ) -> tuple[list[HandRecord], list[HandRecord]]:
    """Train and val records. A dataset folder has its own splits (``<split>.json`` / ``.csv``).
    A single file (a CSV of your own labels, a COCO JSON) is one set: ``val_fraction`` of its
    images are held out for validation (:func:`split_by_image`), so the val figures are not
    measured on the training hands; 0 validates on the training hands (logged)."""
    if not (isinstance(val_fraction, (int, float)) and 0.0 <= val_fraction < 1.0):
        raise ValueError(f"--val-fraction must be in [0, 1), got {val_fraction!r}")
    p = Path(path)
    if os.path.isdir(p):
        return (load_records(p, train_split, skip_bad, report), load_records(p, val_split, skip_bad, report))
    recs = load_records(p, train_split, skip_bad, report)
    train, val = split_by_image(recs, val_fraction, data_root(p))
    n_images = len({r.image for r in recs})
    if len(val) == len(recs):        # nothing held out: split_by_image keeps >= 1 image for training otherwise
        log.warning("%s: validating on the training hands (val_fraction %g, %d images): val figures will "
                    "read high", p, val_fraction, n_images)
    else:
        log.info("%s: %d of %d images held out for validation (val_fraction %g)", p,
                 len({r.image for r in val}), n_images, val_fraction)
    return train, val


def val_subset_indices(total: int, n: int, seed: int) -> np.ndarray:
    """Indices of the ``n`` (of ``total``) val hands the training loops validate on with
    ``--seed seed`` (also what ``train.pack`` keeps, so that both agree)."""
    return np.random.default_rng(seed).permutation(total)[:n]


def read_image(path: Path) -> np.ndarray:
    """Decode an image as HxWx3 uint8 BGR. Raises FileNotFoundError / ValueError naming it."""
    # os.path: False also for a name the system refuses (over 255 bytes), which pathlib raises for
    if os.path.isdir(path):
        raise FileNotFoundError(f"image path is a folder, not an image file: {path}")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"image file not found: {path}")
    img = read_image_file(path, cv2.IMREAD_COLOR)
    if img is None or img.size == 0:
        raise ValueError(f"image failed to decode: {path}")
    return img


def _size_mismatch(path: Path, img: np.ndarray, size: tuple[int, int]) -> str | None:
    """Why the decoded ``img`` (HxWx3) does not fit the (width, height) its labels were made on,
    or None when it does."""
    h, w = img.shape[:2]
    if (w, h) == tuple(size):
        return None
    msg = (f"image {path} decodes to {w}x{h} pixels but its annotation gives width x height "
           f"{size[0]}x{size[1]}: its keypoints would not fit the picture")
    if (h, w) == tuple(size):
        msg += ("; the file's EXIF orientation turns it when decoded (as photo viewers, CVAT and "
                "Labelme show it), but it was labelled unturned: remove the tag (exiftool "
                "-Orientation= -n FILE) or label the upright picture")
    else:
        msg += " (was the image resized after labelling?)"
    return msg


def _points_outside(path: Path, img: np.ndarray, records: list[HandRecord]) -> str | None:
    """Why a labelled point of ``records`` (the hands of the decoded ``img``, HxWx3) cannot belong
    to it: more than the picture's longer side outside its pixels (an edge-cut hand's points lie
    a little outside; one far out is a typo or labels of another picture size, and trained a blank
    crop as a hand, or failed in OpenCV naming nothing), or None."""
    h, w = img.shape[:2]
    reach = max(w, h)
    for r in records:
        pts = r.keypoints[r.visible > 0]
        far = (pts[:, 0] < -reach) | (pts[:, 0] > w + reach) | (pts[:, 1] < -reach) | (pts[:, 1] > h + reach)
        if far.any():
            x, y = pts[far][0]
            return (f"image {path}: a labelled keypoint at ({x:g}, {y:g}) lies far outside its {w}x{h} pixels "
                    f"(more than {reach} px): a typo, or labels made on a picture of another size?")
    return None


def physical_memory() -> int | None:
    """Bytes of physical memory of this machine, or None where the OS does not say (Windows)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def memory_budget() -> int:
    """Bytes a run may hold in memory at once before its first result (scenes, frames or clips all
    made up front): half of this machine's physical memory (:func:`physical_memory`; 8 GiB assumed
    where the OS does not say). More swapped for hours or was killed (10**30 scenes)."""
    return (physical_memory() or 8 * 2 ** 30) // 2


def check_fits_in_memory(what: str, nbytes: float) -> None:
    """ValueError naming ``what`` (the option and value, e.g. ``--scenes 10**30``) when ``nbytes``
    is more than :func:`memory_budget`. Shared by the bench, train/ and export/ command lines."""
    budget = memory_budget()
    if nbytes > budget:
        raise ValueError(f"{what}: about {nbytes / 2 ** 30:.3g} GiB held in memory at once, more than half of "
                         f"this machine's memory ({2 * budget / 2 ** 30:.0f} GiB)")


class ImageCache:
    """Decoded images held in memory for the whole run, keyed by path, at full size: width x
    height x 3 bytes each (hands21 train, 18,776 photos of 224x224, is 2.8 GB; a 12-megapixel
    phone photo alone is 36 MB). ``nbytes``: their total; it is logged, with a warning once it
    passes half the machine's memory (the run would swap or be killed).

    An image whose decoded size is not the ``image_size`` its records give (COCO ``width`` /
    ``height``; EXIF orientation is applied when decoding) is an error naming it, or with
    ``skip_bad`` counted and left out (:meth:`filter`), like an unreadable one; so is an image
    with a labelled point more than its longer side outside its pixels.
    """

    def __init__(self, records: list[HandRecord], skip_bad: bool = False,
                 report: LoadReport | None = None, progress: bool = False):
        self.images: dict[Path, np.ndarray] = {}
        report = report if report is not None else LoadReport()
        paths = sorted({r.image for r in records})
        it = paths
        if progress:
            from tqdm import tqdm
            it = tqdm(paths, desc="decoding images", unit="img", mininterval=2)
        sizes, hands = {}, {}
        for r in records:
            if r.image_size is not None:
                sizes.setdefault(r.image, r.image_size)
            hands.setdefault(r.image, []).append(r)
        bad = set()
        self.nbytes = 0
        memory = physical_memory()
        warned = not memory
        for p in it:
            try:
                img = read_image(p)
                why = (_size_mismatch(p, img, sizes[p]) if p in sizes else None) or _points_outside(p, img, hands[p])
                if why:
                    raise ValueError(why)
                self.images[p] = img
                self.nbytes += img.nbytes
            except (FileNotFoundError, ValueError) as e:
                report.skip(str(e), skip_bad, type(e))
                bad.add(p)
            if not warned and self.nbytes > memory / 2:
                # said while decoding: a machine that runs out of memory kills the run without a word
                warned = True
                log.warning("the decoded images take more than half of this machine's %.1f GB of memory "
                            "(%d of %d decoded, %.1f GB; each is held at full size, width x height x 3 bytes): "
                            "use fewer (--limit) or smaller photos, their labels scaled with them",
                            memory / 2 ** 30, len(self.images), len(paths), self.nbytes / 2 ** 30)
        self.bad = bad
        log.info("%d images decoded: %.1f MB in memory", len(self.images), self.nbytes / 2 ** 20)

    def filter(self, records: list[HandRecord]) -> list[HandRecord]:
        return [r for r in records if r.image not in self.bad]

    def __getitem__(self, path: Path) -> np.ndarray:
        return self.images[path]
