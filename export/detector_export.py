"""Detector checkpoint -> ONNX with metadata, verified like the landmark model."""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from tracker.checks import is_real

from .onnx_export import (CHECK_SCENE_BYTES_PER_PIXEL, _export, _merge_figures, _metadata, _model_config,
                          _sample_inputs, check_count_value, check_data_inputs, check_scene_count, check_version,
                          checkpoint_parts, load_weights, open_export, save_replacing, verify, verify_real)

log = logging.getLogger("export")


def detector_check_scenes(records, cache, n: int, width: int, height: int, normalization: dict) -> np.ndarray:
    """(n, 3, height, width) float32 model inputs: ``n`` scenes composed of ``records``' photos as
    the training loop composes its val scenes (``train.train_detector.make_val_scenes``, fixed seed),
    normalised as the runtime does with ``normalization``."""
    from tracker.landmarks import normalize_image
    from train.scenes import SceneConfig
    from train.train_detector import group_by_image, make_val_scenes
    scenes = make_val_scenes(group_by_image(records), cache, SceneConfig(width, height), n)
    return normalize_image(np.stack([sc[0] for sc in scenes]), normalization["mean_rgb"], normalization["std_rgb"])


def export_detector(ckpt_path: str | Path, out: str | Path, version: str | None = None,
                    threshold: float | None = None, check_data: str | Path | None = None,
                    check_count: int = 16) -> dict:
    """Export a detector checkpoint to ONNX with metadata; verify; return the verification figures.
    ``threshold``: the score threshold stored in the file (in [0, 1]; None: the checkpoint's
    ``train_config`` threshold, 0.4 where it has none). Raises ValueError, before any work, for what
    the runtime would refuse in the written file. ``check_data`` (``--check-data``): also verify on
    ``check_count`` scenes composed of its photos (:func:`detector_check_scenes`, from 4 hands per
    scene; one per run, the file's batch axis being fixed; all made first, so at most what half the
    memory holds: ``check_scene_count``); the figures then give ``real_scenes`` and
    ``real_scenes_max_keypoint_diff_px`` (box corners and wrists, px of the model input)."""
    from tracker.detector import _center_codec
    from train.model import DetectorExportWrapper, DetectorNet

    # HandDetector refuses a file whose threshold is outside [0, 1]: it was written all the same
    if threshold is not None and not (is_real(threshold) and 0 <= threshold <= 1):
        raise ValueError(f"threshold must be a score in [0, 1], got {threshold!r}")
    if version is not None:
        check_version(version)

    ck, ckpt_path, out = open_export(ckpt_path, out, check_data)
    mcfg = _model_config(ck, ckpt_path, "detector")
    net = DetectorNet(mcfg)
    codec, normalization = checkpoint_parts(ck, ckpt_path, _center_codec, "detector")
    thr = threshold if threshold is not None else (ck.get("train_config") or {}).get("threshold", 0.4)
    if not (is_real(thr) and 0 <= thr <= 1):
        raise ValueError(f"checkpoint {ckpt_path}: its train_config threshold {thr!r} is not a score in [0, 1]; "
                         "give one with --threshold")
    h, w = mcfg.input_height, mcfg.input_width
    scenes = None
    if check_data is not None:   # scenes draw up to 4 photos each: a larger pool than the scene count
        check_count_value(check_count)
        check_scene_count("--check-count", check_count, w, h, CHECK_SCENE_BYTES_PER_PIXEL)
        scenes = check_data_inputs(check_data, 4 * check_count, lambda recs, cache: detector_check_scenes(
            recs, cache, check_count, w, h, normalization))
    load_weights(net, ck, ckpt_path)
    wrapper = DetectorExportWrapper(net).eval()
    # any input size: the tracker's small-hand and large-hand passes run the same file at twice and
    # half its input size
    model = _export(wrapper, torch.zeros(1, 3, h, w), out, ["heatmap", "regress"], False, dynamic_size=True)
    state = ck.get("state", {})
    hist = state.get("history", [])
    _metadata(model, {
        "kind": "detector",
        "model_version": version or f"{ckpt_path.stem}-step{state.get('step', 0)}",
        "input_width": w, "input_height": h, "layout": "NCHW", "color": "RGB",
        "letterbox": "top-left, black padding",
        **normalization,
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
    if scenes is not None:
        figures = _merge_figures(figures, verify_real(model, wrapper, scenes, decode, "real_scenes",
                                                      f"--check-data {check_data}", batch=1), "real_scenes")
    save_replacing(model, out)
    log.info("wrote %s (%.0f KB): %s", out, out.stat().st_size / 1024, figures)
    return figures
