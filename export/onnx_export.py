"""torch -> ONNX export with embedded metadata and verification, for both models.

    python -m export.onnx_export landmarks runs/landmarks/last.pt -o assets/landmarks.onnx
    python -m export.onnx_export detector runs/detector/last.pt -o assets/detector.onnx
    python -m export.onnx_export landmarks runs/landmarks/last.pt -o lm.onnx --check-data ../shared/data/hands21

Every export is verified (mmpose ``pytorch2onnx`` style): ``onnx.checker``, onnxruntime outputs
``allclose`` to torch on random inputs, and decoded keypoints equal within 0.1 px. Random inputs
give nearly flat heatmaps; ``--check-data PATH`` (a dataset folder, whose val split is used, or a
COCO JSON / CSV file) also verifies on real inputs where they peak: the runtime's crops of
``--check-count`` (16) of its hands, for the detector as many composed scenes of its photos. The
figures printed then give how many (``real_crops`` / ``real_scenes``) and their worst decoded
difference (``..._max_keypoint_diff_px``, px of the model input). A failed check raises and leaves
no file behind: the file is written beside the output and renamed over it once verified, so a
failed export also keeps an earlier file at that path.
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import os
import warnings
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import onnx
import torch

from tracker.checks import is_int, is_real
from tracker.cli import (check_output_path, new_folders, positive_int, refuse_overwrite, remove_new_folders,
                         temporary_beside, write_replacing)
from tracker.codec import HeatmapCodec
from tracker.keypoints import KEYPOINT_NAMES

log = logging.getLogger("export")
OPSET = 17
#: tags of the temporary files the export tools write beside an output (``temporary_beside``: the
#: torch export, :func:`check_output`'s probe, ``write_replacing``, the quantiser's two): the
#: longest of their names must fit the folder's file names too
TEMPORARY_TAGS = ("export", "probe", "tmp", "pre", "int8")
#: bytes one composed detector scene of the export's check costs per pixel while all are held:
#: the uint8 scene (3), its stacked copy (3), the float32 model input (12) and its batch copy (12)
CHECK_SCENE_BYTES_PER_PIXEL = 30


def meta_value(v) -> str:
    """``v`` as a metadata string that the runtime's JSON decoding (``backend.read_metadata``) reads
    back as ``v``: a string is stored as it is unless it would decode as something else ("1.10",
    "2", "true": quoted, else ``--version 1.10`` read back as the float 1.1)."""
    if not isinstance(v, str):
        return json.dumps(v)
    try:
        json.loads(v)
    except ValueError:
        return v
    return json.dumps(v)


def meta_text(value: str):
    """The value a metadata string stands for (the inverse of :func:`meta_value`)."""
    try:
        return json.loads(value)
    except ValueError:
        return value


def _metadata(model: onnx.ModelProto, meta: dict) -> None:
    del model.metadata_props[:]
    for k, v in meta.items():
        p = model.metadata_props.add()
        p.key = k
        p.value = meta_value(v)


def check_output(out: str | Path, opt: str = "-o/--output") -> None:
    """Make sure the file ``out`` can be written, before any work, leaving nothing behind: the
    folders it needs are made for a probe file there and removed again (writing the file makes
    them for real, so a refused run leaves no empty folder).

    Raises ValueError naming ``out``: a folder, or a name ending in a path separator (``-o new/``
    wrote a file named ``new``); a path under a file; a name whose temporary files
    (``.NAME.PID.export``, beside it) are longer than the folder's file names can be (the export
    failed after its work); a folder that cannot be made or written in (a traceback at the end of
    the export before)."""
    check_output_path(opt, out)
    out = Path(out)
    missing = new_folders(out)
    base = out.parents[len(missing)] if len(missing) < len(out.parents) else Path(".")
    try:
        name_max = os.pathconf(base, "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):   # no pathconf (Windows), or no such limit there
        name_max = 255
    longest = max(len(os.fsencode(temporary_beside(out, tag).name)) for tag in TEMPORARY_TAGS)
    if 0 < name_max < longest:
        raise ValueError(f"{opt} {out}: the name is too long; the temporary file written beside it "
                         f"(.NAME.{os.getpid()}.export) would have {longest} bytes, and file names there have "
                         f"at most {name_max}: give a name {longest - name_max} bytes shorter")
    probe = temporary_beside(out, "probe")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644))
        probe.unlink()
    except OSError as e:
        raise ValueError(f"{opt} {out}: cannot write there ({e.strerror or e})") from None
    finally:
        remove_new_folders(missing)


def check_checkpoint(ck: dict, ckpt_path: Path) -> None:
    """ValueError naming ``ckpt_path`` for the parts of a loaded checkpoint (``train.common.
    load_checkpoint``) the export reads that are not what training writes: weights (``model``) that
    are not a state dict (a TypeError / AttributeError traceback from ``load_state_dict``), a
    training ``state`` that is not a dict of a whole ``step``, ``minutes`` and a ``history`` list
    (an AttributeError once the model was exported)."""
    weights = ck["model"]
    if not isinstance(weights, Mapping):
        raise ValueError(f"checkpoint {ckpt_path}: its weights ('model') are {type(weights).__name__} "
                         f"{weights!r:.60}, not a state dict")
    state = ck.get("state", {})
    if not (isinstance(state, Mapping) and is_int(state.get("step", 0)) and is_real(state.get("minutes", 0.0))
            and isinstance(state.get("history", []), list)):
        raise ValueError(f"checkpoint {ckpt_path}: its training 'state' {state!r:.100} is not what training writes "
                         "(a dict of step, minutes and history)")


def open_export(ckpt_path: str | Path, out: str | Path, check_data: str | Path | None) -> tuple[dict, Path, Path]:
    """``(checkpoint, ckpt_path, out)`` for an export, every check made before any work: the
    checkpoint is a file that loads (:func:`check_checkpoint`), ``out`` replaces neither it nor a
    label file of ``--check-data`` (a dataset folder's ``val.json``, ``train.json``, ...:
    ``train.data.label_files``), and ``out`` can be written (:func:`check_output`)."""
    from train.common import load_checkpoint
    from train.data import label_files
    out_text, ckpt_path, out = out, Path(ckpt_path), Path(out)
    if os.path.isdir(ckpt_path):   # load_checkpoint: "not found"
        raise ValueError(f"checkpoint {ckpt_path}: is a folder; give the checkpoint file in it (last.pt, final.pt)")
    ck = load_checkpoint(ckpt_path)
    check_checkpoint(ck, ckpt_path)
    refuse_overwrite(ckpt_path, out, "-o/--output")
    if check_data is not None:
        for labels in label_files(check_data):
            refuse_overwrite(labels, out, "-o/--output", "the --check-data labels")
    check_output(out_text)
    return ck, ckpt_path, out


def save_replacing(model: onnx.ModelProto, out: Path, opt: str = "-o/--output") -> None:
    """``model`` to ``out``, written beside it first and renamed over it once complete: a failed
    write (a full disk, a kill) keeps an earlier ``out`` and leaves no partial file; ``out``'s
    folders are made here, once there is a file to write (:func:`check_output` made none). An
    OSError becomes a ValueError naming ``out``."""
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        write_replacing(out, lambda tmp: onnx.save(model, str(tmp)))
    except OSError as e:
        raise ValueError(f"{opt} {out}: writing it failed ({e.strerror or e}); any earlier file there is kept") from None


def load_weights(net: torch.nn.Module, ck: dict, ckpt_path: Path) -> None:
    """The checkpoint's weights into ``net``. A state dict saved from a DistributedDataParallel
    wrapper (every key ``module.*``) loads with the prefix taken off (logged); weights that do not
    fit ``net`` are a ValueError naming the checkpoint, not a traceback listing every key."""
    weights = ck["model"]
    if weights and all(k.startswith("module.") for k in weights):
        weights = {k[len("module."):]: v for k, v in weights.items()}
        log.info("%s: weights saved from a DistributedDataParallel wrapper (module.*), exported without the prefix",
                 ckpt_path)
    try:
        net.load_state_dict(weights)
    except RuntimeError as e:
        first = str(e).strip().splitlines()
        raise ValueError(f"checkpoint {ckpt_path}: its weights do not fit its model_config "
                         f"({' '.join(first[1:2]).strip()[:300] or first[0][:300]})") from None
    if "ema" in ck:
        # last.pt/final.pt of an --ema run hold both; which one the file has was said nowhere
        log.info("%s: exporting its trained weights, not the weight average it also holds (--ema: the run "
                 "writes that as final_ema.pt when it ends; export that file for it)", ckpt_path)


def _export(module: torch.nn.Module, example: torch.Tensor, out: Path, outputs: list[str],
            dynamic_batch: bool, dynamic_size: bool = False) -> onnx.ModelProto:
    """torch -> ONNX. ``dynamic_size``: height and width of the input (axes 2, 3 of NCHW) and of
    every output (4-D maps, axes 2, 3) symbolic, for a fully convolutional net run at more than one
    input size."""
    module.eval()
    tmp = temporary_beside(out, "export")
    out.parent.mkdir(parents=True, exist_ok=True)  # the temporary file is written beside the output
    axes = None
    if dynamic_batch or dynamic_size:
        dims = ({0: "batch"} if dynamic_batch else {})
        axes = {"image": {**dims, **({2: "height", 3: "width"} if dynamic_size else {})},
                **{o: {**dims, **({2: f"{o}_h", 3: f"{o}_w"} if dynamic_size else {})} for o in outputs}}
    try:
        # dynamo=False: the TorchScript-based exporter, which made and verified the shipped files
        # (their graphs, opset and dynamic_axes); torch's default since 2.9 is the torch.export-based
        # one, and torch warns of the legacy one at every call (a DeprecationWarning printed by
        # each `python -m export.onnx_export`): exactly that warning is silenced, no other
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="You are using the legacy TorchScript-based ONNX export",
                                    category=DeprecationWarning)
            torch.onnx.export(module, example, str(tmp), input_names=["image"], output_names=outputs,
                              opset_version=OPSET, dynamic_axes=axes, dynamo=False, do_constant_folding=True)
        return onnx.load(str(tmp))
    finally:
        tmp.unlink(missing_ok=True)


def _model_config(ck: dict, ckpt_path: Path, kind: str):
    """The ``model_config`` of checkpoint ``ck`` as a ``kind`` ("landmarks" or "detector") model's
    config. Raises ValueError naming ``ckpt_path`` when it is the other model's checkpoint (or
    neither's)."""
    from train.model import DetectorModelConfig, LandmarkModelConfig
    classes = {"landmarks": LandmarkModelConfig, "detector": DetectorModelConfig}
    for k in sorted(classes, key=lambda k: k != kind):   # ``kind`` first
        try:
            cfg = classes[k](**ck["model_config"])
        except TypeError:
            continue
        except ValueError as e:   # this kind's keys, values no net can run (LandmarkModelConfig's check)
            if k == kind:
                raise ValueError(f"checkpoint {ckpt_path}: its model_config is unusable ({e})") from None
        if k != kind:
            raise ValueError(f"checkpoint {ckpt_path} is a {k} checkpoint, not a {kind} one "
                             f"(python -m export.onnx_export {k} ...)")
        return cfg
    raise ValueError(f"checkpoint {ckpt_path}: its model_config is neither a landmark nor a detector model's")


