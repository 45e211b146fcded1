"""What a user exporting their own checkpoint relies on: a failed export or quantisation leaves
no file the runtime would load and destroys no earlier file; bad paths are one error naming the
path; checkpoints of other origins (DDP) export; the metadata keeps its types."""
import errno
import os
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

import export.onnx_export as onnx_export
import export.quantize as quantize_mod
from export.onnx_export import export_landmarks, main
from tests.export.test_export import _tiny_detector_checkpoint, _tiny_landmark_checkpoint
from tests.export.test_journey_quantize_own_csv import _own_csv
from tracker.detector import HandDetector
from tracker.landmarks import LandmarkModel

_MAKE = {"landmarks": _tiny_landmark_checkpoint, "detector": _tiny_detector_checkpoint}


def _fail_save(monkeypatch, when=lambda model: True):
    """onnx.save that writes half a file, then fails (a full disk, a kill), for the models ``when``
    picks."""
    real = onnx.save

    def half(model, f, *a, **k):
        if not when(model):
            return real(model, f, *a, **k)
        Path(f).write_bytes(model.SerializeToString()[:100])
        raise OSError(errno.ENOSPC, "No space left on device", str(f))
    monkeypatch.setattr(onnx, "save", half)


@pytest.mark.parametrize("kind", ["landmarks", "detector"])
def test_a_failed_write_keeps_the_earlier_file(tmp_path, monkeypatch, kind):
    """The file is written beside the output and renamed over it once complete: a write that
    fails leaves the earlier export as it was, and no partial file."""
    ck = _MAKE[kind](tmp_path / "m.pt")
    out = tmp_path / "m.onnx"
    main([kind, str(ck), "-o", str(out)])
    good = out.read_bytes()
    _fail_save(monkeypatch)
    with pytest.raises(SystemExit, match=r"error: .*m.onnx"):
        main([kind, str(ck), "-o", str(out)])
    assert out.read_bytes() == good
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx", "m.pt"]


@pytest.mark.parametrize("kind", ["landmarks", "detector"])
def test_a_failed_verification_keeps_the_earlier_file(tmp_path, monkeypatch, kind):
    ck = _MAKE[kind](tmp_path / "m.pt")
    out = tmp_path / "m.onnx"
    main([kind, str(ck), "-o", str(out)])
    good = out.read_bytes()
    real = onnx_export._ort_run
    monkeypatch.setattr(onnx_export, "_ort_run", lambda m, x: [o + 0.01 for o in real(m, x)])
    with pytest.raises(SystemExit, match="error: onnxruntime differs from torch"):
        main([kind, str(ck), "-o", str(out)])
    assert out.read_bytes() == good
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx", "m.pt"]


def test_a_failed_torch_export_leaves_no_temporary_file(tmp_path, monkeypatch):
    ck = _tiny_landmark_checkpoint(tmp_path / "m.pt")

    def boom(module, example, f, *a, **k):
        Path(f).write_bytes(b"partial")
        raise RuntimeError("exporter failed")
    monkeypatch.setattr(torch.onnx, "export", boom)
    with pytest.raises(RuntimeError, match="exporter failed"):
        export_landmarks(ck, tmp_path / "m.onnx")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.pt"]


def _unwritable(folder: Path, monkeypatch):
    """``folder`` read-only; as root (who writes anyway) creating files in it fails as it would."""
    folder.chmod(0o555)
    if os.geteuid() == 0:
        real = os.open

        def refuse(path, flags, *a, **k):
            if Path(path).parent == folder and flags & os.O_CREAT:
                raise PermissionError(errno.EACCES, "Permission denied", str(path))
            return real(path, flags, *a, **k)
        monkeypatch.setattr(os, "open", refuse)


def _bad_output(tmp_path: Path, monkeypatch, case: str, name: str) -> tuple[Path, str]:
    """An output path that cannot be written (``case``: "a folder", "under a file", "unwritable")
    and the words its error must contain."""
    if case == "a folder":
        out = tmp_path / "dir"
        out.mkdir()
        return out, "is a folder"
    if case == "under a file":
        (tmp_path / "f").write_text("x")
        return tmp_path / "f" / name, "not a folder"
    (tmp_path / "ro").mkdir()
    _unwritable(tmp_path / "ro", monkeypatch)
    return tmp_path / "ro" / name, "cannot write"


