"""Training-step time on the CPU: one forward + backward + AdamW step, p50/p95 in ms.

    python -m bench train-step --nets landmarks,landmarks-cpu --allocators default,keep --rounds 3

Nets: ``landmarks`` (the shipped net: 160 px, width 1.25, expand 2.0), ``landmarks-cpu`` (the
90-minute CPU recipe: 128 px, fused), ``detector`` (the shipped one: 320x240, expand 1.5).
Allocators (each run is a fresh process, since malloc settings are process-wide and torch reads
its own once): ``default`` (glibc as it comes), ``keep`` (``train.common.keep_freed_memory``,
what the training loops do on the CPU), ``thp`` (torch's ``THP_MEM_ALLOC_ENABLE=1``: 2 MB-aligned
large blocks advised as transparent huge pages), ``keep+thp``. Rounds alternate the allocators so
that a machine whose speed drifts (a busy neighbour) shows it in both. The loss is a stand-in
(mean of the outputs); the real losses are a negligible part of a step. Needs torch (``[train]``).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
NETS = ("landmarks", "landmarks-cpu", "detector")
ALLOCATORS = ("default", "keep", "thp", "keep+thp")


def _child(net: str, allocator: str, threads: int, batch: int, steps: int) -> list[float]:
    """Step times in ms (this process: the allocator is set before any large allocation)."""
    import time

    import torch

    from train.common import keep_freed_memory, make_optimizer
    from train.model import DetectorModelConfig, DetectorNet, LandmarkModelConfig, LandmarkNet
    if "keep" in allocator and not keep_freed_memory():
        raise RuntimeError("keep_freed_memory: not glibc")
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    if net == "detector":
        model = DetectorNet(DetectorModelConfig(input_width=320, input_height=240, width=1.0, expand=1.5))
        shape = (batch, 3, 240, 320)
    elif net == "landmarks":
        model = LandmarkNet(LandmarkModelConfig(input_size=160, width=1.25, expand=2.0))
        shape = (batch, 3, 160, 160)
    else:
        model = LandmarkNet(LandmarkModelConfig(input_size=128, fused=True))
        shape = (batch, 3, 128, 128)
    model = model.to(memory_format=torch.channels_last)   # as the training loops keep it
    opt = make_optimizer(model, 1e-4, 1e-4)
    x = torch.randn(shape).contiguous(memory_format=torch.channels_last)
    times = []
    for _ in range(steps):
        t = time.perf_counter()
        loss = sum(o.float().mean() for o in model(x))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        times.append(1000.0 * (time.perf_counter() - t))
    return times


def run(nets=("landmarks",), allocators=("default", "keep"), rounds: int = 3, steps: int = 10,
        warmup: int = 2, threads: int = 2, batch: int = 32) -> list[dict]:
    """Rows {net, allocator, steps, p50, p95} (ms per step), the first ``warmup`` steps of each
    process left out."""
    bad = [n for n in nets if n not in NETS] + [a for a in allocators if a not in ALLOCATORS]
    if bad:
        raise ValueError(f"unknown net(s)/allocator(s) {bad}; nets: {', '.join(NETS)}; "
                         f"allocators: {', '.join(ALLOCATORS)}")
    if steps <= warmup:
        raise ValueError(f"--steps {steps}: must be more than the {warmup} warm-up steps")
    times = {(n, a): [] for n in nets for a in allocators}
    for r in range(rounds):
        order = list(allocators) if r % 2 == 0 else list(reversed(allocators))
        for n in nets:
            for a in order:
                env = dict(os.environ, OMP_NUM_THREADS=str(threads))
                env.pop("THP_MEM_ALLOC_ENABLE", None)
                if "thp" in a:
                    env["THP_MEM_ALLOC_ENABLE"] = "1"
                args = json.dumps([n, a, threads, batch, steps])
                out = subprocess.run([sys.executable, "-m", "bench.train_step", "--child", args], env=env,
                                     cwd=ROOT, capture_output=True, text=True, check=True)
                times[(n, a)] += json.loads(out.stdout.strip().splitlines()[-1])[warmup:]
    rows = []
    for (n, a), t in times.items():
        t = np.asarray(t)
        rows.append({"net": n, "allocator": a, "steps": int(t.size),
                     "p50": round(float(np.percentile(t, 50)), 1), "p95": round(float(np.percentile(t, 95)), 1)})
    return rows


if __name__ == "__main__":  # the child process of run()
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        print(json.dumps(_child(*json.loads(sys.argv[2]))))
    else:
        sys.exit("use: python -m bench train-step (this module's --child mode is for run())")
