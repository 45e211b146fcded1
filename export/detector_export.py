"""Detector checkpoint -> ONNX with metadata, verified like the landmark model."""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from tracker.detector_codec import CenterCodec

from .onnx_export import (_export, _metadata, _model_config, _sample_inputs, check_output, load_weights,
                          save_replacing, verify)

log = logging.getLogger("export")


def export_detector(ckpt_path: str | Path, out: str | Path, version: str | None = None,
                    threshold: float | None = None) -> dict:
    from tracker.cli import refuse_overwrite
    from train.common import load_checkpoint
    from train.model import DetectorExportWrapper, DetectorNet

    ckpt_path, out = Path(ckpt_path), Path(out)
    ck = load_checkpoint(ckpt_path)
    refuse_overwrite(ckpt_path, out, "-o/--output")
    check_output(out)
    mcfg = _model_config(ck, ckpt_path, "detector")
    net = DetectorNet(mcfg)
    load_weights(net, ck, ckpt_path)
    wrapper = DetectorExportWrapper(net).eval()
    codec = CenterCodec.from_dict(ck["codec"])
    h, w = mcfg.input_height, mcfg.input_width
    # any input size: the tracker's small-hand pass runs the same file at twice its input size
    model = _export(wrapper, torch.zeros(1, 3, h, w), out, ["heatmap", "regress"], False, dynamic_size=True)
    state = ck.get("state", {})
    hist = state.get("history", [])
    thr = threshold if threshold is not None else ck["train_config"].get("threshold", 0.4)
    _metadata(model, {
        "kind": "detector",
        "model_version": version or f"{ckpt_path.stem}-step{state.get('step', 0)}",
        "input_width": w, "input_height": h, "layout": "NCHW", "color": "RGB",
        "letterbox": "top-left, black padding",
        "mean_rgb": list(ck["normalization"]["mean_rgb"]),
        "std_rgb": list(ck["normalization"]["std_rgb"]),
        "codec": codec.to_dict(),
        "threshold": float(thr),
        "training_steps": state.get("step", 0),
        "training_minutes": round(state.get("minutes", 0.0), 1),
        "val_scenes": hist[-1] if hist else {},
    })

    def decode(outs):
        d = codec.decode(outs[0][0], outs[1][0], threshold=0.05, max_detections=5)
        return np.concatenate([d.boxes.ravel(), d.wrist.ravel()]) if len(d) else np.zeros(1)

    inputs = [x[:1] for x in _sample_inputs((h, w), 1)] + [x[:1] for x in _sample_inputs((2 * h, 2 * w), 1)]
    figures = verify(model, wrapper, inputs, decode, px_tol=0.1)
    save_replacing(model, out)
    log.info("wrote %s (%.0f KB): %s", out, out.stat().st_size / 1024, figures)
    return figures
