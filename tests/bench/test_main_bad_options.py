"""Bad option values of ``python -m bench`` and its sub-commands are one argparse error (exit 2)
naming the option and the value, before any model, video or photo is loaded (audit)."""
import pytest


@pytest.mark.parametrize("argv, option, value", [
    # the tracker refused these only once a part began: exit 0 with an empty report written over
    # the last one ("handtrack tracker could not be created")
    (["--threads", "0"], "--threads", "0"),
    (["--detector-interval", "0"], "--detector-interval", "0"),
    (["--min-detection-confidence", "2"], "--min-detection-confidence", "2"),
    (["--min-detection-confidence", "nan"], "--min-detection-confidence", "nan"),
    (["--landmark-model", "/nonexistent.onnx"], "--landmark-model", "/nonexistent.onnx"),
    (["--detector-model", "/nonexistent.onnx"], "--detector-model", "/nonexistent.onnx"),
    # ran the speed part with the tracker's 2 threads, its rows then left out of the table
    (["--speed-threads", "0"], "--speed-threads", "'0'"),
    (["--speed-threads", "1,x"], "--speed-threads", "'1,x'"),
    # a cv2.error traceback once the speed part came (after the other parts)
    (["--speed-sizes", "0x0"], "--speed-sizes", "'0x0'"),
    (["--speed-sizes=640x-480"], "--speed-sizes", "'640x-480'"),
    (["--speed-frames", "0"], "--speed-frames", "0"),
    # a numpy traceback after loading the photos' labels
    (["--accuracy-images", "-5"], "--accuracy-images", "-5"),
    (["--motion-clips", "0"], "--motion-clips", "0"),
    (["--motion-frames", "0"], "--motion-frames", "0"),
    (["--seed", "-1"], "--seed", "-1"),
    # an empty list ran every part (about 15 minutes)
    (["--only", ","], "--only", "','"),
])
def test_run_options(argv, option, value, capsys, tmp_path):
    from bench.__main__ import config_from_args
    (tmp_path / "data" / "hands21").mkdir(parents=True)
    with pytest.raises(SystemExit) as e:
        config_from_args(["--shared", str(tmp_path), "--only", "accuracy", *argv])
    err = capsys.readouterr().err
    assert e.value.code == 2 and f"argument {option}" in err and value in err, err


@pytest.mark.parametrize("argv, option, value", [
    (["models", "--reps", "0"], "--reps", "0"),
    (["models", "--threads", "0"], "--threads", "'0'"),
    (["models", "--size", "0x0"], "--size", "'0x0'"),
    (["models", "--landmark-model", "/nonexistent.onnx"], "--landmark-model", "/nonexistent.onnx"),
    (["soak", "--frames", "0"], "--frames", "0"),
    (["soak", "--sample-every", "0"], "--sample-every", "0"),
    (["soak", "--threads", "0"], "--threads", "0"),
    (["train-step", "--rounds", "0"], "--rounds", "0"),
    (["train-step", "--threads", "0"], "--threads", "0"),
    (["train-step", "--batch-size", "0"], "--batch-size", "0"),
    (["live", "--size", "0x0"], "--size", "'0x0'"),
    (["live", "--detector-model", "/nonexistent.onnx"], "--detector-model", "/nonexistent.onnx"),
    # --no-mediapipe: were the option accepted, the run must not build MediaPipe's venv
    (["robustness", "--no-mediapipe", "--seed", "-1"], "--seed", "-1"),
    (["robustness", "--no-mediapipe", "--landmark-model", "/nonexistent.onnx"], "--landmark-model",
     "/nonexistent.onnx"),
])
def test_sub_command_options(argv, option, value, capsys):
    from bench.__main__ import main
    with pytest.raises(SystemExit) as e:
        main(argv)
    err = capsys.readouterr().err
    assert e.value.code == 2 and f"argument {option}" in err and value in err, err


