"""Session 46 mutation audit of bench.robustness and bench.frame_rate: each test kills a hand-made
mutant that the earlier tests let through. Every expected figure is worked out by hand from small
made-up hands, rows, photos and fake trackers (no ONNX file, no ../shared).

Mutants killed here:

- R2: in_view: x <= w - 0.5 made x < w - 0.5 (a keypoint on the frame's last pixel edge out)
- R4: in_view: share >= min_share made > (exactly half in view no longer counts)
- R6: in_view: a hand with no labelled, finite keypoint out of view (return False)
- R8: Perturbed: the noise seed ignored (default_rng([0, crc]) instead of [self.seed, crc])
- R12: _geometry_per_clip: the offset not advanced (every clip given the first clip's frames)
- R13: agreement: the move of a left-out clean hand counted in 'moved'
- R15: combine_agreement: a move of exactly 0.2 counted as over 0.2
- R19: agreement: a hand exactly max_dist away not the clean hand (< for <=)
- F6: play: the timestamp of the source frame, not of the played frame
- F7: play: side_stability's max_gap not scaled with the factor
- F8: play: detector_per_s = calls / frames (per frame, not per second)
- F11: total: a 'counts = scaled' clip row left out of the counts and scaled totals
- F12: total: detector_per_s = calls / frames
- F13: total: blackout sums when any (not all) rows have them
- F14: total: one 'counts = scaled' row when any (not all) clips played once
- F15: table: the separator row without the blackout column
- F18: run: the blackout mask not cut to the frames played (a clip whose decoding ends before its
  middle: IndexError)

Left alive:

- F2: blackout_mask without 'seconds > 0 and': equivalent, lo == hi makes the range empty anyway
- F3: blackout_mask: k <= hi - eps for k < hi - eps: equivalent, k is whole and hi - eps never is
- F5: back_with_id: >= for > (within_s + eps): equivalent, a whole number of frames / rate never
  lands exactly on 1 s + 1e-9

Killed by the old tests (not listed above): R1 zoom offsets with w/h swapped, R3 in_view x/y against
h/w, R5 the visible mask ignored, R7 the affine transposed, R9 hands_out_of_view 0, R10 _subset
skipped, R11 the table note's total, R14 extra per clean hand, R16 rotation counter-clockwise, R17
clean not run first, R18 left_out not counted, R20 vs clean inverted; F1 floor for ceil, F4 a clip
ending in black, F9 the blackout start in frames, F10 same_run on the clip's fps, F16 before read
from the last frame, F17 same_run up to 30.25 included."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from bench import frame_rate, robustness
from bench.methods import FrameOutput
from bench.temporal import PredHand
from tests.bench.test_robustness_conditions import _hand   # keypoints on a diagonal, size s
from tests.bench.test_robustness import _clip

# ---------------------------------------------------------------------------------------------
# bench.robustness: in_view on a frame wider than tall

IDENTITY = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])


def _at(points) -> np.ndarray:
    """(17, 2) keypoints: ``points`` first, the rest copies of the last one."""
    p = np.asarray(points, np.float64)
    return np.concatenate([p, np.repeat(p[-1:], 17 - len(p), 0)])


@pytest.mark.parametrize("keypoints, visible, want", [
    (_at([[99.5, 10.0]]), None, True),                   # on the right edge of the last pixel: inside
    (_at([[99.5001, 10.0]]), None, False),
    (_at([[-0.5, 39.5]]), None, True),                   # the left and bottom edges
    # 8 labelled in view, 8 labelled out, one unlabelled out of view: exactly half counts
    (np.concatenate([np.tile([50.0, 20.0], (8, 1)), np.tile([150.0, 20.0], (9, 1))]),
     np.r_[np.ones(16), 0.0], True),
    # one more labelled out: 8 of 17 is under half
    (np.concatenate([np.tile([50.0, 20.0], (8, 1)), np.tile([150.0, 20.0], (9, 1))]), None, False),
    # nothing to judge by: in view (no labelled keypoint, or none finite)
    (_at([[500.0, 500.0]]), np.zeros(17), True),
    (np.full((17, 2), np.nan), None, True),
])
def test_in_view_edges_and_share(keypoints, visible, want):
    """Frame 40 tall, 100 wide: pixel centres 0..99 and 0..39, their edges at -0.5 and 99.5 / 39.5."""
    assert robustness.in_view(keypoints, visible, IDENTITY, (40, 100)) is want


def test_perturbed_noise_follows_the_seed():
    """``--seed`` changes the noise (the same seed gives the same pixels, another seed others)."""
    img = np.full((24, 32, 3), 128, np.uint8)
    seen = []

    def grab(frame, timestamp_ms=None):
        seen.append(frame.copy())
        return FrameOutput({"v": []}, 1.0)

    for seed in (3, 3, 4):
        robustness.Perturbed(grab, robustness.CONDITIONS["noise"][1], seed=seed)(img)
    assert np.array_equal(seen[0], seen[1]) and not np.array_equal(seen[0], seen[2])


# ---------------------------------------------------------------------------------------------
# bench.robustness.video_run's geometry per clip

def test_geometry_is_cut_per_clip_in_order():
    """Clip a has 3 frames (its longest view), clip b 2: the wrapper's 5 entries split 3 + 2."""
    preds = {"a.mp4": {"v": [[], [], []], "w": [[]]}, "b.mp4": {"v": [[], []]}}
    assert robustness._geometry_per_clip(preds, list("ABCDE")) == {"a.mp4": list("ABC"), "b.mp4": list("DE")}


