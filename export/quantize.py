"""INT8 variants of the landmark model and the detector (onnxruntime static QDQ quantisation),
with their accuracy and speed beside the float model.

    python -m export.quantize assets/landmarks.onnx -o assets/landmarks_int8.onnx \
        --data ../shared/data/hands21 --calib 256 --eval 1000
    python -m export.quantize assets/detector.onnx -o assets/detector_int8.onnx --calib 256 --eval 2000

The kind comes from the float model's metadata. Landmarks are calibrated on train crops and
evaluated on val crops; the detector is calibrated on composed train scenes at its input size and
at twice it (the small-hand pass runs the same file there) and evaluated on composed 640x480 val
scenes at its shipped threshold, with and without the small-hand pass. The metadata of the float
model is copied over, so the runtime loads either file unchanged
(``HandTracker(landmark_model_path="assets/landmarks_int8.onnx")``, ``detector_model_path=...``).
Whether INT8 is faster depends on the CPU: with AVX-512 VNNI it is (1.6-1.7x), with AVX2 alone
onnxruntime's INT8 kernels gain little and the detector ran slower (model card).
"""
from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import numpy as np
import onnx

from tracker.timing import time_call

log = logging.getLogger("quantize")


class _CropReader:
    def __init__(self, batches):
        self.it = iter(batches)

    def get_next(self):
        b = next(self.it, None)
        return None if b is None else {"image": b}


def calibration_batches(model, records, cache, n: int, seed: int = 0):
    from train.augment import sample_roi
    from train.evaluate import EVAL_JITTER
    rng = np.random.default_rng(seed)
    out = []
    for rec in records[:n]:
        batch, _ = model.preprocess(cache[rec.image], [sample_roi(rec, EVAL_JITTER, rng)])
        out.append(batch)
    return out


def quantize(float_path: Path, out: Path, batches) -> None:
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process
    pre = out.with_suffix(".pre.onnx")
    out.parent.mkdir(parents=True, exist_ok=True)  # the temporary file is written beside the output
    quant_pre_process(str(float_path), str(pre), skip_symbolic_shape=True)
    quantize_static(str(pre), str(out), _CropReader(batches), quant_format=QuantFormat.QDQ,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, per_channel=True,
                    calibrate_method=CalibrationMethod.MinMax,
                    nodes_to_exclude=[n.name for n in onnx.load(str(pre)).graph.node if n.op_type == "Softmax"])
    pre.unlink()
    src = onnx.load(str(float_path))
    q = onnx.load(str(out))
    del q.metadata_props[:]
    for p in src.metadata_props:
        q.metadata_props.add(key=p.key, value=p.value)
    q.metadata_props.add(key="quantization", value="int8 static QDQ, per-channel weights, MinMax calibration")
    onnx.save(q, str(out))


def detector_calibration_batches(detector, records, cache, n: int, seed: int = 0):
    """``n`` composed 640x480 scenes from ``records`` (train), preprocessed in turn at the
    detector's input size, at twice it (the small-hand pass) and at half it (the large-hand pass,
    on by default): (1, 3, H, W) float32 batches."""
    from tracker.detector import LARGE_HAND_SCALE, SMALL_HAND_SCALE
    from train.scenes import SceneConfig
    from train.train_detector import group_by_image, make_val_scenes
    scenes = make_val_scenes(group_by_image(records), cache, SceneConfig(640, 480), n, seed)
    scales = (1.0, SMALL_HAND_SCALE, LARGE_HAND_SCALE)
    return [detector.preprocess(img, scales[i % 3])[0] for i, (img, _, _) in enumerate(scenes)]


def network_latency_ms(stage, height: int, width: int, n: int = 300, warmup: int = 20) -> tuple[float, float]:
    """An ONNX stage's network alone on a random (1, 3, ``height``, ``width``) input: (p50, p95) ms."""
    x = np.random.default_rng(0).normal(size=(1, 3, height, width)).astype(np.float32)
    return time_call(lambda: stage.inference(x), reps=n, warmup=warmup)


def _model_kind(path: str) -> str:
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
            r = evaluate_detector(d, val, cache, a.eval, scene_size=(640, 480),
                                  photos=0 if small else (a.photos or None))
            key = "small_hands" if small else "plain"
            row[key] = {"ap@0.5": round(r["ap@0.5"], 4), "recall": round(r["recall"], 4),
                        "fp_per_frame": round(r["fp_per_frame"], 4)}
            if not small:
                row["photo_recall"] = round(r["photo_recall"], 4)
                row["photos"] = r["photos"]
                for scale in (1.0, 2.0):
                    p50, p95 = network_latency_ms(d, int(d.height * scale), int(d.width * scale), n=100, warmup=10)
                    row[f"network_{int(d.width * scale)}x{int(d.height * scale)}_ms"] = [round(p50, 3), round(p95, 3)]
        row.update(threads=a.threads, threshold=d.default_threshold, scenes=a.eval,
                   size_kb=round(Path(path).stat().st_size / 1024))
        rows[name] = row
    return rows


def main(argv=None):
    from tracker.cli import int_at_least, refuse_overwrite
    from tracker.landmarks import LandmarkModel
    from train.data import ImageCache, load_records
    from train.evaluate import evaluate_landmarks
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("-o", "--output", required=True)
    ap.add_argument("--data", default="../shared/data/hands21")
    ap.add_argument("--calib", type=int_at_least("--calib", 1), default=256,
                    help="calibration crops (landmarks) or scenes (detector)")
    ap.add_argument("--eval", type=int_at_least("--eval", 1), default=1000,
                    help="val hands (landmarks) or composed val scenes (detector)")
    ap.add_argument("--photos", type=int_at_least("--photos", 0), default=0,
                    help="detector: single val photos for the photo recall (0: all)")
    ap.add_argument("--threads", type=int_at_least("--threads", 1), default=2)
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    try:
        refuse_overwrite(a.model, a.output, "-o/--output", "the input model")
        kind = _model_kind(a.model)
        train_recs = load_records(a.data, "train")
        rng = np.random.default_rng(0)
        calib = [train_recs[i] for i in rng.choice(len(train_recs), min(a.calib, len(train_recs)), replace=False)]
        val = load_records(a.data, "val")
        if kind == "detector":
            # scenes draw up to 4 photos each: a larger pool than the scene count
            pool = [train_recs[i] for i in rng.choice(len(train_recs), min(4 * a.calib, len(train_recs)), replace=False)]
            print(json.dumps(_detector_rows(a, pool, val), indent=1))
            return
        val = [val[i] for i in rng.choice(len(val), min(a.eval, len(val)), replace=False)]
        fm = LandmarkModel(a.model, threads=a.threads)
        cache = ImageCache(calib + val)
        quantize(Path(a.model), Path(a.output), calibration_batches(fm, calib, cache, a.calib))
        qm = LandmarkModel(a.output, threads=a.threads)
    except (FileNotFoundError, ValueError) as e:
        raise SystemExit(f"error: {e}")
    rows = {}
    for name, m in (("float32", fm), ("int8", qm)):
        r = evaluate_landmarks(m, val, cache)
        p50, p95 = network_latency_ms(m, m.input_size, m.input_size)
        rows[name] = {k: round(r[k], 4) for k in ("pck@0.05", "pck@0.1", "pck@0.2", "handedness_acc")}
        rows[name].update(p50_ms=round(p50, 3), p95_ms=round(p95, 3), threads=a.threads,
                          size_kb=round(Path(m.model_path).stat().st_size / 1024))
    print(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
