"""Session 40 audit: rough edges met training on one's own 40-image CSV as docs/training.md does.

A small data set flooded train.log with "waiting for data" (one line per one-step pass); single-hand
rows (side unknown) gave numpy warnings, "side nan" in the log and NaN in the evaluation JSON
(invalid JSON for strict readers); a row naming a missing image failed only when the images were
decoded, naming neither the CSV nor the row; ``export.quantize`` did not say where it wrote the
INT8 file; every ONNX export printed torch's legacy-exporter DeprecationWarning."""
import json
import logging
import math
import os
import re
import warnings
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

import train.evaluate as ev
from train.common import DataWait
from train.data import UNKNOWN, HandRecord, LoadReport, load_coco, load_csv

from tests.conftest import ROOT
from tests.train.test_evaluate import OracleModel, patch_detector_cli


def _strict(text: str):
    """``text`` parsed as strict JSON (no NaN / Infinity, which JavaScript and many tools refuse)."""
    def refuse(name):
        raise ValueError(f"not strict JSON: {name}")
    return json.loads(text, parse_constant=refuse)


def _single_hand_csv(root: Path, n: int = 8, size: int = 96, missing: tuple[int, ...] = ()) -> Path:
    """``n`` photos with one hand each in the one-hand layout (17 x,y: side unknown), a header row
    first; the photos of the rows in ``missing`` (0-based data rows) are not written."""
    rng = np.random.default_rng(0)
    (root / "photos").mkdir(parents=True, exist_ok=True)
    rows = ["image," + ",".join(f"{c}{k}" for k in range(17) for c in "xy")]
    for i in range(n):
        if i not in missing:
            cv2.imwrite(str(root / "photos" / f"{i}.png"), rng.integers(0, 255, (size, size, 3), dtype=np.uint8))
        ang = np.linspace(0, 2 * np.pi, 17, endpoint=False) + 0.1 * i
        kp = np.stack([size / 2 + 25 * np.cos(ang), size / 2 + 25 * np.sin(ang)], 1)
        rows.append(",".join([f"photos/{i}.png"] + [f"{v:.1f}" for v in kp.ravel()]))
    csv = root / "my_hands.csv"
    csv.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return csv


# --- 1. "waiting for data" on small data sets -------------------------------------------------

def _wait_lines(caplog) -> list[int]:
    """The step counts of the "waiting for data" lines logged, in order."""
    return [int(re.search(r"over the last (\d+) steps", r.getMessage()).group(1))
            for r in caplog.records if "waiting for data" in r.getMessage()]


def test_one_step_passes_are_logged_every_every_steps_not_at_every_pass(caplog):
    """37 training hands and batch 32: a pass is one step, and each pass logged its own line (213 of
    a 1-minute run's ~220 lines). The steps are now counted across passes."""
    wait = DataWait(DataLoader(torch.arange(2.0), batch_size=2), every=4)
    with caplog.at_level(logging.INFO, logger="train"):
        for _ in range(13):
            assert [b.tolist() for b in wait] == [[0.0, 1.0]]      # the batches unchanged
    steps = _wait_lines(caplog)
    assert len(steps) <= 1 + 13 // 4, steps
    assert steps[0] == 1                              # the first pass still says it, early
    assert all(s == 4 for s in steps[1:]), steps      # then one line per 4 steps, whatever the passes
    assert 13 - 4 <= sum(steps) <= 13                 # every step counted once (up to 4 pending)


def test_long_passes_still_log_every_every_steps_within_the_pass(caplog):
    wait = DataWait(DataLoader(torch.arange(20.0), batch_size=2), every=4)   # 10 steps a pass
    with caplog.at_level(logging.INFO, logger="train"):
        for _ in range(2):
            assert len(list(wait)) == 10
    assert _wait_lines(caplog) == [4, 4, 2, 4, 4]     # the first pass's end, then 4 by 4 across passes


def test_docs_say_when_the_wait_is_logged():
    text = " ".join((ROOT / "docs" / "training.md").read_text(encoding="utf-8").split())
    assert "and at the end of each pass over the data" not in text      # what it said before
    assert "At the end of the first pass over the data" in text
    assert "then every 200 steps however many passes they span" in text