# ---------------------------------------------------------------------------------------------
# bench.robustness.agreement / combine_agreement

def test_a_left_out_clean_hand_is_matched_but_neither_kept_nor_moved():
    r = robustness.agreement([[_hand(0, 0), _hand(500, 0)]], [[_hand(10, 0), _hand(500, 0)]],
                             counted=[[False, True]])
    assert (r["clean_hands"], r["kept"], r["extra"], r["left_out"]) == (1, 1, 0, 1)
    assert r["moved"] == pytest.approx([0.0])          # the left-out hand's move (0.1) is not there


@pytest.mark.parametrize("shift, kept", [(50.0, 1), (50.01, 0)])
def test_a_hand_exactly_max_dist_away_is_the_clean_hand(shift, kept):
    """Palm 50 px from a hand of size 100 is 0.5 hand sizes: within max_dist 0.5."""
    r = robustness.agreement([[_hand(0, 0)]], [[_hand(shift, 0)]], max_dist=0.5)
    assert (r["kept"], r["extra"]) == (kept, 1 - kept)


def test_combine_agreement_divides_each_count_by_its_own_total():
    rows = {"a.mp4": {"v": {"clean_hands": 2, "kept": 1, "extra": 1, "frames": 4, "moved": [0.1, 0.2],
                            "left_out": 1}},
            "b.mp4": {"v": {"clean_hands": 2, "kept": 2, "extra": 2, "frames": 2, "moved": [0.3],
                            "left_out": 0}}}
    t = robustness.combine_agreement(rows)["v"]
    assert t["kept"] == 0.75                            # 3 of 4 clean hands
    assert t["extra_per_frame"] == 0.5                  # 3 extra over 6 frames
    assert t["moved_median"] == pytest.approx(0.2)
    assert t["moved_over_0.2"] == pytest.approx(1 / 3)  # 0.2 itself is not over 0.2
    assert t["left_out"] == 1


# ---------------------------------------------------------------------------------------------
# bench.frame_rate

class _Recorder:
    """A fake tracker: its detector runs on every frame, it reports no hand, it keeps the
    timestamps it was given."""

    def __init__(self, **options):
        self.options, self.stamps = options, []
        self.detector = lambda frame: []
        made.append(self)

    def process(self, frame, timestamp_ms=None):
        self.stamps.append(timestamp_ms)
        self.detector(frame)
        return SimpleNamespace(hands=[])

    def close(self):
        pass


made: list[_Recorder] = []


