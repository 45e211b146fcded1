"""Audit of the detector's training command (train.train_detector): options and checkpoints that no
run can use are refused before the data load (minutes of photo decoding on hands21), naming the
option or file; the training-time validation reads what ``train.evaluate detector`` reads on the
same scenes."""
import json
import math
import re
from pathlib import Path

import pytest
import torch

import train.train_detector as td
from train.train_detector import DetTrainConfig, train
from train.train_landmarks import TrainConfig, train as train_landmarks

from .test_train_cli import tiny_coco

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return tiny_coco(tmp_path_factory.mktemp("det_audit") / "data", n=10)


@pytest.fixture(scope="module")
def run(data, tmp_path_factory):
    """A detector run of one step (64x48, --width 1, --expand 1): its last.pt and final.pt."""
    out = tmp_path_factory.mktemp("det_run") / "run"
    train(_cfg(data, out, max_steps=1))
    return out


def _cfg(data, out, **kw):
    opts = dict(data=str(data), out=str(out), input_width=64, input_height=48, batch_size=4, workers=0,
                threads=1, eval_scenes=4, epoch_scenes=8, minutes=5, warmup_steps=2)
    return DetTrainConfig(**{**opts, **kw})


def _no_data_load(monkeypatch):
    def refuse(*a, **k):
        raise AssertionError("the data were loaded before the options were refused")
    monkeypatch.setattr(td, "load_train_val", refuse)


def _no_photo_decoding(monkeypatch):
    def refuse(*a, **k):
        raise AssertionError("the photos were decoded before the options were refused")
    monkeypatch.setattr(td, "ImageCache", refuse)


def _copy_run(run, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "last.pt").write_bytes((run / "last.pt").read_bytes())
    return out


@pytest.mark.parametrize("changed, named", [
    (dict(expand=1.5), "--expand 1.0 (the options give 1.5)"),
    (dict(width=0.5), "--width 1.0 (the options give 0.5)"),
    (dict(width=0.5, expand=2.0), "--width 1.0 (the options give 0.5), --expand 1.0 (the options give 2.0)"),
])
def test_a_resume_whose_options_build_another_net_is_refused_before_the_data_load(run, tmp_path, monkeypatch,
                                                                                   changed, named):
    """It failed after the photos were decoded, as a model configuration that "does not fit the
    options (Error(s) in loading state_dict for DetectorNet:)", naming no option."""
    out = _copy_run(run, tmp_path)
    before = (out / "last.pt").read_bytes()
    _no_data_load(monkeypatch)
    with pytest.raises(ValueError, match=r"cannot resume .*last.pt: it was trained with " + re.escape(named)):
        train(_cfg(tmp_path / "no-data", out, max_steps=2, **changed))
    assert (out / "last.pt").read_bytes() == before


def test_a_landmark_checkpoint_in_out_is_refused_before_the_data_load(data, tmp_path, monkeypatch):
    out = tmp_path / "lm"
    train_landmarks(TrainConfig(data=str(data), out=str(out), input_size=64, batch_size=2, workers=0, threads=1,
                                eval_hands=2, minutes=5, max_steps=1, warmup_steps=1))
    before = (out / "last.pt").read_bytes()
    _no_data_load(monkeypatch)
    with pytest.raises(ValueError, match=r"cannot resume .*last.pt: it is a landmarks checkpoint, not a detector"):
        train(_cfg(data, out, max_steps=2))
    assert (out / "last.pt").read_bytes() == before


def test_a_resume_at_another_input_width_keeps_the_weights_and_says_so(data, run, tmp_path):
    """The net is fully convolutional: the weights go on at the size given now, logged (as the
    landmark trainer takes another --input-size)."""
    out = _copy_run(run, tmp_path)
    train(_cfg(data, out, max_steps=2, input_width=96))
    assert "--input-width 64 -> 96" in (out / "train.log").read_text(encoding="utf-8")
    ck = torch.load(out / "last.pt", weights_only=False)
    assert ck["state"]["step"] == 2 and ck["codec"]["input_size"] == [96, 48]
    assert ck["model_config"]["input_width"] == 96


