"""Audit (session 36) of the training loops' device handling for a GPU machine and torchrun, run on
a CPU-only machine: the CUDA calls are stood in for, so what is checked is which ones are made."""
import pytest
import torch

from train import common


@pytest.fixture
def one_gpu(monkeypatch):
    """A machine where torch sees one CUDA device; the CUDA and process-group calls are recorded."""
    calls = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "set_device", lambda i: calls.append(("set_device", i)))
    monkeypatch.setattr(torch.distributed, "init_process_group", lambda backend: calls.append(("init", backend)))
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", torch.backends.cudnn.benchmark)  # restored after
    return calls


def test_more_torchrun_processes_than_gpus_is_one_error_naming_the_fix(one_gpu, monkeypatch):
    """``torchrun --nproc_per_node 2`` on a one-GPU machine: the second process's LOCAL_RANK 1 has
    no GPU. It was handed to torch.cuda.set_device, a "CUDA error: invalid device ordinal"
    traceback in that process; now a ValueError (one error line from the trainers' CLI) naming
    LOCAL_RANK, the devices torch sees and the way out, before the process group is joined."""
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("LOCAL_RANK", "1")
    with pytest.raises(ValueError, match=r"LOCAL_RANK 1: torch sees 1 CUDA device.*--nproc_per_node 1.*--device cpu"):
        common.init_distributed("auto")
    assert one_gpu == []


def test_each_torchrun_process_takes_its_own_gpu(one_gpu, monkeypatch):
    """The process with a GPU of its own keeps it: cuda:LOCAL_RANK, NCCL."""
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("LOCAL_RANK", "0")
    assert common.init_distributed("cuda") == (0, 2, torch.device("cuda", 0))
    assert one_gpu == [("set_device", 0), ("init", "nccl")]


def test_device_cpu_under_torchrun_on_a_gpu_machine_uses_gloo(one_gpu, monkeypatch):
    """--device cpu: no GPU is touched whatever LOCAL_RANK says (more processes than GPUs is fine)."""
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("LOCAL_RANK", "3")
    assert common.init_distributed("cpu") == (3, 4, torch.device("cpu"))
    assert one_gpu == [("init", "gloo")]
