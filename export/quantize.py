"""INT8 variants of the landmark model and the detector (onnxruntime static QDQ quantisation),
with their accuracy and speed beside the float model.

    python -m export.quantize assets/landmarks.onnx -o assets/landmarks_int8.onnx \\
        --data ../shared/data/hands21 --calib 256 --eval 1000
    python -m export.quantize assets/detector.onnx -o assets/detector_int8.onnx --calib 256 --eval 2000

The kind comes from the float model's metadata. Landmarks are calibrated on train crops and
evaluated on val crops (for a single ``--data`` file, a CSV of one's own labels, the photos
training held out: the same ``--val-fraction`` split as ``train.train_landmarks`` and
``train.evaluate``); the detector is calibrated on composed train scenes at its input size, at
twice it and at half it (the small-hand and large-hand passes run the same file there) and
evaluated on composed 640x480 val scenes at its shipped threshold, with and without the
small-hand pass. The metadata of the float model is copied over, so the runtime loads either
file unchanged (``HandTracker(landmark_model_path="assets/landmarks_int8.onnx")``,
``detector_model_path=...``). Whether INT8 is faster depends on the CPU: with AVX-512 VNNI it
is (the landmark network 1.3x with its last stage in float, 1.6x all INT8), with AVX2 alone
onnxruntime's INT8 kernels gain little and the detector ran slower (model card).

The figures of both files are the JSON on stdout (``null`` where nothing was counted, e.g. the
handedness of single-hand CSV rows); the log, on stderr, says where the INT8 file was written.
"""
from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from pathlib import Path

import numpy as np
import onnx

from tracker.timing import time_call

log = logging.getLogger("quantize")
#: size of the composed scenes of the detector's calibration and evaluation, made up front
SCENE_SIZE = (640, 480)
#: bytes a pixel of one such scene costs while all are held: calibration, the uint8 scene (3) and
#: its float32 model inputs at 1x, 2x and 0.5x an input of up to 320x240 (6 on average);
#: evaluation, the uint8 scene and what its figures keep (4)
CALIB_BYTES_PER_PIXEL, EVAL_BYTES_PER_PIXEL = 9, 4


class _CropReader:
    def __init__(self, batches):
        self.it = iter(batches)

    def get_next(self):
        b = next(self.it, None)
        return None if b is None else {"image": b}


def calibration_batches(model, records, cache, n: int, seed: int = 0, augment: bool = True) -> list[np.ndarray]:
    """Landmark calibration inputs: one (1, 3, S, S) float32 crop per record of the first ``n``,
    cut around the hand with the evaluation's jitter.

    With ``augment`` each photo first gets the training's photometric changes
    (``train.augment.photometric`` with the default ``AugmentConfig``: colour, grey, blur and motion
    blur, noise, JPEG, occluding patches), so the 8-bit activation ranges also cover the frames the
    tracker sees. Calibrated on clean photos only, the file read the same on val crops but lost
    0.026 PCK@0.1 on the motion benchmark's blurred, noisy and compressed clips (session 31).
    """
    from train.augment import AugmentConfig, photometric, sample_roi
    from train.evaluate import EVAL_JITTER
    rng = np.random.default_rng(seed)
    cfg = AugmentConfig()
    out = []
    for rec in records[:n]:
        img = photometric(cache[rec.image], cfg, rng) if augment else cache[rec.image]
        batch, _ = model.preprocess(img, [sample_roi(rec, EVAL_JITTER, rng)])
        out.append(batch)
    return out


def heatmap_stage_nodes(graph: onnx.GraphProto, output: str = "heatmaps") -> list[str]:
    """Names of the nodes of the net's last decoder stage: downstream of its last ``Resize`` (the
    stride-4 maps) and upstream of ``output``; [] when the graph has no Resize or no such output.

    The landmark model keeps these in float32 when quantised: its keypoints are read from the
    heatmap logits to a fraction of a cell (DARK), and 8-bit logits and the 8-bit features just
    before them cost PCK@0.05 0.030 (2,000 val hands, v0.6); in float 0.0003, for about a fifth
    more network time than all-INT8 (session 31, docs/model_history.md).
    """
    nodes = list(graph.node)                       # ONNX graphs are topologically sorted
    resizes = [i for i, n in enumerate(nodes) if n.op_type == "Resize"]
    if not resizes or output not in {o.name for o in graph.output}:
        return []
    reached = set(nodes[resizes[-1]].output)
    down = set()
    for n in nodes[resizes[-1] + 1:]:
        if reached.intersection(n.input):
            down.add(n.name)
            reached.update(n.output)
    needed, up = {output}, set()
    for n in reversed(nodes):
        if needed.intersection(n.output):
            up.add(n.name)
            needed.update(i for i in n.input if i)
    return [n.name for n in nodes if n.name in down and n.name in up]


