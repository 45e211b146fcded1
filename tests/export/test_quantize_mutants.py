"""Session 46 mutation audit of export.quantize: each test kills a hand-made mutant that the earlier
tests let through. Tiny exported nets (tests.export.test_export) and a CSV of 20 generated photos
(tests.export.test_journey_quantize_own_csv); the slow parts of the command (quantisation,
evaluation, timing) are replaced by recorders where a test checks only what is handed to them.
No ../shared.

Mutants killed here:

- Q2: heatmap_stage_nodes: the nodes after the last Resize, whether or not they lead to the output
- Q4: quantize: min/max calibration first for a landmark model (percentile only as the fallback)
- Q5: quantize: any ValueError of the percentile calibration falls back to min/max (not only 'bins')
- Q7: quantize: the 'quantization' metadata names the other calibration method
- Q9: network_latency_ms: a width x height input (swapped)
- Q10: main: the detector's scene photo pool --calib photos, not 4 x --calib
- Q11: main: --calib val hands evaluated, not --eval
- Q12: main: the 'holds N hands; using all' warning also when --calib equals what the data holds
- Q14: _round: a figure of 0.0 reported as null (not value for value is None)
- Q15: _detector_rows: --photos 0 passed on as 0 photos, not None (all photos)
- Q18: _detector_rows: the small-hand pass on where it should be off and the other way round

Killed here without ../shared (the old tests kill them only with it):

- Q1: heatmap_stage_nodes from the first Resize, not the last
- Q8: 'last decoder stage in float32' in the metadata of a detector, not of a landmark model
- Q16: _detector_rows: the network timed at 1x and 0.5x its input, not 1x and 2x

Left alive:

- Q3: Softmax nodes not kept float (keep = []): equivalent for both shipped nets, the detector has
  no Softmax and the landmark net's one Softmax is in its last decoder stage, kept float anyway

Killed by the old tests (not listed above): Q6 model_version key misnamed, Q13 the empty val split
not checked, Q17 one calibration crop fewer."""
from __future__ import annotations

import shutil
from types import SimpleNamespace

import numpy as np
import onnx
import pytest

import export.quantize as quantize_mod
import train.evaluate
from tests.export.test_export_failures import _batches, float_landmarks  # noqa: F401 - float_landmarks: a fixture
from tests.export.test_quantize import float_detector  # noqa: F401 - a fixture
from train.data import load_train_val

def _meta(path) -> dict:
    return {p.key: p.value for p in onnx.load(str(path)).metadata_props}


def _spy_quantize_static(monkeypatch, fail_percentile: str | None = None) -> list:
    """Record the calibration method and the nodes kept float of each quantize_static call; with
    ``fail_percentile``, a percentile calibration raises ValueError with that message; without, it
    runs on min/max (the tiny net's few values are too narrow for the percentile's histogram, which
    would fall back on its own)."""
    import onnxruntime.quantization as q
    real, calls = q.quantize_static, []

    def spy(model_input, model_output, reader, **kw):
        calls.append((kw["calibrate_method"], list(kw["nodes_to_exclude"])))
        if fail_percentile and kw["calibrate_method"] == q.CalibrationMethod.Percentile:
            raise ValueError(fail_percentile)
        return real(model_input, model_output, reader, **dict(kw, calibrate_method=q.CalibrationMethod.MinMax))
    monkeypatch.setattr(q, "quantize_static", spy)
    return calls


def test_landmarks_calibrate_on_the_percentile_with_the_last_stage_float(float_landmarks, tmp_path, monkeypatch):
    from onnxruntime.quantization import CalibrationMethod
    calls = _spy_quantize_static(monkeypatch)
    out = tmp_path / "q.onnx"
    quantize_mod.quantize(float_landmarks[0], out, _batches())
    graph = onnx.load(str(float_landmarks[0])).graph
    ops = {n.name: n.op_type for n in graph.node}
    # the stage's convolutions and softmax (the shape nodes beside them are folded before quantising)
    stage = {n for n in quantize_mod.heatmap_stage_nodes(graph) if ops[n] in ("Conv", "Softmax")}
    assert [c[0] for c in calls] == [CalibrationMethod.Percentile]
    assert set(calls[0][1]) >= stage and "Conv" in {ops[n] for n in stage}
    assert _meta(out)["quantization"] == ("int8 static QDQ, per-channel weights, percentile calibration, "
                                          "last decoder stage in float32")