# --- 2. side unknown: no NaN -------------------------------------------------------------------

@pytest.fixture(scope="module")
def own_run(tmp_path_factory):
    """A short landmark run on single-hand CSV rows: 7 training hands in batches of 7 (one step a pass)."""
    import train.train_landmarks as tl
    root = tmp_path_factory.mktemp("own")
    csv = _single_hand_csv(root)
    out = root / "run"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tl.train(tl.TrainConfig(data=str(csv), out=str(out), input_size=48, batch_size=7, workers=0, threads=1,
                                eval_hands=2, max_steps=10, warmup_steps=1, ema=0.9))
    return SimpleNamespace(csv=csv, out=out, warnings=[str(w.message) for w in caught])


def test_training_on_unknown_sides_logs_side_na_without_numpy_warnings(own_run):
    log_text = (own_run.out / "train.log").read_text(encoding="utf-8")
    assert not [w for w in own_run.warnings if "empty slice" in w or "invalid value" in w], own_run.warnings
    assert "side nan" not in log_text
    vals = [line for line in log_text.splitlines() if "val step" in line]
    assert vals and all("side n/a" in line for line in vals), vals
    history = _strict((own_run.out / "history.json").read_text(encoding="utf-8"))
    assert history and all(h["side_acc"] is None and h["ema_side_acc"] is None for h in history)
    assert all(0.0 <= h["pck10"] <= 1.0 for h in history)


def test_training_on_a_small_set_logs_the_wait_a_few_times(own_run):
    lines = [line for line in (own_run.out / "train.log").read_text(encoding="utf-8").splitlines()
             if "waiting for data" in line]
    assert 1 <= len(lines) <= 2, lines          # 10 one-step passes: 10 lines before


def test_landmark_figures_with_nothing_counted_are_none():
    """Unknown sides: handedness_acc is None (it was NaN); a keypoint no hand shows: its
    per-keypoint PCK is None, not NaN."""
    recs, cache, truth = [], {}, {}
    rng = np.random.default_rng(1)
    for i in range(4):
        path = Path(f"img{i}.png")
        cache[path] = np.full((200, 200, 3), i, np.uint8)
        kp = (rng.uniform(60, 140, 2) + rng.normal(0, 25, (17, 2))).astype(np.float32)
        truth[i] = kp
        vis = np.ones(17, np.float32)
        vis[16] = 0                                   # the last point labelled on no hand
        recs.append(HandRecord(path, kp, vis, UNKNOWN, 1.0, i))
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        res = ev.evaluate_landmarks(OracleModel(truth), recs, cache)
    assert res["handedness_hands"] == 0 and res["handedness_acc"] is None
    assert res["handedness_acc_score>=0.9"] is None
    pk = list(res["per_keypoint_pck@0.1"].values())
    assert pk[-1] is None and pk[0] == pytest.approx(1.0)
    assert res["pck@0.1"] == pytest.approx(1.0)
    _strict(json.dumps(res, allow_nan=False))


def test_evaluate_cli_writes_null_not_nan_for_unknown_sides(tmp_path, capsys):
    csv = _single_hand_csv(tmp_path / "own", n=3)
    out = tmp_path / "eval.json"
    ev.main(["landmarks", "--data", str(csv), "--split", "all", "--threads", "1", "--out", str(out)])
    printed = _strict(capsys.readouterr().out)
    written = _strict(out.read_text(encoding="utf-8"))
    assert written == printed
    assert written["handedness_hands"] == 0 and written["handedness_acc"] is None
    assert "null" in written["units"]["pck, auc"] and "NaN" not in json.dumps(written["units"])


