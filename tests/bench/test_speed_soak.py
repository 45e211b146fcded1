"""Speed summaries and the memory soak on hand-made inputs (no timing is asserted)."""
from __future__ import annotations

import mmap

import numpy as np
import pytest

from bench import soak, speed
from bench.run import speed_table


def test_speed_summary_groups_by_frame_type_and_hands():
    recs = []
    for i in range(10):
        recs.append(speed.SpeedRecord("handtrack", (640, 480), 2, "v", float(i + 1), i % 3, i < 4,
                                      {"detector": 1.0 if i < 4 else 0.0, "landmarks": 2.0}))
    recs.append(speed.SpeedRecord("mediapipe", (640, 480), None, "v", 7.0, 1, None))
    rows = speed.summarize(recs)
    idx = {(r["method"], r["threads"], r["frames"], r["hands"]): r for r in rows}
    assert idx[("handtrack", 2, "all", "all")]["n"] == 10
    assert idx[("handtrack", 2, "all", "all")]["p50"] == pytest.approx(5.5)
    assert idx[("handtrack", 2, "detector", "all")]["p50"] == pytest.approx(2.5)  # 1, 2, 3, 4
    assert idx[("handtrack", 2, "tracking", "all")]["n"] == 6
    assert idx[("handtrack", 2, "all", 0)]["n"] == 4  # i = 0, 3, 6, 9
    assert idx[("handtrack", 2, "all", "all")]["detector_mean"] == pytest.approx(0.4)
    assert ("mediapipe", None, "detector", "all") not in idx
    table = speed_table(rows)
    assert table.count("\n") == 3  # header, rule, two rows
    assert "5.5" in table


def test_fit_keeps_aspect_and_size():
    f = np.zeros((852, 480, 3), np.uint8)
    f[:, 230:250] = 255  # a vertical stripe in the middle stays in the middle
    out = speed.fit(f, 640, 480)
    assert out.shape == (480, 640, 3)
    cols = np.flatnonzero(out[240, :, 0] > 128)
    assert abs(cols.mean() - 320) < 2 and 20 < len(cols) < 40


def test_soak_sees_a_leak_and_no_leak():
    frames = iter(lambda: 0, 1)  # endless
    hoard = []

    def leaky(frame, ts):
        # 4 MiB of fresh pages per frame, touched. Mapped directly rather than through malloc:
        # after earlier tests freed large arrays, glibc serves such blocks from memory the
        # process already holds, and the RSS stayed flat for the first ~40 frames.
        m = mmap.mmap(-1, 4 << 20)
        np.frombuffer(m, np.uint8)[::4096] = 1
        hoard.append(m)

    r = soak.soak(leaky, frames, 60, sample_every=5, warmup=5, log_every=0)   # 240 MiB leaked
    assert r.growth_mib > 150
    assert r.slope_mib_per_10k > 0.5 * 4 * 10_000
    for m in hoard:
        m.close()
    hoard.clear()
    r2 = soak.soak(lambda f, t: np.ones(256 * 1024, np.float32).sum(), frames, 60, sample_every=5,
                   warmup=5, log_every=0)
    assert abs(r2.growth_mib) < 10
    assert soak.rss_mib() > 1
