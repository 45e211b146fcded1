"""Training-step time on the CPU: one forward + backward + AdamW step, p50/p95 in ms.

    python -m bench train-step --nets landmarks,landmarks-cpu --allocators default,keep --rounds 3

Nets, built from the ``model_config`` of the checkpoints in assets/checkpoints (so they follow
what is shipped): ``landmarks`` (the shipped net; v0.6: 160 px, width 1.25, expand 2.0),
``landmarks-cpu`` (the 90-minute CPU recipe: 128 px, fused), ``detector`` (v0.6: 320x240, expand 1.5).
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
CHECKPOINTS = ROOT / "assets" / "checkpoints"
NETS = {"landmarks": CHECKPOINTS / "landmarks_last.pt",
        "landmarks-cpu": CHECKPOINTS / "landmarks_cpu90_augment_light.pt",
        "detector": CHECKPOINTS / "detector_last.pt"}
ALLOCATORS = ("default", "keep", "thp", "keep+thp")


def _child(net: str, allocator: str, threads: int, batch: int, steps: int) -> list[float]:
    """Step times in ms (this process: the allocator is set before any large allocation)."""
    import time

    import torch

    from train.common import keep_freed_memory, make_optimizer
    from train.model import build_net
    if "keep" in allocator and not keep_freed_memory():
        raise RuntimeError("keep_freed_memory: not glibc")
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    mc = torch.load(NETS[net], map_location="cpu", weights_only=False)["model_config"]
    w, h = (mc["input_width"], mc["input_height"]) if "input_width" in mc else (mc["input_size"],) * 2
    shape = (batch, 3, h, w)
    model = build_net(mc).to(memory_format=torch.channels_last)   # as the training loops keep it
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
    process left out. RuntimeError with the child's last error line when a step process fails."""
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
                                     cwd=ROOT, capture_output=True, text=True)
                if out.returncode:
                    # the child's own last line (e.g. no torch installed), not a CalledProcessError
                    last = (out.stderr.strip().splitlines() or [f"exit status {out.returncode}"])[-1]
                    raise RuntimeError(f"the {n} / {a} training-step process failed: {last}")
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
