"""INT8 variant of the landmark model (onnxruntime static QDQ quantisation, calibrated on val
crops), with its accuracy and speed beside the float model.

    python -m export.quantize assets/landmarks.onnx -o assets/landmarks_int8.onnx \
        --data ../shared/data/hands21 --calib 256 --eval 1000

The metadata of the float model is copied over, so the runtime loads either file unchanged
(``HandTracker(landmark_model_path="assets/landmarks_int8.onnx")``).
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


def latency_ms(model, n: int = 300) -> tuple[float, float]:
    x = np.random.default_rng(0).normal(size=(1, 3, model.input_size, model.input_size)).astype(np.float32)
    return time_call(lambda: model.inference(x), reps=n, warmup=20)


def main(argv=None):
    from tracker.landmarks import LandmarkModel
    from train.data import ImageCache, load_records
    from train.evaluate import evaluate_landmarks
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("-o", "--output", required=True)
    ap.add_argument("--data", default="../shared/data/hands21")
    ap.add_argument("--calib", type=int, default=256)
    ap.add_argument("--eval", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    try:
        fm = LandmarkModel(a.model, threads=a.threads)
        train_recs = load_records(a.data, "train")
        rng = np.random.default_rng(0)
        calib = [train_recs[i] for i in rng.choice(len(train_recs), a.calib, replace=False)]
        val = load_records(a.data, "val")
        val = [val[i] for i in rng.choice(len(val), min(a.eval, len(val)), replace=False)]
        cache = ImageCache(calib + val)
        quantize(Path(a.model), Path(a.output), calibration_batches(fm, calib, cache, a.calib))
        qm = LandmarkModel(a.output, threads=a.threads)
    except (FileNotFoundError, ValueError) as e:
        raise SystemExit(f"error: {e}")
    rows = {}
    for name, m in (("float32", fm), ("int8", qm)):
        r = evaluate_landmarks(m, val, cache)
        p50, p95 = latency_ms(m)
        rows[name] = {k: round(r[k], 4) for k in ("pck@0.05", "pck@0.1", "pck@0.2", "handedness_acc")}
        rows[name].update(p50_ms=round(p50, 3), p95_ms=round(p95, 3), threads=a.threads,
                          size_kb=round(Path(m.model_path).stat().st_size / 1024))
    print(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