def test_the_detector_calibrates_on_min_max_with_no_stage_float(float_detector, tmp_path, monkeypatch):
    from onnxruntime.quantization import CalibrationMethod
    calls = _spy_quantize_static(monkeypatch)
    out = tmp_path / "q.onnx"
    quantize_mod.quantize(float_detector, out, [np.zeros((1, 3, 96, 128), np.float32) + k for k in range(3)])
    assert [c[0] for c in calls] == [CalibrationMethod.MinMax]
    assert _meta(out)["quantization"] == "int8 static QDQ, per-channel weights, MinMax calibration"


@pytest.mark.parametrize("message, falls_back", [("too few values for 2048 bins", True),
                                                 ("some other calibration error", False)])
def test_only_a_histogram_bins_error_falls_back_to_min_max(message, falls_back, float_landmarks, tmp_path,
                                                           monkeypatch):
    """Percentile calibration falls back to min/max only for numpy's histogram refusal; any other
    ValueError is the error it is."""
    from onnxruntime.quantization import CalibrationMethod
    calls = _spy_quantize_static(monkeypatch, fail_percentile=message)
    out = tmp_path / "q.onnx"
    if not falls_back:
        with pytest.raises(ValueError, match=message):
            quantize_mod.quantize(float_landmarks[0], out, _batches())
        assert [c[0] for c in calls] == [CalibrationMethod.Percentile] and not out.exists()
        return
    quantize_mod.quantize(float_landmarks[0], out, _batches())
    assert [c[0] for c in calls] == [CalibrationMethod.Percentile, CalibrationMethod.MinMax]
    assert _meta(out)["quantization"].startswith("int8 static QDQ, per-channel weights, MinMax calibration")


def test_network_latency_runs_a_height_by_width_input():
    shapes = []
    stage = SimpleNamespace(inference=lambda x: shapes.append(x.shape))
    p50, p95 = quantize_mod.network_latency_ms(stage, 24, 40, n=3, warmup=1)
    assert set(shapes) == {(1, 3, 24, 40)} and len(shapes) == 4 and 0 <= p50 <= p95


@pytest.mark.parametrize("value, want", [(None, None), (0.0, 0.0), (0, 0), (0.123456, 0.1235), (1.0, 1.0)])
def test_round_keeps_zero_a_figure_and_none_null(value, want):
    got = quantize_mod._round(value)
    assert got == want and (got is None) == (want is None)


# -- main: what reaches the calibration and the evaluation -----------------------------------------

def _stub_landmark_work(monkeypatch) -> dict:
    """main's landmark branch with the quantisation a copy, the calibration the records, the
    evaluation and timing recorders: returns what each got."""
    got = {}

    def quantize(src, out, batches):
        got["calib"] = len(list(batches))
        shutil.copyfile(src, out)

    def evaluate(model, val, cache):
        got["eval"] = len(val)
        return {"pck@0.05": 0.5, "pck@0.1": 0.6, "pck@0.2": 0.7, "handedness_acc": None}
    monkeypatch.setattr(quantize_mod, "quantize", quantize)
    monkeypatch.setattr(quantize_mod, "calibration_batches", lambda model, recs, cache, n: list(recs[:n]))
    monkeypatch.setattr(quantize_mod, "network_latency_ms", lambda *a, **k: (1.0, 2.0))
    monkeypatch.setattr(train.evaluate, "evaluate_landmarks", evaluate)
    return got


def test_landmarks_calibrate_on_calib_crops_and_evaluate_eval_hands(float_landmarks, tmp_path, monkeypatch, caplog):
    model, csv = float_landmarks
    train_recs, val = load_train_val(csv, val_fraction=0.1)
    assert len(train_recs) > 6 and len(val) >= 2
    got = _stub_landmark_work(monkeypatch)
    args = [str(model), "-o", str(tmp_path / "q.onnx"), "--data", str(csv), "--threads", "1"]
    with caplog.at_level("WARNING", logger="quantize"):
        quantize_mod.main(args + ["--calib", "5", "--eval", "1"])
        assert got == {"calib": 5, "eval": 1}
        # exactly what the data holds: all of it, no warning
        quantize_mod.main(args + ["--calib", str(len(train_recs)), "--eval", str(len(val))])
        assert got == {"calib": len(train_recs), "eval": len(val)}
        assert not [r for r in caplog.records if r.levelname == "WARNING"]
        quantize_mod.main(args + ["--calib", str(len(train_recs) + 1), "--eval", str(len(val))])
    assert got == {"calib": len(train_recs), "eval": len(val)}
    assert [r.getMessage().split(":")[0] for r in caplog.records if r.levelname == "WARNING"] == \
        [f"--calib {len(train_recs) + 1}"]