def checkpoint_parts(ck: dict, ckpt_path: Path, make_codec, kind: str) -> tuple:
    """``(codec, normalization)`` of checkpoint ``ck`` for a model file's metadata: ``make_codec(ck["codec"])``
    and ``{"mean_rgb", "std_rgb"}`` as lists of 3 finite numbers, std > 0. Raises ValueError naming
    ``ckpt_path``, before the export, for what the runtime would refuse in the written file (a
    KeyError traceback or a file that then did not load before)."""
    missing = [k for k in ("codec", "normalization") if k not in ck]
    if missing:   # the runtime needs both in the file's metadata
        raise ValueError(f"checkpoint {ckpt_path} lacks {missing}, which a {kind.rstrip('s')} model file carries "
                         f"(train.train_{kind} writes them)")
    try:
        codec = make_codec(ck["codec"])
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        why = f"no {e}" if isinstance(e, KeyError) else e
        raise ValueError(f"checkpoint {ckpt_path}: unusable codec {ck['codec']!r:.200} ({why})") from None
    norm = ck["normalization"]
    out = {}
    for key in ("mean_rgb", "std_rgb"):
        v = norm.get(key) if isinstance(norm, dict) else None
        try:
            arr = np.asarray(v, np.float64)
        except (TypeError, ValueError):
            arr = np.zeros(0)
        if arr.shape != (3,) or not np.isfinite(arr).all() or (key == "std_rgb" and not (arr > 0).all()):
            want = "3 finite numbers > 0" if key == "std_rgb" else "3 finite numbers"
            raise ValueError(f"checkpoint {ckpt_path}: normalization {key} must be {want} (R, G, B), got {v!r:.200}")
        out[key] = arr.tolist()
    return codec, out