@pytest.mark.parametrize("factor", [2.0, 0.5])
def test_play_stamps_the_played_frames_and_counts_detector_runs_per_second(factor, tmp_path, monkeypatch):
    """4 source frames at 30 fps played at ``factor``: 8 frames 1/60 s apart (factor 2) or 2 frames
    1/15 s apart (0.5); a detector run on every frame is ``rate`` runs per second; bench.videos'
    max_gap scales with the factor (at least 5)."""
    made.clear()
    gaps = []
    real = frame_rate.side_stability
    monkeypatch.setattr(frame_rate, "side_stability",
                        lambda preds, fps, max_gap: gaps.append(max_gap) or real(preds, fps, max_gap=max_gap))
    clip = _clip(tmp_path / "c.mp4", frames=4)
    rate = 30.0 * factor
    (res,) = frame_rate.play(clip, 4, factor, None, rate, [None], 1, tracker_factory=_Recorder)
    n = int(4 * factor)
    assert made[0].stamps == pytest.approx([k * 1000.0 / rate for k in range(n)])
    assert res["frames"] == res["detector_calls"] == n
    assert res["seconds"] == pytest.approx(n / rate) and res["detector_per_s"] == pytest.approx(rate)
    assert gaps == [10 if factor == 2.0 else 5]


def _row(factor, mode, frames, calls, **blackout):
    """A result row of a clip at 30 fps x ``factor``: one hand per frame, one track."""
    return dict(factor=factor, mode=mode, frames=frames, seconds=frames / (30.0 * factor), hands=frames,
                tracks=1, side_changes=0, young_side_changes=0, detector_calls=calls, **blackout)


def test_total_counts_a_played_once_clip_in_both_modes():
    """Clip a played once at factor 1 (30 fps: counts = scaled), clip b twice (25 fps-like rows):
    each of b's modes is summed with a's one row."""
    gap = dict(black_frames=9, before=2, back=1)
    clips = {"a": {"rows": [_row(1.0, "counts = scaled", 30, 10, **gap)]},
             "b": {"rows": [_row(1.0, "counts", 30, 20), _row(1.0, "scaled", 30, 5, **gap)]}}
    got = {t["mode"]: t for t in frame_rate.total(clips)}
    assert set(got) == {"counts", "scaled"}
    c, s = got["counts"], got["scaled"]
    assert (c["clips"], c["frames"], c["detector_calls"]) == (2, 60, 30)
    assert c["detector_per_s"] == pytest.approx(30 / 2.0)       # 30 runs over 2 s of stream
    assert "before" not in c                                     # b's counts play had no blackout
    assert (s["clips"], s["detector_calls"], s["black_frames"], s["before"], s["back"]) == (2, 15, 18, 4, 2)
    # both clips played once: one row
    once = {"a": clips["a"], "b": {"rows": [_row(1.0, "counts = scaled", 30, 20)]}}
    assert [t["mode"] for t in frame_rate.total(once)] == ["counts = scaled"]


@pytest.mark.parametrize("blackout_s, columns", [(0.3, 8), (0.0, 7)])
def test_table_separator_has_a_cell_per_column(blackout_s, columns):
    row = dict(_row(2.0, "counts", 60, 10), rate=60.0, hands_per_frame=1.0, detector_per_s=5.0)
    head, sep, line = frame_rate.table([row], blackout_s).splitlines()
    assert head.count("|") - 1 == sep.count("---|") == line.count("|") - 1 == columns


def test_a_clip_that_ends_before_its_blackout_has_no_blackout_figures(tmp_path, monkeypatch):
    """The container says 30 frames, 5 decode: the blackout (frames 15..23 at 30 fps) was never
    played, so the row has no blackout figures (and no IndexError)."""
    clip = _clip(tmp_path / "c.mp4", frames=30)
    short = dict(frames=5, seconds=5 / 30, hands=0, hands_per_frame=0.0, tracks=0, side_changes=0,
                 young_side_changes=0, detector_calls=5, detector_per_s=30.0, ids=[[]] * 5)
    monkeypatch.setattr(frame_rate, "play", lambda path, n, factor, fr, rate, masks, *a: [dict(short) for _ in masks])
    (row,) = frame_rate.run([clip], (1.0,), blackout_s=0.3)["clips"]["c.mp4"]["rows"]
    assert row["frames"] == 5 and "before" not in row and "black_frames" not in row