@pytest.mark.parametrize("kind", ["landmarks", "detector"])
@pytest.mark.parametrize("case", ["a folder", "under a file", "unwritable"])
def test_an_output_that_cannot_be_written_is_one_error_naming_it(tmp_path, monkeypatch, capsys, kind, case):
    ck = _MAKE[kind](tmp_path / "m.pt")
    out, expect = _bad_output(tmp_path, monkeypatch, case, "m.onnx")
    try:
        with pytest.raises(SystemExit, match=rf"error: -o/--output {out}: .*{expect}"):
            main([kind, str(ck), "-o", str(out)])
    finally:
        (tmp_path / "ro").exists() and (tmp_path / "ro").chmod(0o755)
    assert "Traceback" not in capsys.readouterr().err
    assert not out.is_file()


@pytest.mark.parametrize("kind", ["landmarks", "detector"])
def test_a_ddp_checkpoint_exports(tmp_path, kind):
    """A state dict saved from the DistributedDataParallel wrapper (keys ``module.*``) exports the
    same file as the plain one (it was a load_state_dict traceback listing every key)."""
    plain = _MAKE[kind](tmp_path / "plain.pt")
    ck = torch.load(plain, weights_only=False)
    ck["model"] = {f"module.{k}": v for k, v in ck["model"].items()}
    torch.save(ck, tmp_path / "ddp.pt")
    main([kind, str(plain), "-o", str(tmp_path / "plain.onnx")])
    main([kind, str(tmp_path / "ddp.pt"), "-o", str(tmp_path / "ddp.onnx")])
    a, b = onnx.load(str(tmp_path / "plain.onnx")), onnx.load(str(tmp_path / "ddp.onnx"))
    assert [t.raw_data for t in a.graph.initializer] == [t.raw_data for t in b.graph.initializer]


def test_which_weights_of_an_ema_run_are_exported_is_logged(tmp_path, caplog):
    """last.pt/final.pt of an ``--ema`` run hold the trained weights and the average: the export
    takes the trained ones and says so (final_ema.pt is the average's own checkpoint)."""
    import logging
    ck = torch.load(_tiny_landmark_checkpoint(tmp_path / "m.pt"), weights_only=False)
    ck["ema"] = {"model": {k: v + 1 for k, v in ck["model"].items()}, "updates": 5, "decay": 0.99}
    torch.save(ck, tmp_path / "final.pt")
    with caplog.at_level(logging.INFO, logger="export"):
        export_landmarks(tmp_path / "final.pt", tmp_path / "m.onnx")
    assert any("final.pt: exporting its trained weights, not the weight average" in r.getMessage()
               and "final_ema.pt" in r.getMessage() for r in caplog.records)


def test_weights_that_do_not_fit_the_net_are_one_error_naming_the_checkpoint(tmp_path, capsys):
    ck = torch.load(_tiny_landmark_checkpoint(tmp_path / "m.pt"), weights_only=False)
    del ck["model"]["head.weight"]
    torch.save(ck, tmp_path / "bad.pt")
    with pytest.raises(SystemExit, match=r"error: checkpoint .*bad.pt: .*head.weight"):
        main(["landmarks", str(tmp_path / "bad.pt"), "-o", str(tmp_path / "m.onnx")])
    assert "Traceback" not in capsys.readouterr().err


@pytest.mark.parametrize("version", ["1.10", "2", "true", "null", "v1"])
def test_the_model_version_reads_back_as_the_string_given(tmp_path, version):
    """The runtime JSON-decodes metadata values: ``--version 1.10`` was read back as the float 1.1
    (``handtrack --version``, evaluation reports), and the INT8 file's version stays a string."""
    out = tmp_path / "m.onnx"
    export_landmarks(_tiny_landmark_checkpoint(tmp_path / "m.pt"), out, version=version)
    assert LandmarkModel(out, threads=1).meta["model_version"] == version
    q = tmp_path / "q.onnx"
    quantize_mod.quantize(out, q, [np.random.default_rng(0).normal(size=(1, 3, 64, 64)).astype(np.float32)
                                   for _ in range(4)])
    assert LandmarkModel(q, threads=1).meta["model_version"] == f"{version}-int8"