def _ort_run(path_or_bytes, x: np.ndarray):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    s = ort.InferenceSession(path_or_bytes, so, providers=["CPUExecutionProvider"])
    return s.run(None, {"image": x})


def verify(model: onnx.ModelProto, module: torch.nn.Module, inputs: list[np.ndarray],
           decode=None, atol: float = 1e-4, px_tol: float = 0.1) -> dict:
    """Checker + onnxruntime vs torch allclose (+ decoded keypoints within ``px_tol``).

    Raises AssertionError with the largest difference when a check fails; with ``decode``, the
    message also gives the decoded keypoints' difference in px (what an output difference means
    to a user of the model).
    """
    onnx.checker.check_model(model)
    raw = model.SerializeToString()
    worst, worst_px = 0.0, 0.0
    for x in inputs:
        with torch.no_grad():
            ref = [t.numpy() for t in module(torch.from_numpy(x))]
        got = _ort_run(raw, x)
        d = max(float(np.abs(r - g).max()) for r, g in zip(ref, got))
        worst = max(worst, d)
        close = all(np.allclose(r, g, atol=atol, rtol=1e-3) for r, g in zip(ref, got))
        dpx, px = None, ""
        if decode is not None:
            kr, kg = np.asarray(decode(ref)), np.asarray(decode(got))
            # a detection found on one side only: arrays of different lengths (a broadcasting
            # error, or a comparison with the wrong values, before)
            dpx = float(np.abs(kr - kg).max()) if kr.shape == kg.shape else math.inf
            worst_px = max(worst_px, dpx)
            px = (f"; decoded keypoints differ by {dpx:.3f} px" if math.isfinite(dpx)
                  else f"; decoded detections differ in number ({kr.size} vs {kg.size} values)")
        if not close:
            raise AssertionError(f"onnxruntime differs from torch by {d:.2e} (atol {atol}){px}")
        if dpx is not None and dpx > px_tol:
            raise AssertionError(f"decoded keypoints differ by {dpx:.3f} px (> {px_tol})" if math.isfinite(dpx)
                                 else px.lstrip("; "))
    return {"max_abs_diff": worst, "max_keypoint_diff_px": worst_px}