@pytest.mark.parametrize("argv, message", [
    # IndexError / FileNotFoundError tracebacks
    (["soak", "--shared", "/nowhere"], "no videos/*.mp4 under --shared /nowhere"),
    (["soak", "--video", "/nonexistent.mp4"], "--video: /nonexistent.mp4 does not exist"),
    (["soak", "--synthetic", "--shared", "/nowhere"], "no data/hands21 under --shared /nowhere"),
])
def test_soak_sources(argv, message, capsys, tmp_path):
    from bench.__main__ import main
    with pytest.raises(SystemExit) as e:
        main([*argv, "--out", str(tmp_path / "out")])
    assert e.value.code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_duplicates_run_once(tmp_path):
    """``--only accuracy,accuracy`` ran the accuracy part twice (and ``--speed-threads 1,1`` each
    configuration twice, its frames pooled into one row)."""
    from bench.__main__ import config_from_args
    (tmp_path / "data" / "hands21").mkdir(parents=True)
    _write_clip(tmp_path / "videos" / "clip.mp4")     # the speed part plays the shared clips
    cfg = config_from_args(["--shared", str(tmp_path), "--only", "accuracy,speed,accuracy",
                            "--speed-threads", "1,1", "--speed-sizes", "64x48,64X48"])
    assert cfg.parts == ("accuracy", "speed") and cfg.speed_threads == (1,) and cfg.speed_sizes == ((64, 48),)


def test_live_seconds_shorter_than_a_camera_frame(capsys):
    """``--seconds 0.01 --fps 30`` captured no frame: every row printed nan for its figures."""
    from bench.__main__ import main
    with pytest.raises(SystemExit) as e:
        main(["live", "--seconds", "0.01", "--fps", "60,30", "--size", "64x48", "--threads", "1"])
    err = capsys.readouterr().err
    assert e.value.code == 2 and "--seconds 0.01" in err and "--fps 30" in err, err


def test_robustness_no_create_venv(monkeypatch, tmp_path):
    """``robustness`` had no ``--no-create-venv``: a missing ``--mp-venv`` was always built (pip)."""
    import bench.__main__ as cli
    import bench.mediapipe_runner as mpr
    calls = []
    monkeypatch.setattr(mpr, "ensure_venv", lambda venv=None, create=True: calls.append((venv, create)))
    monkeypatch.setattr(cli, "_robustness_photos", lambda *a, **k: None)
    (tmp_path / "data" / "hands21").mkdir(parents=True)
    assert cli.main(["robustness", "--shared", str(tmp_path), "--mp-venv", str(tmp_path / "no-venv"),
                     "--no-create-venv"]) == 0
    assert calls == [(tmp_path / "no-venv", False)]


def _write_clip(video, frames: int = 3) -> None:
    """A grey 64x48 mp4 (the commands refuse a file with no decodable frame before any work)."""
    import cv2
    import numpy as np
    video.parent.mkdir(parents=True, exist_ok=True)
    w = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 30, (64, 48))
    for _ in range(frames):
        w.write(np.full((48, 64, 3), 127, np.uint8))
    w.release()


def test_soak_prints_no_nan(tmp_path, capsys):
    """A soak too short for a slope (under 4 RSS samples after warm-up) printed ``slope nan``."""
    from bench.__main__ import main
    video = tmp_path / "clip.mp4"
    _write_clip(video)
    assert main(["soak", "--video", str(video), "--frames", "2", "--size", "64x48", "--threads", "1",
                 "--out", str(tmp_path / "out")]) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert "slope n/a MiB" in line and "nan" not in line, line


def test_robustness_clips_named_twice(monkeypatch, tmp_path, capsys):
    """Clips are reported by file name: a clip given twice ran twice (its second run overwriting the
    first), and two files of the same name in different folders became one row."""
    import bench.__main__ as cli
    got = []
    monkeypatch.setattr(cli, "_robustness_clips", lambda a, clips, *r: got.append(clips))
    (tmp_path / "videos").mkdir()
    (tmp_path / "other").mkdir()
    for f in (tmp_path / "videos" / "a.mp4", tmp_path / "other" / "a.mp4"):
        _write_clip(f)
    base = ["robustness", "--no-mediapipe", "--no-photos", "--shared", str(tmp_path), "--videos"]
    assert cli.main([*base, "a.mp4,a.mp4"]) == 0
    assert got == [[tmp_path / "videos" / "a.mp4"]]
    with pytest.raises(SystemExit) as e:
        cli.main([*base, f"a.mp4,{tmp_path / 'other' / 'a.mp4'}"])
    assert e.value.code == 2 and "--videos: two clips named a.mp4" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["inf", "nan", "0"])
def test_live_seconds_must_be_a_finite_number_above_0(capsys, value):
    """``--seconds inf`` was taken and ended in an OverflowError traceback (int(inf * fps))."""
    from bench.__main__ import main
    with pytest.raises(SystemExit) as e:
        main(["live", "--seconds", value, "--size", "64x48", "--threads", "1"])
    err = capsys.readouterr().err
    assert e.value.code == 2 and f"--seconds must be a finite number > 0, got '{value}'" in err, err