@pytest.mark.parametrize("threshold", ["45", "-0.1", "nan"])
def test_a_detector_threshold_outside_0_1_is_refused(tmp_path, capsys, threshold):
    """A threshold of 45 (meant 0.45) was stored as it was: a detector that never fires."""
    with pytest.raises(SystemExit):
        main(["detector", str(_tiny_detector_checkpoint(tmp_path / "m.pt")), "-o", str(tmp_path / "m.onnx"),
              "--threshold", threshold])
    assert "--threshold" in capsys.readouterr().err
    assert not (tmp_path / "m.onnx").exists()


# -- export.quantize ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def float_landmarks(tmp_path_factory):
    d = tmp_path_factory.mktemp("fl")
    torch.manual_seed(0)
    export_landmarks(_tiny_landmark_checkpoint(d / "m.pt"), d / "m.onnx")
    return d / "m.onnx", _own_csv(d / "own")


def _batches():
    return [np.random.default_rng(i).normal(size=(1, 3, 64, 64)).astype(np.float32) for i in range(4)]


def test_quantize_keeps_an_input_named_like_its_temporary_file(float_landmarks, tmp_path):
    """``m.pre.onnx -o m.onnx``: the temporary pre-processed file was ``m.pre.onnx``, written over
    the input and then deleted."""
    src = tmp_path / "m.pre.onnx"
    src.write_bytes(float_landmarks[0].read_bytes())
    quantize_mod.quantize(src, tmp_path / "m.onnx", _batches())
    assert src.read_bytes() == float_landmarks[0].read_bytes()
    LandmarkModel(tmp_path / "m.onnx", threads=1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx", "m.pre.onnx"]


@pytest.mark.parametrize("stage", ["calibration", "metadata"])
def test_a_failed_quantisation_keeps_the_earlier_file(float_landmarks, tmp_path, monkeypatch, stage):
    """Written beside the output and renamed once complete with its metadata: a failure leaves
    an earlier INT8 file as it was (it was overwritten by one without metadata, which the runtime
    refuses) and no temporary files."""
    out = tmp_path / "q.onnx"
    quantize_mod.quantize(float_landmarks[0], out, _batches())
    good = out.read_bytes()
    if stage == "calibration":
        import onnxruntime.quantization as q

        def boom(model_input, model_output, *a, **k):
            Path(model_output).write_bytes(b"partial")
            raise RuntimeError("calibration failed")
        monkeypatch.setattr(q, "quantize_static", boom)
        err = RuntimeError
    else:
        # the last write, the INT8 model with the float one's metadata
        _fail_save(monkeypatch, lambda m: any(p.key == "quantization" for p in m.metadata_props))
        err = ValueError
    with pytest.raises(err):
        quantize_mod.quantize(float_landmarks[0], out, _batches())
    assert out.read_bytes() == good
    assert sorted(p.name for p in tmp_path.iterdir()) == ["q.onnx"]


@pytest.mark.parametrize("case", ["a folder", "under a file", "unwritable"])
def test_quantize_output_that_cannot_be_written_is_one_error_before_any_work(float_landmarks, tmp_path, monkeypatch,
                                                                            capsys, case):
    model, csv = float_landmarks
    out, expect = _bad_output(tmp_path, monkeypatch, case, "q.onnx")
    monkeypatch.setattr(quantize_mod, "quantize", lambda *a: pytest.fail("quantised before checking -o"))
    try:
        with pytest.raises(SystemExit, match=rf"error: -o/--output {out}: .*{expect}"):
            quantize_mod.main([str(model), "-o", str(out), "--data", str(csv), "--calib", "4", "--eval", "4",
                               "--threads", "1"])
    finally:
        (tmp_path / "ro").exists() and (tmp_path / "ro").chmod(0o755)
    assert "Traceback" not in capsys.readouterr().err


def test_quantize_missing_calibration_data_is_one_error_naming_it(float_landmarks, tmp_path):
    with pytest.raises(SystemExit, match=r"error: .*nowhere\.csv"):
        quantize_mod.main([str(float_landmarks[0]), "-o", str(tmp_path / "q.onnx"),
                           "--data", str(tmp_path / "nowhere.csv")])
    assert not (tmp_path / "q.onnx").exists()


def test_quantized_landmarks_run_at_any_batch(float_landmarks, tmp_path):
    """Batch 1, 3 and 8 give each crop the same result (the tracker batches the hands it follows)."""
    out = tmp_path / "q.onnx"
    quantize_mod.quantize(float_landmarks[0], out, _batches())
    for path in (float_landmarks[0], out):
        m = LandmarkModel(path, threads=1)
        x = np.random.default_rng(1).normal(size=(8, 3, 64, 64)).astype(np.float32)
        full = m.inference(x)
        for b in (1, 3):
            for g, f in zip(m.inference(x[:b]), full):
                np.testing.assert_allclose(g, f[:b], atol=1e-5)


@pytest.mark.parametrize("size", [160, 192])
def test_landmark_net_at_another_input_size_exports_and_runs(tmp_path, size):
    from tests.export.test_export import _randomize_bn
    from tracker.codec import HeatmapCodec
    from tracker.geometry import Roi
    from train.common import MEAN_RGB, STD_RGB
    from train.model import LandmarkModelConfig, LandmarkNet
    torch.manual_seed(0)
    net = _randomize_bn(LandmarkNet(LandmarkModelConfig(input_size=size)))
    torch.save({"model": net.state_dict(), "model_config": net.cfg.to_dict(),
                "codec": HeatmapCodec((size, size), (size // 4, size // 4), 1.5).to_dict(),
                "normalization": {"mean_rgb": list(MEAN_RGB), "std_rgb": list(STD_RGB)}}, tmp_path / "m.pt")
    main(["landmarks", str(tmp_path / "m.pt"), "-o", str(tmp_path / "m.onnx")])
    m = LandmarkModel(tmp_path / "m.onnx", threads=1)
    assert m.input_size == size and isinstance(m.meta["input_size"], int) and isinstance(m.roi_scale, float)
    rois = [Roi(320, 240, 200, 0.3), Roi(100, 100, 80, 0.0), Roi(500, 400, 150, 1.0)]
    res = m(np.zeros((480, 640, 3), np.uint8), rois)
    assert len(res) == 3 and res[0].keypoints.shape == (17, 2)


def test_detector_at_another_input_size_exports_and_runs(tmp_path):
    from tracker.detector_codec import CenterCodec
    from train.common import MEAN_RGB, STD_RGB
    from train.model import DetectorModelConfig, DetectorNet
    cfg = DetectorModelConfig(192, 144)
    torch.save({"model": DetectorNet(cfg).state_dict(), "model_config": cfg.to_dict(),
                "codec": CenterCodec((192, 144), 4).to_dict(), "train_config": {},
                "normalization": {"mean_rgb": list(MEAN_RGB), "std_rgb": list(STD_RGB)}}, tmp_path / "d.pt")
    main(["detector", str(tmp_path / "d.pt"), "-o", str(tmp_path / "d.onnx"), "--threshold", "0.5"])
    d = HandDetector(tmp_path / "d.onnx", threads=1, small_hands=True)
    assert (d.width, d.height, d.default_threshold) == (192, 144, 0.5) and d.any_size
    assert len(d(np.zeros((480, 640, 3), np.uint8), score_threshold=0.0, max_detections=3)) <= 3


def test_a_threshold_given_for_a_landmark_export_is_refused(tmp_path, capsys):
    """--threshold is stored in a detector's metadata only; for a landmark model it was dropped
    without a word (a user calibrating the wrong file would not know)."""
    with pytest.raises(SystemExit):
        main(["landmarks", str(tmp_path / "m.pt"), "-o", str(tmp_path / "m.onnx"), "--threshold", "0.4"])
    assert "--threshold: a detector option" in capsys.readouterr().err
    assert not (tmp_path / "m.onnx").exists()