def verify_real(model: onnx.ModelProto, module: torch.nn.Module, inputs: np.ndarray, decode, key: str,
                source: str, batch: int = 16) -> dict:
    """:func:`verify` on real inputs ``(N, 3, H, W)`` float32 normalised like the model input (hand
    crops, scenes; random inputs give nearly flat heatmaps, where decoding means least), in batches
    of ``batch``. Returns ``{key: N, key_max_abs_diff, key_max_keypoint_diff_px}`` (px of the model
    input); a failure names them (``key`` "real_crops": "on 16 real crops (``source``): ...")."""
    chunks = [inputs[i:i + batch].astype(np.float32) for i in range(0, len(inputs), batch)]
    try:
        f = verify(model, module, chunks, decode)
    except AssertionError as e:
        raise AssertionError(f"on {len(inputs)} {key.replace('_', ' ')} ({source}): {e}") from None
    return {key: len(inputs), f"{key}_max_abs_diff": f["max_abs_diff"],
            f"{key}_max_keypoint_diff_px": f["max_keypoint_diff_px"]}


def check_count_value(n) -> None:
    """ValueError naming ``--check-count`` unless ``n`` is an integer >= 1."""
    if not (isinstance(n, int) and not isinstance(n, bool) and n >= 1):
        raise ValueError(f"--check-count {n!r}: expected an integer >= 1")