def test_detector_and_acquisition_figures_of_scenes_without_hands_are_none(monkeypatch):
    """AP over scenes that hold no labelled hand is undefined: None (it was NaN)."""
    scenes = [(np.zeros((48, 64, 3), np.uint8), np.zeros((0, 4), np.float32), np.zeros((0, 4), np.float32))]
    monkeypatch.setattr(ev, "_scenes", lambda *a, **k: scenes)

    class Nothing:
        width, height, default_threshold, meta = 64, 48, 0.5, {}

        def __call__(self, img, score_threshold=0.5, max_detections=10):
            return []

    det = ev.evaluate_detector(Nothing(), [], {}, n_scenes=1)
    assert det["hands_in_scenes"] == 0 and det["ap@0.5"] is None
    tracker = SimpleNamespace(options=SimpleNamespace(static_image_mode=True, min_detection_confidence=None,
                                                      min_tracking_confidence=0.5),
                              detector=Nothing(), process=lambda img: SimpleNamespace(hands=[]))
    acq = ev.evaluate_acquisition(tracker, [], {}, n_scenes=1)
    assert acq["ap@0.5_by_presence"] is None and acq["detector_alone"]["ap@0.5"] is None
    for res in (det, acq):
        _strict(json.dumps(res, allow_nan=False))


def test_evaluate_cli_writes_any_non_finite_figure_as_null(monkeypatch, tmp_path, capsys):
    """Whatever an evaluation returns, the JSON it writes is strict: NaN and infinities become null."""
    patch_detector_cli(monkeypatch)
    monkeypatch.setattr(ev, "evaluate_detector", lambda *a, **k: {
        "ap@0.5": math.nan, "recall": 0.5, "by": {"x": [1.0, math.inf, -math.inf]}})
    out = tmp_path / "d.json"
    ev.main(["detector", "--data", str(tmp_path), "--scenes", "2", "--out", str(out)])
    res = _strict(out.read_text(encoding="utf-8"))
    assert _strict(capsys.readouterr().out) == res
    assert res["ap@0.5"] is None and res["recall"] == 0.5 and res["by"] == {"x": [1.0, None, None]}


# --- 3. a CSV row naming a missing image ---------------------------------------------------------

def test_a_missing_image_is_one_error_naming_the_csv_row_and_both_paths(tmp_path):
    csv = _single_hand_csv(tmp_path / "own", n=4, missing=(2,))
    resolved = (tmp_path / "own" / "photos" / "2.png").absolute()
    with pytest.raises(FileNotFoundError) as e:
        load_csv(csv)
    msg = str(e.value)
    assert f"{csv}: row 4" in msg                      # the header is row 1: data row 2 is row 4
    assert "photos/2.png" in msg and str(resolved) in msg
    assert "relative to the CSV's folder" in msg


def test_a_missing_image_is_a_counted_skip_with_skip_bad(tmp_path):
    csv = _single_hand_csv(tmp_path / "own", n=4, missing=(1, 2))
    report = LoadReport()
    recs = load_csv(csv, skip_bad=True, report=report)
    assert sorted(r.image.name for r in recs) == ["0.png", "3.png"]
    assert report.skipped == 2 and report.loaded == 2
    assert all("image file not found" in r for r in report.reasons)


def test_a_missing_image_under_image_root_names_that_folder(tmp_path):
    csv = _single_hand_csv(tmp_path / "own", n=2)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    with pytest.raises(FileNotFoundError, match=re.escape(f"relative to {elsewhere}")):
        load_csv(csv, image_root=elsewhere)
    assert len(load_csv(csv, image_root=tmp_path / "own")) == 2


def test_the_training_cli_names_the_row_before_decoding(tmp_path):
    from train.train_landmarks import main
    csv = _single_hand_csv(tmp_path / "own", n=6, missing=(4,))
    with pytest.raises(SystemExit, match=re.escape(f"{csv}: row 6")):
        main(["--data", str(csv), "--out", str(tmp_path / "run"), "--device", "cpu", "--max-steps", "1"])


def test_csv_loading_checks_each_image_once(tmp_path, monkeypatch):
    """One ``isfile`` per image: a CSV of thousands of rows stays fast (an image on several rows,
    one hand per row, is looked up once). (``os.path.isfile`` since session 41: pathlib's raised
    for a name over 255 bytes.)"""
    csv = _single_hand_csv(tmp_path / "own", n=5)
    lines = csv.read_text(encoding="utf-8").splitlines()
    other_hand = [lines[1].split(",")[0]] + [str(float(v) + 3) for v in lines[1].split(",")[1:]]
    csv.write_text("\n".join(lines + [",".join(other_hand)]) + "\n", encoding="utf-8")
    calls = []
    real = os.path.isfile
    monkeypatch.setattr(os.path, "isfile", lambda path: calls.append(path) or real(path))
    recs = load_csv(csv)
    assert len(recs) == 6
    assert len(calls) == 1 + 5, calls                 # the CSV, then each of its 5 photos