@pytest.mark.parametrize("kind", ["landmarks", "missing", "other width"])
def test_an_init_no_run_can_use_is_refused_before_the_data_load(data, run, tmp_path, monkeypatch, kind):
    """--init was read only after the data load: a missing file or the other model's checkpoint
    (both side by side in assets/checkpoints) failed after minutes of decoding."""
    if kind == "landmarks":
        init, kw, message = str(REPO / "assets/checkpoints/landmarks_cpu90_fused.pt"), {}, "is a landmarks checkpoint"
    elif kind == "missing":
        init, kw, message = str(tmp_path / "nope.pt"), {}, "--init checkpoint not found"
    else:
        init, kw, message = str(run / "final.pt"), {"width": 0.5}, r"model configuration differs .*'width'"
    _no_data_load(monkeypatch)
    with pytest.raises((ValueError, FileNotFoundError), match=message):
        train(_cfg(data, tmp_path / "new", max_steps=1, init=init, **kw))
    assert not (tmp_path / "new" / "last.pt").exists()


def test_a_new_cycle_shorter_than_the_minutes_trained_is_refused_before_the_data_load(run, tmp_path, monkeypatch):
    out = _copy_run(run, tmp_path)
    _no_data_load(monkeypatch)
    with pytest.raises(ValueError, match=r"--minutes 1e-06 must exceed"):
        train(_cfg(tmp_path / "no-data", out, max_steps=3, new_cycle=True, minutes=1e-6))


@pytest.mark.parametrize("kw, flag", [
    (dict(threshold=1.5), "--threshold 1.5"), (dict(threshold=-0.1), "--threshold -0.1"),
    (dict(threshold=math.nan), "--threshold nan"),
    (dict(w_regress=-1.0), "--w-regress -1.0"), (dict(w_regress=math.nan), "--w-regress nan"),
    (dict(w_regress=math.inf), "--w-regress inf"), (dict(w_giou=math.inf), "--w-giou inf"),
    (dict(w_giou=math.nan), "--w-giou nan"),
])
def test_numeric_options_no_run_can_use_are_refused_before_the_data_load(data, tmp_path, monkeypatch, kw, flag):
    """--threshold 1.5 or NaN trained to the end with val recall 0 at every validation and wrote
    a final.pt whose exported model the tracker refuses (metadata threshold outside [0, 1]);
    --w-regress -1 trained the boxes away from their targets; NaN or inf loss weights stopped at
    the first step, after the data load."""
    _no_data_load(monkeypatch)
    with pytest.raises(ValueError, match=re.escape(flag) + ": expected"):
        train(_cfg(data, tmp_path / "run", max_steps=1, **kw))
    assert not (tmp_path / "run" / "last.pt").exists()


@pytest.mark.parametrize("content, message", [
    (None, "unlabelled-hands file not found"),
    ("{not json", "malformed unlabelled-hands file"),
    (json.dumps([1, 2]), "malformed unlabelled-hands file"),
    (json.dumps({"boxes": {"images/0.png": [[0, 0, 5]]}}), "malformed unlabelled-hands file"),
])
def test_a_bad_unlabelled_file_is_refused_before_the_photos_are_decoded(data, tmp_path, monkeypatch, content,
                                                                       message):
    f = tmp_path / "unl.json"
    if content is not None:
        f.write_text(content, encoding="utf-8")
    _no_data_load(monkeypatch)
    with pytest.raises((ValueError, FileNotFoundError), match=message + ".*" + re.escape(str(f))):
        train(_cfg(data, tmp_path / "run", max_steps=1, unlabelled=str(f)))


def test_an_unlabelled_file_of_another_data_set_is_refused_before_the_photos_are_decoded(data, tmp_path,
                                                                                        monkeypatch):
    """Mined on another --data (its photos' paths are relative to that data set's folder): none of
    its boxes reached a scene, and the run trained as without it, saying it ignored them."""
    f = tmp_path / "unl.json"
    f.write_text(json.dumps({"boxes": {"photos/a.jpg": [[0, 0, 20, 20, 0.9]], "photos/b.jpg": []}}))
    _no_photo_decoding(monkeypatch)
    with pytest.raises(ValueError, match=r"--unlabelled .*unl.json: none of its 2 photos is in --data"):
        train(_cfg(data, tmp_path / "run", max_steps=1, unlabelled=str(f)))