def quantize(float_path: Path, out: Path, batches) -> None:
    """Quantise ``float_path`` to INT8 (static QDQ: per-channel INT8 weights, UINT8 activations)
    with ``batches`` (list of NCHW float32 inputs) as calibration data, and copy its metadata
    (``model_version`` gets "-int8" appended; a "quantization" entry says how).

    Softmax stays float. For the landmark model (metadata kind "landmarks") the last decoder stage
    (:func:`heatmap_stage_nodes`) stays float too and activations are calibrated on the 99.999th
    percentile instead of the min/max (an outlier stretches the 8-bit range of a whole tensor).
    2,000 val hands, PCK@0.05 (float 0.839): all INT8 with min/max 0.809, with percentile 0.816,
    the head convolution float too 0.828, the whole last stage float 0.839 (with clean
    calibration crops; see :func:`calibration_batches` for why they are not clean). The detector keeps
    min/max (its INT8 figures in the model history were measured so; it is not shipped).
    """
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from tracker.cli import temporary_beside

    from .onnx_export import meta_text, meta_value, save_replacing
    out.parent.mkdir(parents=True, exist_ok=True)  # the temporary files are written beside the output
    # named for this run only (``m.pre.onnx -o m.onnx`` wrote over its input, then deleted it) and
    # removed whatever happens; ``out`` is replaced only once complete with its metadata, so a
    # failure keeps an earlier file there (it was overwritten by one the runtime refuses)
    pre, tmp = temporary_beside(out, "pre"), temporary_beside(out, "int8")
    try:
        quant_pre_process(str(float_path), str(pre), skip_symbolic_shape=True)
        graph = onnx.load(str(pre))
        landmarks = {p.key: p.value for p in graph.metadata_props}.get("kind") == "landmarks"
        keep = [n.name for n in graph.graph.node if n.op_type == "Softmax"]
        if landmarks:
            keep += [n for n in heatmap_stage_nodes(graph.graph) if n not in keep]
        # percentile first for a landmark model; min/max when numpy's histogram refuses a tensor whose few
        # calibration values span too small a range for its 2,048 bins (seen with 6 calibration crops)
        methods = [CalibrationMethod.Percentile, CalibrationMethod.MinMax] if landmarks else [CalibrationMethod.MinMax]
        batches = list(batches)
        for method in methods:
            # the histogram calibrators print their progress: to stderr, so that the CLI's stdout stays
            # the JSON report (``python -m export.quantize ... > report.json``)
            with contextlib.redirect_stdout(sys.stderr):
                try:
                    quantize_static(str(pre), str(tmp), _CropReader(batches), quant_format=QuantFormat.QDQ,
                                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, per_channel=True,
                                    calibrate_method=method, nodes_to_exclude=keep)
                    break
                except ValueError as e:
                    if method == methods[-1] or "bins" not in str(e):
                        raise
                    log.warning("percentile calibration failed (%s); calibrating on min/max instead "
                                "(more --calib crops avoid this)", e)
        src = onnx.load(str(float_path))
        q = onnx.load(str(tmp))
    finally:
        pre.unlink(missing_ok=True)
        tmp.unlink(missing_ok=True)
    del q.metadata_props[:]
    for p in src.metadata_props:
        # the version names the file as INT8: evaluation reports and `handtrack --version` quote it,
        # and an INT8 file's figures differ from the float one's
        value = meta_value(f"{meta_text(p.value)}-int8") if p.key == "model_version" else p.value
        q.metadata_props.add(key=p.key, value=value)
    how = (f"int8 static QDQ, per-channel weights, {'percentile' if method == CalibrationMethod.Percentile else 'MinMax'}"
           f" calibration{', last decoder stage in float32' if landmarks else ''}")
    q.metadata_props.add(key="quantization", value=how)
    save_replacing(q, out)
    # logged (stderr), not printed: the CLI's stdout is the JSON report users redirect to a file
    log.info("wrote %s (%d KB, %s)", out, round(out.stat().st_size / 1024), how)