def scenes_that_fit(width: int, height: int, bytes_per_pixel: float) -> int:
    """How many scenes of ``width`` x ``height`` pixels, costing ``bytes_per_pixel`` bytes a pixel
    (every copy a run holds of one), fit in ``train.data.memory_budget`` (half of this machine's
    memory); at least 1. The bound of a scene count whose scenes are all made up front: 10**30
    filled the memory until the run was killed."""
    from train.data import memory_budget
    return max(1, int(memory_budget() // (width * height * bytes_per_pixel)))


def check_scene_count(option: str, n: int, width: int, height: int, bytes_per_pixel: float) -> None:
    """ValueError naming ``option`` and ``n`` when ``n`` scenes of ``width`` x ``height`` made up
    front do not fit in half of this machine's memory (:func:`scenes_that_fit`)."""
    limit = scenes_that_fit(width, height, bytes_per_pixel)
    if n > limit:
        raise ValueError(f"{option} {n}: more {width}x{height} scenes than half of this machine's memory holds "
                         f"(they are all made before the work): at most {limit} here")


def check_version(version: str) -> None:
    """ValueError naming ``--version`` unless ``version`` can be stored as a model file's
    ``model_version``: a non-empty string (an empty one was replaced by the default name without a
    word) that encodes as UTF-8, as ONNX metadata must (a surrogate, from a command-line byte that
    is not UTF-8, failed only once the model was exported)."""
    if not isinstance(version, str) or not version:
        raise ValueError(f"--version {version!r}: give a name (without --version the file is named "
                         "<checkpoint>-step<N>)")
    try:
        version.encode("utf-8")
    except UnicodeEncodeError as e:
        raise ValueError(f"--version {version!r}: not UTF-8 text ({e.reason} at character {e.start})") from None


def _version(text: str) -> str:
    """``--version``: :func:`check_version` at parse time."""
    try:
        check_version(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return text


def data_path(name: str):
    """argparse type: a data path (``--check-data``, ``quantize --data``) that is not empty (an
    empty one read the current folder as the dataset); the error names ``name``."""
    def parse(text: str) -> str:
        if not text:
            raise argparse.ArgumentTypeError(f"{name} '': an empty path (it would read the current folder); give "
                                             "a dataset folder or a labels file")
        return text
    return parse


def check_data_inputs(data: str | Path, hands: int, make, option: str = "--check-data") -> np.ndarray:
    """``make(records, cache)``: the real model inputs made from up to ``hands`` labelled hands of
    ``data`` (a dataset folder: its ``val.json``/``val.csv``; a COCO JSON or CSV file: all of it,
    :func:`train.data.load_records`), picked as the training loops pick their val subset (seed 0),
    their photos decoded into ``cache`` (a :class:`train.data.ImageCache`).

    Raises FileNotFoundError / ValueError naming ``option`` and ``data``: a missing path, a file that
    does not load, no hands, a photo that does not decode or a hand no crop can be cut from. Called
    before the export does any work."""
    from train.data import ImageCache, load_records, val_subset_indices
    check_count_value(hands)
    try:
        recs = load_records(data, "val")
        if not recs:
            raise ValueError("no labelled hands in it")
        picked = [recs[i] for i in sorted(val_subset_indices(len(recs), hands, 0))]
        return make(picked, ImageCache(picked))
    except (FileNotFoundError, ValueError) as e:
        raise type(e)(f"{option} {data}: {e}") from None


def landmark_check_crops(records, cache, size: int, normalization: dict) -> np.ndarray:
    """(N, 3, size, size) float32 model inputs of ``records``' hands: the runtime's crop from each
    ground-truth hand (rotated to the hand axis, ``roi_scale`` margin, no jitter:
    ``train.augment.sample_crop(train=False)``), normalised as the runtime does with ``normalization``."""
    from tracker.landmarks import normalize_image
    from train.augment import AugmentConfig, sample_crop
    rng = np.random.default_rng(0)   # not drawn from with train=False
    crops = np.stack([sample_crop(cache[r.image], r, size, AugmentConfig(), rng, train=False)["crop"]
                      for r in records])
    return normalize_image(crops, normalization["mean_rgb"], normalization["std_rgb"])


def _sample_inputs(size_hw: tuple[int, int], batch: int):
    rng = np.random.default_rng(0)
    return [rng.normal(0, 1, (batch, 3, *size_hw)).astype(np.float32),
            rng.normal(0, 1, (1, 3, *size_hw)).astype(np.float32)]


def _merge_figures(figures: dict, real: dict, key: str) -> dict:
    """The random inputs' ``figures`` with the real inputs' (``real``, :func:`verify_real`) beside
    them; ``max_abs_diff`` and ``max_keypoint_diff_px`` stay the worst over all inputs."""
    return {"max_abs_diff": max(figures["max_abs_diff"], real[f"{key}_max_abs_diff"]),
            "max_keypoint_diff_px": max(figures["max_keypoint_diff_px"], real[f"{key}_max_keypoint_diff_px"]),
            **real}


def export_landmarks(ckpt_path: str | Path, out: str | Path, version: str | None = None,
                     check_crops: np.ndarray | None = None, check_data: str | Path | None = None,
                     check_count: int = 16) -> dict:
    """Export a landmark checkpoint to ONNX with metadata; verify; return the verification figures.

    ``check_crops`` ((N, 3, S, S) float32 normalised model inputs) and ``check_data`` (``--check-data``:
    a dataset folder, COCO JSON or CSV; the runtime's crops of ``check_count`` of its hands,
    :func:`check_data_inputs`) are verified beside the random inputs; the figures then also give
    ``real_crops`` (how many) and ``real_crops_max_keypoint_diff_px`` (their worst decoded keypoint
    difference, px of the model input). A bad ``check_data`` is refused before the export."""
    from train.augment import AugmentConfig
    from train.model import LandmarkExportWrapper, LandmarkNet

    if version is not None:
        check_version(version)
    ck, ckpt_path, out = open_export(ckpt_path, out, check_data)
    net = LandmarkNet(_model_config(ck, ckpt_path, "landmarks"))
    codec, normalization = checkpoint_parts(ck, ckpt_path, HeatmapCodec.from_dict, "landmarks")
    load_weights(net, ck, ckpt_path)
    wrapper = LandmarkExportWrapper(net).eval()
    s = net.cfg.input_size
    if tuple(codec.input_size) != (s, s):
        # the tracker refuses such a file (it decodes cells to codec pixels, not input pixels);
        # verification alone passed it, the decode being the same on both sides
        raise ValueError(f"checkpoint {ckpt_path}: its codec input_size {list(codec.input_size)} does not match "
                         f"its model_config input_size {s}")
    real, source = [], []
    if check_crops is not None:
        real.append(np.asarray(check_crops, np.float32))
        source.append("check_crops")
    if check_data is not None:
        real.append(check_data_inputs(check_data, check_count,
                                      lambda recs, cache: landmark_check_crops(recs, cache, s, normalization)))
        source.append(f"--check-data {check_data}")
    model = _export(wrapper, torch.zeros(1, 3, s, s), out, ["heatmaps", "presence", "handedness"], True)
    state = ck.get("state", {})
    hist = state.get("history", [])
    meta = {
        "kind": "landmarks",
        "model_version": version or f"{ckpt_path.stem}-step{state.get('step', 0)}",
        "input_size": s,
        "layout": "NCHW",
        "color": "RGB",
        **normalization,
        "codec": codec.to_dict(),
        "keypoint_names": KEYPOINT_NAMES,
        "roi_scale": AugmentConfig().roi_scale,
        "outputs": "heatmaps: softmax probs (B,17,h,w); presence: P(hand); handedness: P(right as seen)",
        "training_steps": state.get("step", 0),
        "training_minutes": round(state.get("minutes", 0.0), 1),
        "val_subset": hist[-1] if hist else {},
    }
    _metadata(model, meta)

    def decode(outs):
        return codec.decode(outs[0])[0]

    figures = verify(model, wrapper, _sample_inputs((s, s), 4), decode)
    if real:
        figures = _merge_figures(figures, verify_real(model, wrapper, np.concatenate(real), decode, "real_crops",
                                                      ", ".join(source)), "real_crops")
    save_replacing(model, out)
    log.info("wrote %s (%.0f KB): %s", out, out.stat().st_size / 1024, figures)
    return figures


def _threshold(text: str) -> float:
    """``--threshold``: a score in [0, 1] (45 for 0.45 made a detector that never fires)."""
    try:
        t = float(text)
    except ValueError:
        t = math.nan
    if not 0.0 <= t <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a score in [0, 1] (e.g. 0.45), got {text!r}")
    return t


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m export.onnx_export", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("kind", choices=["landmarks", "detector"])
    p.add_argument("checkpoint")
    p.add_argument("-o", "--output", required=True,
                   help="the model file to write (neither the checkpoint nor a --check-data label file)")
    p.add_argument("--version", type=_version, default=None,
                   help="model_version stored in the file: non-empty UTF-8 text (default <checkpoint>-step<N>)")
    p.add_argument("--threshold", type=_threshold, default=None,
                   help="detector only: score threshold stored in the metadata (see train.evaluate --calibrate)")
    p.add_argument("--check-data", type=data_path("--check-data"), default=None, metavar="PATH",
                   help="also verify on real inputs made from this labelled data (a dataset folder: its val "
                        "split; a COCO JSON or CSV file): landmarks the runtime's crops of its hands, detector "
                        "composed scenes of its photos")
    fit = scenes_that_fit(256, 192, CHECK_SCENE_BYTES_PER_PIXEL)
    p.add_argument("--check-count", type=positive_int("--check-count"), default=None,
                   help="with --check-data: hands (landmarks; more than it holds: all of them) or scenes "
                        "(detector) to verify on (default 16). Detector scenes are made up front: at most what "
                        f"half of this machine's memory holds ({fit} at the default 256x192 input here)")
    a = p.parse_args(argv)
    if a.kind == "landmarks" and a.threshold is not None:
        p.error("--threshold: a detector option (a landmark model stores no score threshold)")
    if a.check_count is not None and a.check_data is None:
        p.error("--check-count needs --check-data (it sets how many of its hands, or detector scenes, are checked)")
    count = 16 if a.check_count is None else a.check_count
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    made = new_folders(a.output)
    try:
        if a.kind == "landmarks":
            figs = export_landmarks(a.checkpoint, a.output, a.version, check_data=a.check_data, check_count=count)
        else:
            from export.detector_export import export_detector
            figs = export_detector(a.checkpoint, a.output, a.version, a.threshold, check_data=a.check_data,
                                   check_count=count)
    except (OSError, ValueError, AssertionError) as e:
        remove_new_folders(made)    # a failed verification too: no empty folder left where -o pointed
        raise SystemExit(f"error: {e}")
    print(json.dumps(figs))


if __name__ == "__main__":
    main()
