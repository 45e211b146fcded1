"""Training-loop behaviour a user on their own data and machine meets: option values checked
before loading data, boolean options that refuse typos, a batch larger than the training set,
a failed write, and a time-budgeted torchrun (DDP) run whose processes end together."""
import argparse
import errno
import os
import shutil
import signal
import subprocess
import sys

import pytest
import torch

from train import common
from train.train_detector import DetTrainConfig
from train.train_detector import train as train_detector
from train.train_landmarks import TrainConfig, main, train

from .test_train_cli import tiny_coco


@pytest.fixture
def deadline():
    """Fail a test that would otherwise hang (the loop spinning without a step) after 60 s."""
    if not hasattr(signal, "SIGALRM"):
        yield
        return

    def _raise(*_):
        raise TimeoutError("still running after 60 s: the loop hangs")
    old = signal.signal(signal.SIGALRM, _raise)
    signal.alarm(60)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


@pytest.mark.parametrize("text, value", [("true", True), ("on", True), ("Yes", True), ("1", True),
                                         ("false", False), ("off", False), ("NO", False), ("0", False)])
def test_bool_options_take_the_usual_words(text, value):
    p = argparse.ArgumentParser()
    common.add_dataclass_args(p, TrainConfig)
    assert p.parse_args(["--fused", text]).fused is value


@pytest.mark.parametrize("text", ["flase", "ture", "maybe", ""])
def test_a_mistyped_bool_option_is_refused_not_read_as_false(text, capsys):
    """``--resume flase`` read as False would start over and overwrite the run's last.pt."""
    with pytest.raises(SystemExit):
        main(["--resume", text, "--data", "/nowhere"])
    assert f"argument --resume: expected true or false, got '{text}'" in capsys.readouterr().err


@pytest.mark.parametrize("kw, message", [
    ({"batch_size": 0}, "--batch-size 0: expected >= 1"),
    ({"lr": -1.0}, "--lr -1.0: expected a finite number >= 0"),
    ({"minutes": 0.0}, "--minutes 0.0: expected > 0"),
    ({"max_steps": -3}, "--max-steps -3: expected >= 0"),
    ({"workers": -1}, "--workers -1: expected >= 0"),
    ({"threads": 0}, "--threads 0: expected >= 1"),
    ({"limit": -2}, "--limit -2: expected >= 0"),
    ({"weight_decay": -1.0}, "--weight-decay -1.0: expected a finite number >= 0"),
    ({"eval_hands": 0}, "--eval-hands 0: expected >= 1"),
    ({"input_size": 72}, "--input-size 72: expected a multiple of 16"),
    ({"heatmap_stride": 8}, "--heatmap-stride 8: expected 4"),
    ({"progressive_size": 40}, "--progressive-size 40: expected a multiple of 16 below --input-size 128"),
    ({"device": "gpu"}, "--device 'gpu': expected one of auto, cpu, cuda"),
    ({"expand": float("inf")}, "--expand inf: expected a finite number > 0"),
    ({"width": float("nan")}, "--width nan: expected a finite number > 0"),
    ({"lr": float("inf")}, "--lr inf: expected a finite number >= 0"),
    ({"weight_decay": float("inf")}, "--weight-decay inf: expected a finite number >= 0"),
])
def test_bad_landmark_loop_values_name_the_flag_before_loading_data(tmp_path, kw, message):
    # the data path does not exist: the option must be checked first
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        train(TrainConfig(data=str(tmp_path / "nowhere"), out=str(tmp_path / "run"), **kw))


@pytest.mark.parametrize("kw, message", [
    ({"input_width": 72}, "--input-width 72: expected a multiple of 16"),
    ({"input_height": 40}, "--input-height 40: expected a multiple of 16"),
    ({"batch_size": 8, "epoch_scenes": 4}, "--epoch-scenes 4: expected at least --batch-size 8"),
    ({"lr": -0.1}, "--lr -0.1: expected a finite number >= 0"),
])
def test_bad_detector_loop_values_name_the_flag_before_loading_data(tmp_path, kw, message):
    with pytest.raises(ValueError, match=message):
        train_detector(DetTrainConfig(data=str(tmp_path / "nowhere"), out=str(tmp_path / "run"), **kw))


def test_a_batch_larger_than_the_training_hands_is_one_clear_error(tmp_path, deadline):
    """drop_last with fewer hands than a batch gave an empty loader: the loop spun for ever."""
    data = tiny_coco(tmp_path / "data", n=6)
    with pytest.raises(ValueError, match="--batch-size 8: more than the 6 training hands"):
        train(TrainConfig(data=str(data), out=str(tmp_path / "run"), input_size=64, batch_size=8, workers=0,
                          threads=1, eval_hands=2, minutes=0.2, max_steps=2))