def detector_calibration_batches(detector, records, cache, n: int, seed: int = 0):
    """``n`` composed 640x480 scenes from ``records`` (train), preprocessed in turn at the
    detector's input size, at twice it (the small-hand pass) and at half it (the large-hand pass,
    on by default): (1, 3, H, W) float32 batches."""
    from tracker.detector import LARGE_HAND_SCALE, SMALL_HAND_SCALE
    from train.scenes import SceneConfig
    from train.train_detector import group_by_image, make_val_scenes
    scenes = make_val_scenes(group_by_image(records), cache, SceneConfig(*SCENE_SIZE), n, seed)
    scales = (1.0, SMALL_HAND_SCALE, LARGE_HAND_SCALE)
    return [detector.preprocess(img, scales[i % 3])[0] for i, (img, _, _) in enumerate(scenes)]


def network_latency_ms(stage, height: int, width: int, n: int = 300, warmup: int = 20) -> tuple[float, float]:
    """An ONNX stage's network alone on a random (1, 3, ``height``, ``width``) input: (p50, p95) ms."""
    x = np.random.default_rng(0).normal(size=(1, 3, height, width)).astype(np.float32)
    return time_call(lambda: stage.inference(x), reps=n, warmup=warmup)


def _model_kind(path: str) -> str:
    if Path(path).is_dir():
        raise ValueError(f"model file {path}: is a folder; give the float model's .onnx file")
    if not Path(path).is_file():
        raise FileNotFoundError(f"model file not found: {path}")
    from google.protobuf.message import DecodeError
    try:
        model = onnx.load(path)
    except DecodeError:
        raise ValueError(f"model file {path} is not an ONNX model") from None
    meta = {p.key: p.value for p in model.metadata_props}
    if meta.get("kind") not in ("landmarks", "detector"):
        raise ValueError(f"model file {path}: metadata kind {meta.get('kind')!r} is neither 'landmarks' nor 'detector'")
    return meta["kind"]


def _round(value: float | None, digits: int = 4) -> float | None:
    """A figure rounded for the report; None (null) stays None: nothing was counted."""
    return None if value is None else round(value, digits)


def _detector_rows(a, train_recs, val) -> dict:
    from tracker.detector import HandDetector
    from train.data import ImageCache
    from train.evaluate import evaluate_detector
    cache = ImageCache(train_recs + val)
    fd = HandDetector(a.model, threads=a.threads)
    quantize(Path(a.model), Path(a.output), detector_calibration_batches(fd, train_recs, cache, a.calib))
    rows = {}
    for name, path in (("float32", a.model), ("int8", a.output)):
        row = {}
        for small in (False, True):
            d = HandDetector(path, threads=a.threads, small_hands=small)
            # the single-photo recall is the plain detector's (the figure): one pass over
            # the photos per model, not two
            r = evaluate_detector(d, val, cache, a.eval, scene_size=SCENE_SIZE,
                                  photos=0 if small else (a.photos or None))
            key = "small_hands" if small else "plain"
            row[key] = {"ap@0.5": _round(r["ap@0.5"]), "recall": _round(r["recall"]),
                        "fp_per_frame": _round(r["fp_per_frame"])}
            if not small:
                row["photo_recall"] = _round(r["photo_recall"])
                row["photos"] = r["photos"]
                for scale in (1.0, 2.0):
                    p50, p95 = network_latency_ms(d, int(d.height * scale), int(d.width * scale), n=100, warmup=10)
                    row[f"network_{int(d.width * scale)}x{int(d.height * scale)}_ms"] = [round(p50, 3), round(p95, 3)]
        row.update(threads=a.threads, threshold=d.default_threshold, scenes=a.eval,
                   size_kb=round(Path(path).stat().st_size / 1024))
        rows[name] = row
    return rows


