"""Session 44 mutation audit of the benchmark report (``bench/run.py``: ``write_report``,
``headline``, ``ratio_lines``, ``issue_checks``, ``videos_section``, the soak section, ``jsonable`` /
``write_json`` / ``read_figures``, the MediaPipe-unavailable note).

Each test kills a hand-made mutant that the existing tests let through (runs/s44/audit_live.md).
The contracts checked:

- TABLE.md is the headline table; its speed columns are 640x480 frames with 1 hand reported, all
  frame types, handtrack at 2 threads, MediaPipe at its own (README "Benchmarks",
  docs/benchmarks.md); PCK@0.1, AUC@0.2, found, side acc to 3 decimals, jitter to 4, lag to 2,
  swaps/min to 1, ms to 1; a method that did not run (MediaPipe not installed) has no row.
- The ratio lines are handtrack / MediaPipe (``ratio_lines``' docstring), ``n/a`` where the divisor
  is 0 (``fmt_figure``: NaN is "no data"), and the lag line reads "handtrack vs MediaPipe".
- Issue 5's targets: jitter smoothed <= 1/3 of raw, lag <= 1 frame (both inclusive), zero side
  swaps only where a hand was found; rows for the tracker and for the ground-truth-detections run.
- results.json is strict JSON: NaN/inf as null, numpy bools and tuples converted; read back, null
  is NaN (``n/a``), not "-" (not measured).
- REPORT.md: ratios handtrack / MediaPipe and smoothed / raw; the speed part's load average is the
  one at the end; the soak line's share of frames with hands in percent and the RSS of the first
  and last samples; a soak.json missing a figure is skipped, not a failed report; the videos table's
  changes per minute to 2 decimals and "-" for a method a clip lacks; the motion table's jitter to
  4 decimals; the notes (MediaPipe unavailable); the accuracy section with no method run.

Every expected figure is worked out by hand from the made-up results below; no benchmark runs.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from bench import run as bench_run
from bench.run import Bench, BenchConfig, headline, issue_checks, jsonable, ratio_lines, read_figures, write_report

MACHINE = {"platform": "Linux-test", "python": "3.11.0", "cpus": 2, "load_average_start": 0.4,
           "opencv": "5.0.0", "onnxruntime": "1.0.0"}


def _acc(pck10=0.9, found=0.95, **kw) -> dict:
    base = {"pck@0.05": 0.8, "pck@0.1": pck10, "pck@0.2": 0.97, "auc@0.2": 0.85, "nme_palm": 0.06,
            "found_rate": found, "handedness_acc": 0.96, "handedness_acc_conf": 0.99,
            "false_pos_per_image": 0.04, "ms_p50": 20.0, "images": 10}
    base.update(kw)
    return base


def _motion(jitter=0.004, lag=0.1, found=0.99, **kw) -> dict:
    base = {"jitter": jitter, "lag": lag, "side_swaps": 0, "id_swaps": 0, "swaps_per_min": 0.0,
            "reacq_mean_frames": 1.0, "reacq_missed": 0, "found_rate": found, "side_accuracy": 1.0,
            "nme_moving": 0.06, "pck10_moving": 0.95, "false_pos_per_frame": 0.0, "found_frames": 100}
    base.update(kw)
    return base


def _row(method, size, threads, frames, hands, p50, p95, n=3) -> dict:
    return {"method": method, "size": size, "threads": threads, "frames": frames, "hands": hands,
            "n": n, "p50": p50, "p95": p95}


#: speed rows: the headline's cell is handtrack 640x480 / 2 threads / all frame types / 1 hand
#: (12.0 / 13.8) and MediaPipe 640x480 / its threads (None) / 1 hand (42.0 / 43.8); every other row
#: has figures of its own, so a wrong pick shows
SPEED_ROWS = [
    _row("handtrack", "640x480", 2, "all", "all", 14.0, 57.0, n=5),
    _row("handtrack", "640x480", 2, "all", 1, 12.0, 13.8),
    _row("handtrack", "640x480", 2, "all", 0, 55.0, 59.5, n=2),
    _row("handtrack", "640x480", 2, "tracking", 1, 11.0, 11.9),
    _row("handtrack", "640x480", 1, "all", "all", 31.0, 33.0),
    _row("handtrack", "640x480", 1, "all", 1, 30.0, 30.0),
    _row("handtrack", "320x240", 2, "all", "all", 6.0, 7.0),
    _row("handtrack", "320x240", 2, "all", 1, 5.0, 5.0),
    _row("mediapipe", "640x480", None, "all", "all", 44.0, 86.0, n=4),
    _row("mediapipe", "640x480", None, "all", 1, 42.0, 43.8),
]


def _report(tmp_path: Path, notes=(), **parts) -> tuple[str, str, dict]:
    """REPORT.md, TABLE.md and results.json (parsed) of ``write_report`` on hand-made results."""
    b = Bench(BenchConfig(shared=tmp_path, out=tmp_path, plots=False))
    b.results.update({"machine": dict(MACHINE), "seconds": {"total": 12.0}, **parts})
    for n in notes:
        b.note(n)
    write_report(b, tmp_path)
    return ((tmp_path / "REPORT.md").read_text(encoding="utf-8"), (tmp_path / "TABLE.md").read_text(encoding="utf-8"),
            json.loads((tmp_path / "results.json").read_text(encoding="utf-8")))


def _table_rows(text: str, after: str = "") -> dict[str, list[str]]:
    """Rows of the first markdown table of ``text`` from the line starting with ``after`` on, by
    their first cell."""
    lines = text.splitlines()
    if after:
        lines = lines[next(i for i, x in enumerate(lines) if x.startswith(after)):]
    out = {}
    for line in lines:
        if out and not line.startswith("|"):
            break
        if line.startswith("| ") and not line.startswith("| method"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            out[cells[0]] = cells[1:]
    return out


# -- TABLE.md: the headline ------------------------------------------------------------------------
def test_headline_speed_is_640x480_one_hand_frames_at_two_threads(tmp_path):
    """README: "Speed: 640x480 video frames with 1 hand reported, end to end, handtrack with 2
    threads (MediaPipe: its default threads), detector and tracking frames together"; TABLE.md is
    that table (the README's copy)."""
    _, table, _ = _report(tmp_path, speed={"rows": SPEED_ROWS, "load_average": 1.0, "videos": ["v.mp4"],
                                           "stages": []})
    rows = _table_rows(table)
    assert rows["handtrack"][-2:] == ["12.0", "13.8"]
    assert rows["mediapipe"][-2:] == ["42.0", "43.8"]


def test_headline_figures_and_their_decimals():
    """PCK@0.1, AUC@0.2, found, side acc: 3 decimals; jitter 4; lag 2; swaps/min 1 (the README table)."""
    r = {"accuracy": {"handtrack": _acc(pck10=0.89712, **{"pck@0.2": 0.5, "auc@0.2": 0.79345,
                                                         "handedness_acc": 0.96612})},
         "motion": {"methods": {"smoothed": _motion(jitter=0.003812, lag=0.1149, swaps_per_min=2.26)}}}
    rows = _table_rows(headline(r))
    assert rows["handtrack"] == ["0.897", "0.793", "0.950", "0.966", "0.0038", "0.11", "2.3", "-", "-"]


def test_headline_has_no_row_for_a_method_that_did_not_run():
    """MediaPipe not installed: no figure of it anywhere, so no "mediapipe" row of dashes."""
    r = {"accuracy": {"handtrack": _acc()}, "motion": {"methods": {"smoothed": _motion(), "raw": _motion()}},
         "speed": {"rows": [x for x in SPEED_ROWS if x["method"] == "handtrack"]}}
    assert set(_table_rows(headline(r))) == {"handtrack"}


# -- ratio lines ---------------------------------------------------------------------------------
def test_ratio_lines_are_handtrack_over_mediapipe():
    r = {"accuracy": {"handtrack": _acc(pck10=0.9, found=0.96), "mediapipe": _acc(pck10=0.6, found=0.8)},
         "motion": {"methods": {"smoothed": _motion(jitter=0.003, lag=0.12, found=0.99),
                                "mediapipe": _motion(jitter=0.012, lag=0.04, found=0.9)}}}
    lines = ratio_lines(r)
    acc = next(x for x in lines if x.startswith("accuracy"))
    assert "PCK@0.1 1.50" in acc and "found 1.20" in acc               # 0.9 / 0.6, 0.96 / 0.8
    mo = next(x for x in lines if x.startswith("motion"))
    assert "jitter 0.25" in mo and "found 1.10" in mo                   # 0.003 / 0.012, 0.99 / 0.9
    assert "lag 0.12 vs 0.04 frames" in mo                              # handtrack's first


def test_ratio_lines_where_mediapipe_found_nothing_or_never_moved():
    """MediaPipe found no hand (found 0) and so has no jitter (0): the report is still written;
    a jitter ratio over 0 is no figure (n/a), not 0."""
    r = {"accuracy": {"handtrack": _acc(), "mediapipe": _acc(pck10=0.0, found=0.0)},
         "motion": {"methods": {"smoothed": _motion(), "mediapipe": _motion(jitter=0.0, found=0.0)}}}
    lines = ratio_lines(r)
    acc = next(x for x in lines if x.startswith("accuracy"))
    assert "PCK@0.1 n/a" in acc and "found n/a" in acc      # session 45: a / 1e-9 printed a huge number
    mo = next(x for x in lines if x.startswith("motion"))
    assert "jitter n/a" in mo and "found n/a" in mo


# -- Issue 5's targets -------------------------------------------------------------------------------
def _checks(sm: dict, raw: dict, oracle: bool = False) -> dict:
    m = {"smoothed": sm, "raw": raw}
    if oracle:
        m.update({"oracle smoothed": sm, "oracle raw": raw})
    return {(c["who"], c["target"]): c for c in issue_checks({"motion": {"methods": m}})}


def test_issue_targets_are_inclusive():
    """"<= 1/3" and "<= 1 frame": a jitter of exactly a third of raw and a lag of exactly 1 frame
    meet them."""
    c = _checks(_motion(jitter=1.0, lag=1.0), _motion(jitter=3.0))
    assert c[("handtrack", "still-hand jitter smoothed <= 1/3 of raw")]["ok"] is True
    assert c[("handtrack", "lag <= 1 frame")]["ok"] is True
    c = _checks(_motion(jitter=1.0001, lag=1.0001), _motion(jitter=3.0))
    assert c[("handtrack", "still-hand jitter smoothed <= 1/3 of raw")]["ok"] is False
    assert c[("handtrack", "lag <= 1 frame")]["ok"] is False


def test_zero_side_swaps_is_not_met_when_no_hand_was_found():
    c = _checks(_motion(found_frames=0, found=0.0), _motion(found_frames=0))[("handtrack", "zero side swaps")]
    assert c["ok"] is False and c["text"] == "no hand found"


def test_issue_targets_also_for_the_ground_truth_detections_run():
    c = _checks(_motion(), _motion(jitter=0.02), oracle=True)
    whos = {who for who, _ in c}
    assert whos == {"handtrack", "handtrack, GT detections"}
    assert len(c) == 6


def test_issue_target_with_zero_raw_jitter_is_not_measured():
    """Raw jitter 0 (no still frame measured): the ratio is no figure; the check reads n/a."""
    c = _checks(_motion(), _motion(jitter=0.0))[("handtrack", "still-hand jitter smoothed <= 1/3 of raw")]
    assert c["ok"] is None and math.isnan(c["value"])


# -- results.json ------------------------------------------------------------------------------------
def test_results_json_converts_numpy_bools_and_tuples_with_nan():
    """Strict JSON (``allow_nan=False``): numpy bools as true/false, tuples as lists, a NaN inside a
    tuple as null like anywhere else."""
    x = {"ok": np.bool_(True), "pair": (1.5, float("nan")), "inner": [(np.float32(np.inf), np.int64(3))]}
    got = jsonable(x)
    assert json.loads(json.dumps(got, allow_nan=False)) == {"ok": True, "pair": [1.5, None], "inner": [[None, 3]]}
    assert type(got["ok"]) is bool


def test_written_results_hold_null_for_a_figure_with_no_data(tmp_path):
    """A NaN figure is null in results.json (not 0, not a NaN token); read back it is NaN."""
    p = tmp_path / "r.json"
    bench_run.write_json(p, {"a": float("nan"), "b": 0.5, "checks": [{"ok": np.bool_(False)}]})
    text = p.read_text(encoding="utf-8")
    assert "NaN" not in text and json.loads(text) == {"a": None, "b": 0.5, "checks": [{"ok": False}]}
    back = read_figures(p)
    assert math.isnan(back["a"]) and back["b"] == 0.5


# -- REPORT.md ---------------------------------------------------------------------------------------
def test_report_ratios_are_handtrack_over_mediapipe_and_smoothed_over_raw(tmp_path):
    acc = {"handtrack": _acc(pck10=0.9, found=0.96), "mediapipe": _acc(pck10=0.6, found=0.8)}
    mo = {"methods": {"smoothed": _motion(jitter=0.003), "raw": _motion(jitter=0.012),
                      "mediapipe": _motion(jitter=0.006)},
          "clips": 1, "frames": 10, "fps": 30.0}
    report, _, _ = _report(tmp_path, accuracy=acc, motion=mo)
    assert "Ratios handtrack / MediaPipe: PCK@0.1 1.500, found 1.200." in report
    assert "Smoothed / raw jitter: 0.250." in report
    assert "handtrack smoothed / MediaPipe: jitter 0.500, found 1.000." in report


def test_report_accuracy_section_with_no_method_run(tmp_path):
    """Neither tracker nor MediaPipe could run: the accuracy part is an empty dict; the report says
    0 photos instead of failing."""
    report, _, _ = _report(tmp_path, accuracy={})
    assert "0 photos (a seeded random subset" in report


def test_report_accuracy_table_has_every_figure(tmp_path):
    report, _, _ = _report(tmp_path, accuracy={"handtrack": _acc(false_pos_per_image=0.0412)})
    header = next(x for x in report.splitlines() if x.startswith("| method | pck@0.05"))
    assert "false_pos_per_image" in header
    assert _table_rows(report, after="| method | pck@0.05")["handtrack"][8] == "0.041"


def test_report_motion_jitter_has_four_decimals(tmp_path):
    mo = {"methods": {"smoothed": _motion(jitter=0.003812)}, "clips": 1, "frames": 10, "fps": 30.0}
    report, _, _ = _report(tmp_path, motion=mo)
    row = next(x for x in report.splitlines() if x.startswith("| handtrack smoothed |"))
    assert row.split("|")[2].strip() == "0.0038"


def test_report_speed_load_average_is_the_one_at_the_end(tmp_path):
    report, _, _ = _report(tmp_path, speed={"rows": SPEED_ROWS, "load_average": 3.8, "videos": ["v.mp4"],
                                            "stages": []})
    assert "load average 0.4 at start" in report and "Load average at the end: 3.8." in report


def _videos(per_min=1.23456) -> dict:
    tot = {"tracks": 4, "hands_per_frame": 0.9, "side_changes": 2, "side_changes_per_min": per_min,
           "side_consistency": 0.99, "videos_with_changes": 1, "frames": 100, "minutes": 1.62}
    return {"total": {"smoothed": {**tot, "still_hand_frames": 1958, "still_jitter": 0.015949, "still_jitter_raw": 0.04444},
                      "mediapipe": dict(tot)},
            "videos": {"a.mp4": {"smoothed": {"side_changes": 1, "side_consistency": 0.995, "hands_per_frame": 0.9,
                                              "still_jitter": 0.012345},
                                 "mediapipe": {"side_changes": 3, "side_consistency": 0.9, "hands_per_frame": 1.1}},
                       "b.mp4": {"smoothed": {"side_changes": 0, "side_consistency": 1.0, "hands_per_frame": 1.0}}}}


def test_report_videos_changes_per_minute_and_a_clip_without_a_method(tmp_path):
    report, _, _ = _report(tmp_path, videos=_videos())
    assert _table_rows(report, after="| method | tracks")["handtrack smoothed"][3] == "1.23"    # 2 decimals
    # still hand-frames, still jitter and the raw view's, 4 decimals; "-" where not measured
    assert _table_rows(report, after="| method | tracks")["handtrack smoothed"][6:] == ["1958", "0.0159", "0.0444"]
    assert _table_rows(report, after="| method | tracks")["mediapipe"][6:] == ["-", "-", "-"]
    # MediaPipe has no figures for b.mp4; still jitter with 4 decimals, "-" where a results file
    # from before session 69 has none
    assert _table_rows(report, after="| clip |")["b.mp4"] == ["0 / 1.000 / 1.00 / -", "-"]
    assert _table_rows(report, after="| clip |")["a.mp4"] == ["1 / 0.995 / 0.90 / 0.0123", "3 / 0.900 / 1.10 / -"]


def _soak(tmp_path: Path, **kw) -> None:
    sk = {"frames": 200, "video": "/x/clip.mp4", "size": [640, 480], "threads": 2, "seconds": 61.0,
          "hand_frames": 150, "samples": [[0, 100.0], [100, 110.0], [200, 112.5]], "growth_mib": 2.5,
          "slope_mib_per_10k": 1.25}
    sk.update(kw)
    (tmp_path / "soak.json").write_text(json.dumps(sk), encoding="utf-8")


def test_report_soak_line(tmp_path):
    """Hands on 150 of 200 frames: 75%; RSS from the first sample to the last."""
    _soak(tmp_path)
    report, _, _ = _report(tmp_path)
    assert "hands reported on 75% of frames" in report
    assert "RSS 100.0 -> 112.5 MiB" in report


def test_report_skips_a_soak_file_missing_a_figure(tmp_path):
    (tmp_path / "soak.json").write_text(json.dumps({"frames": 10}), encoding="utf-8")
    report, _, _ = _report(tmp_path)
    assert "## Memory soak" not in report and (tmp_path / "TABLE.md").exists()


def test_report_keeps_the_notes_and_says_when_mediapipe_is_unavailable(tmp_path, monkeypatch):
    """MediaPipe's venv unavailable: its columns are skipped with a note in the report."""
    import bench.mediapipe_runner as mr
    monkeypatch.setattr(mr, "ensure_venv", lambda *a, **k: None)
    b = Bench(BenchConfig(shared=tmp_path, out=tmp_path, plots=False))
    assert b.mediapipe(static=True) is None
    b.results.update({"machine": dict(MACHINE), "seconds": {"total": 1.0}})
    write_report(b, tmp_path)
    report = (tmp_path / "REPORT.md").read_text(encoding="utf-8")
    assert "- note: MediaPipe venv unavailable: MediaPipe columns skipped" in report


def test_report_parts_line_is_in_seconds(tmp_path):
    b = Bench(BenchConfig(shared=tmp_path, out=tmp_path, plots=False))
    b.results.update({"machine": dict(MACHINE), "seconds": {"accuracy": 2.4, "total": 3.0}})
    write_report(b, tmp_path)
    assert "- parts: accuracy 2 s, total 3 s" in (tmp_path / "REPORT.md").read_text(encoding="utf-8")