def test_coco_loading_still_leaves_images_to_the_decoder_by_default(tmp_path):
    """load_coco's check_images stays opt-in (False): its callers keep their behaviour."""
    kp = [v for j in range(21) for v in (10.0 + j, 20.0 + 2 * j, 2)]
    coco = {"images": [{"id": 1, "file_name": "nowhere.png", "width": 96, "height": 96}],
            "annotations": [{"id": 1, "image_id": 1, "keypoints": kp}]}
    p = tmp_path / "train.json"
    p.write_text(json.dumps(coco))
    assert len(load_coco(p)) == 1
    with pytest.raises(FileNotFoundError, match="nowhere.png"):
        load_coco(p, check_images=True)


# --- 4. export.quantize says where the INT8 file went --------------------------------------------

def test_quantize_says_where_it_wrote_and_keeps_stdout_strict_json(tmp_path, monkeypatch, capsys, caplog):
    import export.quantize as quantize_mod
    from export.onnx_export import export_landmarks
    from tests.export.test_export import _tiny_landmark_checkpoint
    csv = _single_hand_csv(tmp_path / "own", n=10)
    torch.manual_seed(0)
    model = tmp_path / "mine.onnx"
    export_landmarks(_tiny_landmark_checkpoint(tmp_path / "mine.pt"), model)
    monkeypatch.setattr(quantize_mod, "network_latency_ms", lambda *a, **k: (1.0, 1.0))
    out = tmp_path / "mine_int8.onnx"
    capsys.readouterr()
    with caplog.at_level(logging.INFO, logger="quantize"):
        quantize_mod.main([str(model), "-o", str(out), "--data", str(csv), "--calib", "4", "--threads", "1"])
    rows = _strict(capsys.readouterr().out)           # stdout: the figures alone, strict JSON
    assert out.is_file() and set(rows) == {"float32", "int8"}
    assert rows["int8"]["handedness_acc"] is None     # single-hand rows: nothing to count
    said = [r.getMessage() for r in caplog.records if r.name == "quantize" and r.levelno >= logging.INFO]
    assert any(str(out) in m and "wrote" in m for m in said), said


# --- 5. the ONNX exporter's deprecation warning -----------------------------------------------

def test_export_prints_no_legacy_exporter_warning(tmp_path):
    from export.onnx_export import export_landmarks
    from tests.export.test_export import _tiny_landmark_checkpoint
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        export_landmarks(_tiny_landmark_checkpoint(tmp_path / "m.pt"), tmp_path / "m.onnx")
    assert not [w for w in caught if "legacy TorchScript-based ONNX export" in str(w.message)]


def test_export_silences_that_warning_only(tmp_path, monkeypatch):
    import export.onnx_export as ox
    real = torch.onnx.export

    def noisy(*a, **k):
        warnings.warn("You are using the legacy TorchScript-based ONNX export. Starting in PyTorch 2.9, ...",
                      DeprecationWarning)
        warnings.warn("some other deprecation", DeprecationWarning)
        warnings.warn("a user warning", UserWarning)
        return real(*a, **k)

    monkeypatch.setattr(torch.onnx, "export", noisy)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ox._export(torch.nn.Conv2d(3, 2, 3), torch.zeros(1, 3, 8, 8), tmp_path / "c.onnx", ["out"], False)
    texts = [str(w.message) for w in caught]
    assert "some other deprecation" in texts and "a user warning" in texts
    assert not [t for t in texts if "legacy TorchScript" in t]


# --- 6. the module docstring's command is the documented one ------------------------------------

def test_train_landmarks_docstring_gives_the_documented_command():
    import train.train_landmarks as tl
    docs = (ROOT / "docs" / "training.md").read_text(encoding="utf-8")
    documented = next(line for line in docs.splitlines()
                      if line.startswith("python -m train.train_landmarks --data ../shared/data/hands21"))
    assert documented.strip() in tl.__doc__