def main(argv=None):
    from export.onnx_export import check_output, check_scene_count, data_path, scenes_that_fit
    from tracker.checks import MAX_THREADS
    from tracker.cli import int_at_least, new_folders, refuse_overwrite, remove_new_folders, thread_count
    from tracker.landmarks import LandmarkModel
    from train.data import ImageCache, check_val_fraction_applies, label_files, load_train_val, val_fraction_arg
    from train.evaluate import evaluate_landmarks, figures_json
    ap = argparse.ArgumentParser(prog="python -m export.quantize", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("-o", "--output", required=True,
                    help="the INT8 model file to write (neither the model nor a --data label file)")
    ap.add_argument("--data", type=data_path("--data"), default="../shared/data/hands21")
    w, h = SCENE_SIZE
    ap.add_argument("--calib", type=int_at_least("--calib", 1), default=256,
                    help="calibration crops (landmarks; more than --data's training hands: all of them) or "
                         f"scenes (detector; made up front: at most {scenes_that_fit(w, h, CALIB_BYTES_PER_PIXEL)}, "
                         "what half of this machine's memory holds)")
    ap.add_argument("--eval", type=int_at_least("--eval", 1), default=1000,
                    help="val hands (landmarks; more than --data holds: all of them) or composed val scenes "
                         f"(detector; made up front: at most {scenes_that_fit(w, h, EVAL_BYTES_PER_PIXEL)}, what "
                         "half of this machine's memory holds)")
    ap.add_argument("--photos", type=int_at_least("--photos", 0), default=0,
                    help="detector: single val photos for the photo recall (0: all)")
    ap.add_argument("--threads", type=thread_count(), default=2,
                    help=f"onnxruntime threads (default 2, at most {MAX_THREADS})")
    ap.add_argument("--val-fraction", type=val_fraction_arg, default=0.1,
                    help="single --data file: the share of images training held out (its default 0.1); a "
                         "dataset folder has its own splits")
    a = ap.parse_args(argv)
    if a.val_fraction != ap.get_default("val_fraction"):
        try:                # only a single --data file is split by it: it was ignored without a word
            check_val_fraction_applies(a.data, a.val_fraction)
        except ValueError as e:
            ap.error(str(e))
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    made = new_folders(a.output)
    try:
        refuse_overwrite(a.model, a.output, "-o/--output", "the input model")
        for labels in label_files(a.data):   # a dataset folder's train.json, val.json, ... too
            refuse_overwrite(labels, a.output, "-o/--output", "the --data labels")
        check_output(a.output)
        kind = _model_kind(a.model)
        if kind == "detector":
            check_scene_count("--calib", a.calib, w, h, CALIB_BYTES_PER_PIXEL)
            check_scene_count("--eval", a.eval, w, h, EVAL_BYTES_PER_PIXEL)
        # a single file (one's own CSV) is one set: its train/val are training's split of it, not
        # every row twice (the INT8 figures were measured on the photos the model trained on)
        train_recs, val = load_train_val(a.data, val_fraction=a.val_fraction)
        for recs, split in ((train_recs, "training"), (val, "val")):
            if not recs:   # found after the quantisation before (a traceback), or by onnxruntime ("No data")
                raise ValueError(f"--data {a.data}: no labelled hands in its {split} split, which the "
                                 f"{'calibration' if split == 'training' else 'evaluation'} needs")
        rng = np.random.default_rng(0)
        calib = [train_recs[i] for i in rng.choice(len(train_recs), min(a.calib, len(train_recs)), replace=False)]
        if kind == "detector":
            # scenes draw up to 4 photos each: a larger pool than the scene count
            pool = [train_recs[i] for i in rng.choice(len(train_recs), min(4 * a.calib, len(train_recs)), replace=False)]
            print(figures_json(_detector_rows(a, pool, val)))
            return
        for option, asked, held, what in (("--calib", a.calib, len(train_recs), "training"),
                                          ("--eval", a.eval, len(val), "val")):
            if asked > held:
                log.warning("%s %d: --data %s holds %d %s hands; using all %d", option, asked, a.data, held, what,
                            held)
        val = [val[i] for i in rng.choice(len(val), min(a.eval, len(val)), replace=False)]
        fm = LandmarkModel(a.model, threads=a.threads)
        cache = ImageCache(calib + val)
        quantize(Path(a.model), Path(a.output), calibration_batches(fm, calib, cache, a.calib))
        qm = LandmarkModel(a.output, threads=a.threads)
    except (OSError, ValueError) as e:
        remove_new_folders(made)
        raise SystemExit(f"error: {e}")
    rows = {}
    for name, m in (("float32", fm), ("int8", qm)):
        r = evaluate_landmarks(m, val, cache)
        p50, p95 = network_latency_ms(m, m.input_size, m.input_size)
        # handedness_acc is None (null) when no val hand has a side label (a CSV of single hands)
        rows[name] = {k: _round(r[k]) for k in ("pck@0.05", "pck@0.1", "pck@0.2", "handedness_acc")}
        rows[name].update(p50_ms=round(p50, 3), p95_ms=round(p95, 3), threads=a.threads,
                          size_kb=round(Path(m.model_path).stat().st_size / 1024))
    print(figures_json(rows))


if __name__ == "__main__":
    main()