def test_a_failed_checkpoint_write_is_one_clear_error_and_leaves_no_partial_file(tmp_path, monkeypatch):
    """A full disk (or an --out that cannot be written) ends the run with one error line."""
    data = tiny_coco(tmp_path / "data", n=6)

    def full_disk(obj, f):
        open(f, "wb").write(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device", str(f))
    monkeypatch.setattr(common.torch, "save", full_disk)
    with pytest.raises(SystemExit, match="error: .*No space left on device"):
        main(["--data", str(data), "--out", str(tmp_path / "run"), "--input-size", "64", "--batch-size", "2",
              "--workers", "0", "--threads", "1", "--eval-hands", "2", "--max-steps", "1"])
    assert not list((tmp_path / "run").glob("*.tmp"))


def test_an_out_path_that_is_a_file_is_one_clear_error(tmp_path):
    (tmp_path / "run").write_text("")
    with pytest.raises(SystemExit, match="error: .*run"):
        main(["--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "run")])


@pytest.mark.skipif(not torch.distributed.is_available() or not torch.distributed.is_gloo_available(),
                    reason="needs torch.distributed with gloo")
def test_a_time_budgeted_ddp_run_ends_on_every_process_at_the_same_step(tmp_path):
    """Each process read its own clock, so at the end of --minutes one left the loop (and the
    process group) while the other began another step: the run crashed without final.pt."""
    if shutil.which("torchrun") is None and not os.path.exists(os.path.join(os.path.dirname(sys.executable),
                                                                            "torchrun")):
        pytest.skip("needs torchrun")
    data = tiny_coco(tmp_path / "data", n=8)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                        "-m", "train.train_landmarks", "--data", str(data), "--out", str(tmp_path / "run"),
                        "--input-size", "48", "--batch-size", "2", "--workers", "0", "--threads", "1",
                        "--eval-hands", "2", "--minutes", "0.05", "--warmup-steps", "1"],
                       capture_output=True, text=True, timeout=240, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    ck = torch.load(tmp_path / "run" / "final.pt", weights_only=False)
    assert ck["state"]["step"] > 0 and not any(k.startswith("module.") for k in ck["model"])


@pytest.mark.parametrize("how", ["ctrl-c", "sigterm"])
def test_a_stopped_run_keeps_its_last_step(tmp_path, monkeypatch, how):
    """Ctrl-C or SIGTERM (a cluster's pre-emption) mid-run: last.pt holds the steps done so far,
    not those of the last timed checkpoint (up to --checkpoint-every-min 3 minutes earlier)."""
    import train.train_landmarks as tl
    data = tiny_coco(tmp_path / "data", n=6)
    calls, loss = [], tl.landmark_loss

    def stop_at_third_step(*a, **kw):
        calls.append(1)
        if len(calls) == 3:
            if how == "sigterm":
                os.kill(os.getpid(), signal.SIGTERM)  # the loop's handler must turn it into the stop
            else:
                raise KeyboardInterrupt
        return loss(*a, **kw)

    def unhandled(*_):
        raise RuntimeError("SIGTERM reached the handler the run started with")
    monkeypatch.setattr(tl, "landmark_loss", stop_at_third_step)
    old_term = signal.signal(signal.SIGTERM, unhandled)  # not the default: that would end pytest
    try:
        with pytest.raises(SystemExit, match=r"interrupted at step 2 .*last.pt"):
            main(["--data", str(data), "--out", str(tmp_path / "run"), "--input-size", "48", "--batch-size", "2",
                  "--workers", "0", "--threads", "1", "--eval-hands", "2", "--max-steps", "50"])
        assert signal.getsignal(signal.SIGTERM) is unhandled  # the run's handler is gone again
    except KeyboardInterrupt:
        pytest.fail("Ctrl-C escaped the training loop")
    finally:
        signal.signal(signal.SIGTERM, old_term)
    ck = torch.load(tmp_path / "run" / "last.pt", weights_only=False)
    assert ck["state"]["step"] == 2


def test_evaluate_out_that_cannot_be_written_still_prints_the_figures(tmp_path, capsys, monkeypatch):
    """--out that cannot be written when the figures are done (a full disk; here a folder made in
    its place during the run) failed with a traceback, before the figures were printed: the run was
    lost. A folder named at the start is refused before any work (session 42)."""
    import train.evaluate as ev
    data = tiny_coco(tmp_path / "data", n=4)
    out = tmp_path / "res"
    argv = ["landmarks", "--data", str(data), "--threads", "1", "--out", str(out)]
    real = ev.evaluate_landmarks

    def evaluate_then_block_out(*a, **k):
        res = real(*a, **k)
        out.mkdir()
        return res

    monkeypatch.setattr(ev, "evaluate_landmarks", evaluate_then_block_out)
    with pytest.raises(SystemExit, match="error: cannot write --out .*res"):
        ev.main(argv)
    assert '"pck@0.1"' in capsys.readouterr().out
    with pytest.raises(SystemExit) as e:
        ev.main(argv)
    assert e.value.code == 2 and f"--out {out}: is a folder" in capsys.readouterr().err


def test_device_cuda_without_a_gpu_is_one_error_and_cpu_keeps_off_a_gpu(tmp_path, monkeypatch):
    """``--device`` (auto by default): cuda on a machine where torch sees no GPU is one error
    naming the option before any data load; cpu trains on the CPU even where a GPU is seen."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="--device cuda: torch .* sees no CUDA device"):
        train(TrainConfig(data=str(tmp_path / "nowhere"), out=str(tmp_path / "run"), device="cuda"))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)   # a GPU is seen ...
    assert common.init_distributed("cpu")[2] == torch.device("cpu")   # ... and left alone


@pytest.mark.parametrize("trainer", ["landmarks", "detector"])
def test_sigterm_during_the_final_validation_keeps_the_last_step(tmp_path, monkeypatch, trainer):
    """A stop during the validation after the last step (the loop has ended, final.pt is not
    written yet) saves last.pt at that step, as a stop inside the loop does; the default SIGTERM
    action ended the process there and lost the steps since the last timed checkpoint."""
    if trainer == "landmarks":
        import train.train_landmarks as mod
        name, args = "evaluate_crops", ["--input-size", "48", "--eval-hands", "2"]
    else:
        import train.train_detector as mod
        name, args = "evaluate_scenes", ["--input-width", "64", "--input-height", "48", "--eval-scenes", "2",
                                         "--epoch-scenes", "4"]
    data = tiny_coco(tmp_path / "data", n=6)
    calls, evaluate = [], getattr(mod, name)

    def stop_in_the_final_validation(*a, **kw):
        calls.append(1)
        if len(calls) == 2:            # the first validates the untrained net, the second is the final one
            os.kill(os.getpid(), signal.SIGTERM)
        return evaluate(*a, **kw)

    def unhandled(*_):
        raise RuntimeError("SIGTERM reached the handler the run started with")
    monkeypatch.setattr(mod, name, stop_in_the_final_validation)
    old_term = signal.signal(signal.SIGTERM, unhandled)  # not the default: that would end pytest
    try:
        with pytest.raises(SystemExit, match=r"interrupted at step 3 .*last.pt"):
            mod.main(["--data", str(data), "--out", str(tmp_path / "run"), "--batch-size", "2", "--workers", "0",
                      "--threads", "1", "--max-steps", "3", "--checkpoint-every-min", "60",
                      "--eval-every-min", "60", *args])
    finally:
        signal.signal(signal.SIGTERM, old_term)
    ck = torch.load(tmp_path / "run" / "last.pt", weights_only=False)
    assert ck["state"]["step"] == 3
    assert not (tmp_path / "run" / "final.pt").exists()


@pytest.mark.parametrize("steps, history, validations", [
    (8, [{"step": 4}], 1),                  # trained since the last validation: validated at the end
    (8, [{"step": 8}], 0),                  # a validation fell due on the last step: not again
    (4, [{"step": 4}], 0),                  # the command of a finished run again (resumed at 4)
    (4, [], 1),                             # nothing validated yet
])
def test_finish_run_validates_a_step_once(tmp_path, steps, history, validations):
    """With ``--eval-every-min 0`` (and whenever a validation fell due on the last step) the final
    validation ran again on the same weights: history.json held that step twice ([..., 8, 8])."""
    from train.common import finish_run
    state = {"step": steps, "history": list(history)}
    calls = []

    def validate():
        calls.append(state["step"])
        state["history"].append({"step": state["step"]})
        return state["history"][-1]

    m = finish_run(state, validate, lambda name="last.pt": None, None, 0, tmp_path, dict)
    assert len(calls) == validations
    assert m == state["history"][-1] and [h["step"] for h in state["history"]].count(steps) == 1