def test_an_unlabelled_file_with_some_photos_not_in_the_data_says_how_many(data, tmp_path):
    f = tmp_path / "unl.json"
    f.write_text(json.dumps({"boxes": {"images/0.png": [[0, 0, 20, 20, 0.9]], "images/gone.png": [[0, 0, 5, 5, 1]]}}))
    train(_cfg(data, tmp_path / "run", max_steps=1, unlabelled=str(f)))
    log = (tmp_path / "run" / "train.log").read_text(encoding="utf-8")
    assert "1 of its 2 photos are not in --data" in log and "images/gone.png" in log
    assert "ignoring 1 mined unlabelled hands in 1 photos" in log


def test_training_validation_reads_what_evaluate_reads_on_the_same_scenes(hands21, tmp_path):
    """The loop's figures (torch, CenterCodec.decode) against train.evaluate's (the exported ONNX
    file through HandDetector, its large-hand pass off: the loop has none) on the same composed
    scenes at the training threshold: equal. With the pass on (evaluate's default) they agreed on
    these scenes only by chance (session 44: not on seed 325's). What differs between the two
    commands is also which scenes (see ``td.evaluate_scenes``)."""
    from export.detector_export import export_detector
    from train.data import ImageCache, load_records
    from train.evaluate import _scene_stats
    from train.model import DetectorModelConfig, DetectorNet
    from train.scenes import SceneConfig
    from tracker.detector import HandDetector
    from tracker.detector_codec import CenterCodec
    from tracker.metrics import average_precision

    path = REPO / "assets/checkpoints/detector_last.pt"
    ck = torch.load(path, map_location="cpu", weights_only=False)
    net = DetectorNet(DetectorModelConfig(**ck["model_config"]))
    net.load_state_dict(ck["model"])
    export_detector(path, tmp_path / "d.onnx")
    recs = load_records(hands21, "val")[:60]
    cache = ImageCache(recs)
    w, h = ck["model_config"]["input_width"], ck["model_config"]["input_height"]
    scenes = td.make_val_scenes(td.group_by_image(cache.filter(recs)), cache, SceneConfig(w, h), 16)
    thr = ck["train_config"]["threshold"]
    loop = td.evaluate_scenes(net, scenes, CenterCodec.from_dict(ck["codec"]), torch.device("cpu"), thr)
    det = HandDetector(tmp_path / "d.onnx", threads=1)
    assert det.default_threshold == thr and det.large_hands
    det.large_hands = False
    per_image, recall, fpf = _scene_stats(det, scenes, thr)[:3]
    assert sum(n for _, _, n in per_image) > 10 and loop["recall"] > 0.5   # figures that can differ
    assert loop["ap50"] == pytest.approx(average_precision(per_image), abs=1e-6)
    assert loop["recall"] == pytest.approx(recall, abs=1e-9) and loop["fp_per_frame"] == pytest.approx(fpf, abs=1e-9)


def test_a_run_with_no_val_scenes_trains_and_writes_its_checkpoints(data, tmp_path):
    """--eval-scenes 0 is accepted (">= 0"), but the example picture of the first validation
    stacked no scenes: a numpy traceback before the first step."""
    m = train(_cfg(data, tmp_path / "run", max_steps=2, eval_scenes=0))
    assert m["step"] == 2 and m["fp_per_frame"] == 0.0
    assert torch.load(tmp_path / "run" / "final.pt", weights_only=False)["state"]["step"] == 2
    hist = json.loads((tmp_path / "run" / "history.json").read_text(encoding="utf-8"))
    assert [h["step"] for h in hist] == [0, 2]
    assert not (tmp_path / "run" / "val_examples.png").exists()