def test_detector_scenes_draw_on_four_photos_per_calibration_scene(float_detector, float_landmarks, tmp_path,
                                                                 monkeypatch, capsys):
    csv = float_landmarks[1]
    n_train = len(load_train_val(csv, val_fraction=0.1)[0])
    pools = []
    monkeypatch.setattr(quantize_mod, "_detector_rows", lambda a, pool, val: pools.append(len(pool)) or {})
    for calib in (2, n_train):
        quantize_mod.main([str(float_detector), "-o", str(tmp_path / "q.onnx"), "--data", str(csv), "--calib",
                           str(calib), "--eval", "1", "--threads", "1"])
    assert pools == [8, n_train]


def test_detector_rows_evaluate_both_models_plain_and_with_the_small_hand_pass(float_detector, tmp_path,
                                                                               monkeypatch):
    """Per model: the plain detector on all photos (``--photos 0``: None) and the small-hand pass
    on none, each on ``--eval`` scenes of SCENE_SIZE; the network timed at 1x and 2x its input
    (the tiny detector's 128x96)."""
    evaluated, timed = [], []

    def evaluate(d, val, cache, n, scene_size, photos):
        evaluated.append((d.model_path.name, d.small_hands, n, scene_size, photos))
        return {"ap@0.5": 0.5, "recall": 0.25, "fp_per_frame": 0.0, "photo_recall": 0.75, "photos": 7}
    monkeypatch.setattr(quantize_mod, "quantize", lambda src, out, batches: shutil.copyfile(src, out))
    monkeypatch.setattr(quantize_mod, "detector_calibration_batches", lambda *a: [])
    monkeypatch.setattr(quantize_mod, "network_latency_ms",
                        lambda stage, h, w, n, warmup: timed.append((w, h)) or (1.0, 2.0))
    monkeypatch.setattr(train.evaluate, "evaluate_detector", evaluate)
    out = tmp_path / "q.onnx"
    for photos, want in ((0, None), (5, 5)):
        evaluated.clear()
        a = SimpleNamespace(model=str(float_detector), output=str(out), threads=1, calib=1, eval=3, photos=photos)
        rows = quantize_mod._detector_rows(a, [], [])
        names = (float_detector.name, out.name)
        assert evaluated == [(name, small, 3, quantize_mod.SCENE_SIZE, 0 if small else want)
                             for name in names for small in (False, True)]
    assert timed == [(128, 96), (256, 192)] * 4
    for row in rows.values():
        assert row["network_128x96_ms"] == row["network_256x192_ms"] == [1.0, 2.0]
        assert row["plain"] == row["small_hands"] == {"ap@0.5": 0.5, "recall": 0.25, "fp_per_frame": 0.0}
        assert (row["photo_recall"], row["photos"], row["scenes"]) == (0.75, 7, 3)


def test_heatmap_stage_is_between_the_last_resize_and_the_heatmaps_only():
    """A made-up graph: two Resizes; after the last one a branch to the heatmaps (Conv, Softmax)
    and one to another output (Relu): only the heatmap branch after the last Resize is the stage."""
    from onnx import TensorProto, helper
    node = helper.make_node
    nodes = [node("Resize", ["x", "", "scales"], ["r1"], name="resize1"),
             node("Relu", ["r1"], ["a"], name="before_last"),
             node("Resize", ["a", "", "scales"], ["r2"], name="resize2"),
             node("Conv", ["r2", "w"], ["c"], name="head"),
             node("Softmax", ["c"], ["heatmaps"], name="softmax"),
             node("Relu", ["r2"], ["other"], name="other_branch")]
    out = [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in ("heatmaps", "other")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, None)], out)
    assert quantize_mod.heatmap_stage_nodes(graph) == ["head", "softmax"]
    assert quantize_mod.heatmap_stage_nodes(graph, output="other") == ["other_branch"]
