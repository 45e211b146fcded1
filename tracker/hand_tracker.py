"""HandTracker: frames in, up to ``max_hands`` hands out, each with 17 smoothed keypoints, a stable
left/right slot and a track id.

Pipeline per frame (video mode):

1. Each tracked hand's crop comes from its previous landmarks (``roi_from_keypoints``, rotated to
   the wrist -> middle-MCP axis, shifted by the hand's predicted motion), at least
   ``min_crop_palms`` palm sizes on a side so that fingers the last fit folded stay in view.
2. The hand detector runs only while fewer than ``max_hands`` hands are tracked, and when it keeps
   finding no new hand (a detection of a hand it tracks already is none) it runs only every
   ``detector_interval``-th frame. Detections that overlap a tracked hand are dropped.
   Detections scored a little under the threshold (``low_detection_confidence``) are kept for a
   closer look in step 3. It also runs, whatever the count, for a tracked hand whose keypoints
   look collapsed or unsure, to measure it again in a detector crop (``_refresh_suspects``).
3. The landmark model runs on all crops in one batch; crops whose presence is below
   ``min_tracking_confidence`` are dropped (a track whose presence falls ends; its id and side
   are remembered for ``max_missed`` frames in case the hand comes back), and so are low
   detections whose keypoints the model is unsure of (mean confidence under
   ``low_detection_keypoint_score``).
4. :class:`~tracker.association.HandAssociator` merges duplicates, matches measurements to tracks,
   smooths them (:mod:`tracker.smoothing`) and assigns left/right slots from accumulated
   handedness evidence.

``static_image_mode=True`` makes every call independent: detector on every frame, no tracking
state, no smoothing, sides from the single-frame handedness (at most one left and one right),
``track_id = -1``.

Mirrored images: "left"/"right" name a hand **as it appears in the image** given to the tracker
(a right hand seen palm-forward, fingers up, has its thumb on the image's right; in an ordinary,
unflipped camera view that is the person's real right hand). A selfie/webcam preview is usually
flipped horizontally, which turns every right hand into an apparent left hand; pass
``mirrored=True`` for such images and the labels are swapped back, so that they name the
person's real hands. Keypoint coordinates are never changed, only the labels (and the rows of
:meth:`HandTrackerResult.as_array`).

Input frames: HxWx3 uint8 BGR (OpenCV convention), or RGB with ``color_order="rgb"`` (PIL,
imageio, PyAV, MediaPipe code). The colour order matters: RGB frames passed as BGR lose more than
half of the hands (val photos found 0.42 instead of 0.96). Also accepted, and converted: HxW or
HxWx1 grayscale (to BGR), HxWx4 BGRA (RGBA with ``color_order="rgb"``; alpha dropped), uint16
(scaled to uint8 by ``>> 8``, i.e. full 16-bit range assumed), non-contiguous arrays (copied).
Rejected with ``ValueError``: empty frames, other shapes, other dtypes (float images included:
convert them yourself, the scale is ambiguous), decreasing timestamps. Not an array: ``TypeError``.

In video mode a frame whose size differs from the previous one ends all tracks (ids keep counting
up) and runs the detector at once, as for a new video.
"""
from __future__ import annotations

import collections
import copy
import dataclasses
import inspect
import logging
import math
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, overload

import numpy as np

from .association import HandAssociator, Measurement, Track
from .checks import MAX_COUNT, MAX_THREADS, check_flag, is_int, is_number
from .geometry import Roi, crop_matrix, grow_roi, hand_angle, invert_affine, roi_from_keypoints, transform_points
from .keypoints import NUM_KEYPOINTS, mirror_side, palm_size, spread_ratio
from .smoothing import load_filterpy, make_filter

log = logging.getLogger(__name__)

SIDES = ("left", "right")
#: ``HandTrackerOptions.detector_turns`` -> the quarter turns (clockwise) the detector looks in
DETECTOR_TURNS = {1: (0,), 2: (0, 2), 4: (0, 1, 2, 3)}
#: channel orders ``process`` takes (``HandTrackerOptions.color_order``)
COLOR_ORDERS = ("bgr", "rgb")


#: a vanished track lowers the detector threshold (``min_redetection_confidence``) only when it
#: had been seen in this many frames: a hand found for a frame or two (often a false one) that
#: disappears again would otherwise open the door to more of its kind (frames at 30 fps:
#: ``frame_rate`` scales it, at least 1).
REDETECTION_MIN_HITS = 3


#: the highest frame_rate taken (a larger one scaled the counts past any use, 1e20 overflowed)
MAX_FRAME_RATE = 10_000
#: the slowest frame_rate taken: below it the assumed frame times (1000 / frame_rate ms) run to
#: infinity in a few frames (5e-324 fps gave timestamp_ms inf, an Infinity token in the JSONL)
MIN_FRAME_RATE = 1e-3
#: the largest smoothing_strength: beyond ~1e150 the Kalman update overflows (warnings every frame)
MAX_SMOOTHING_STRENGTH = 1e6
#: the largest ``min_crop_palms`` accepted (an open hand's crop is ~3 palm sizes: a bound, not a useful value)
MAX_CROP_PALMS = 10.0
#: a stream at least this fast without ``frame_rate`` is warned of (its frame counts' durations shrink)
FAST_STREAM_FPS = 45.0
#: side evidence (log-odds) at which a new hand's side counts as settled for ``side_wait``: one vote
#: of a fit sure at 0.88 or more. Session 62 measured 3 (``side_hysteresis``, what would hold against
#: one contrary vote) and 2: the same side changes on the shared clips, but with 3 a fake or a real
#: fit's single sure vote (2.86 at presence 0.97) waited, and found / re-acquisition paid for it.
SIDE_SETTLED = 2.0
#: the integer options of :class:`HandTrackerOptions` and their least values
INT_OPTIONS = {"max_hands": 1, "threads": 1, "detector_interval": 1, "redetection_frames": 0, "max_missed": 0,
               "side_wait": 0}


#: options that are probabilities in [0, 1] (None allowed for min_detection_confidence, the model's
#: own threshold, and low_detection_confidence, off)
UNIT_OPTIONS = ("min_detection_confidence", "min_tracking_confidence", "min_edge_keypoint_score",
                "min_redetection_confidence", "low_detection_confidence", "low_detection_keypoint_score",
                "refine_score", "crop_hold")


#: a detection whose box overlaps a tracked hand's keypoint box (or a detection already taken this
#: frame) by more than this IoU, or is centred inside it, is that hand again, not a new one; one
#: that overlaps less (a box over the hand and its forearm, IoU ~0.2) is measured, and merged into
#: the track when its fit is the tracked hand (association's duplicate rules)
TRACKED_OVERLAP_IOU = 0.3


@dataclass
class HandTrackerOptions:
    """Options of :class:`HandTracker` (all keyword arguments of its constructor).

    Attributes:
        max_hands: most hands reported per frame (>= 1; at most one left and one right when <= 2).
        static_image_mode: every call independent (photos, evaluation); no tracking, no smoothing.
        mirrored: the input is a mirror image (selfie view): swap left/right labels.
        min_detection_confidence: detector score threshold for a new hand, in [0, 1]; None uses
            the threshold calibrated for the shipped detector (stored in its metadata).
        min_tracking_confidence: landmark presence threshold; a hand below it is not reported
            and its track ends, in [0, 1].
        device: "cpu" or "cuda" (needs onnxruntime-gpu and its CUDA libraries; ValueError otherwise).
        threads: onnxruntime intra-op threads per model (>= 1); with "cuda", for the operators left on the CPU.
        smoothing: Kalman smoothing of the keypoints in video mode.
        smoothing_strength: > 0; 1 is the tuned default, larger smooths more (and lags more).
        landmark_model_path, detector_model_path: ONNX files (default: the shipped assets).
        detector_interval: while the detector keeps finding no new hand (one it finds again that
            is tracked already is none), run it only every this many frames (1 = every frame; with
            ``frame_rate``, frames at 30 fps). Ignored in static mode.
        max_missed: frames a lost hand keeps its id and side (brief occlusion; 15 since session 18,
            10 before: a hand back within half a second keeps its locked side); with
            ``frame_rate``, frames at 30 fps.
        side_wait: frames a new hand whose side is still unsure may go unreported (video mode; with
            ``frame_rate``, frames at 30 fps): it is reported once its side evidence reaches
            :data:`SIDE_SETTLED` (2 log-odds: one vote of a whole, sure fit at 0.88 or more for
            one side), or is locked, or on its ``side_wait + 1``-th frame; a hand from a low
            detection waits for its second frame in any case. 3 (default since session 63; 0
            before): a new hand's first fits come from crops still settling onto it, and its first
            votes can name either side. Reported at once, a hand entering blurred on
            mohanad_piano30.mp4 under noise was "left" for two frames, then "right" for good, and
            the motion benchmark's new hands' first frames gave much of its still jitter. 0
            reports every hand on its first frame, as MediaPipe does (docs/options.md for the
            figures; docs/model_history.md, sessions 62 and 63).
        flip_test: run every landmark crop also mirrored and average the two (heatmaps, presence
            and handedness). On by default since session 70 (off before): on the shared clips'
            still hands the smoothed keypoints' jitter is less than half (0.0069 against 0.0159
            palm sizes per frame; MediaPipe 0.0154) and the thumb and pinky tips of hands seen
            from above stop jumping across the hand; val photos PCK@0.1 0.943 against 0.939. It
            costs one more landmark network run per hand and frame (about 2 ms at 2 threads on a
            2-core VM; figures in docs/options.md). False: half the landmark time.
        min_hand_size: a hand whose keypoints span less than this fraction of the frame's
            shorter side is dropped (in [0, 1); 0 keeps all; 0.05 is 24 px at 640x480, below
            the smallest hands the detector is trained for). Landmarks that collapse onto a
            small hand-coloured object (the tip of a pencil) otherwise make a tiny crop that
            keeps finding the same "hand" frame after frame.
        min_redetection_confidence: detector score enough for a new hand while the tracker has
            fewer hands than it had within the last ``redetection_frames`` frames (in [0, 1]; at
            or above ``min_detection_confidence`` it changes nothing). A hand that comes out from
            behind the other one, or back into view, is often detected below the threshold for
            new hands; the landmark model's presence check still applies. The lowered threshold
            starts only as many hands as are missing, those the landmark model is surest of; the
            other weak detections must pass as low detections (``low_detection_confidence``).
            Ignored in static mode.
        redetection_frames: how long (frames; with ``frame_rate``, frames at 30 fps) a vanished hand
            makes the detector less strict.
        min_edge_keypoint_score: a hand whose crop hangs at least 20% off the frame is dropped
            when its mean keypoint confidence is below this (in [0, 1]; 0 keeps all). When a hand
            leaves the frame, the crop that follows it shows the frame border and background, on
            which the presence score can stay high while the keypoints find nothing sharp; the
            track would otherwise stay at the edge as a ghost. For a new hand (not tracked yet)
            the rule starts at 5% of its crop off the frame: a hand coming into view is started
            once its keypoints are sure. Hands inside the frame are never dropped by this,
            however unsure their keypoints (occluded, blurred).
        side_lock: accumulated handedness evidence (log-odds, > 0) at which a track's side is
            fixed for the rest of the track's life; None: the side follows the evidence for
            ever. A physical hand never changes side, and on views unlike its training photos
            (the backs of the hands seen from above, a first-person view) the landmark model can
            be wrong for seconds on end; without the lock such stretches flip the side (on the
            shared piano clip 18 side changes, 44% of hand-frames on the wrong side; none with
            it). 20 is about 4 frames of confident votes with two hands, 7 with one; the votes
            of the track's last second must reach it too (session 72), so many weak votes of one
            view the model is unsure of leave the side free for the confident votes after them
            (:data:`~tracker.association.LOCK_WINDOW`). The ``handedness`` of a locked hand
            still follows the evidence, so it can fall below 0.5 when the model disagrees. Two
            hands seen in one frame whose keypoint boxes overlap (by more than 30% of the
            smaller), or a hand lost behind the other, lose their locks and their evidence, as
            their tracks may part with each other's hands: their sides stay while they touch,
            and the votes after they part decide (session 53). Ignored in static mode.
        low_detection_confidence: a detection scored from this up to the detector threshold
            (``min_detection_confidence`` or the calibrated one) is a new hand too when the
            landmark model is sure of it: the mean of its 17 keypoint confidences is at least
            ``low_detection_keypoint_score`` (presence, size and edge checks as for any hand).
            None: the threshold alone decides. The detector's own score leaves 10-12% of the
            hands of composed val scenes just under its threshold; the landmark model's keypoint
            confidence tells most of those from the background: on 500 composed 640x480 val
            scenes (``python -m train.evaluate acquisition``) the tracker finds 0.830 of the
            hands instead of 0.807, at 0.052 false hands per frame instead of 0.048; two more
            scene sets gave +0.039 and +0.030 (docs/model_history.md, session 15). A low detection centred inside a
            tracked hand's crop is left out (there it is mostly a finger or the forearm of that
            hand). In video mode such a hand is reported from the second frame on, once its own
            crop has found it again (a false one seldom lasts: on the shared huytung_volctl clip a
            forearm, reported for one frame before); in static mode at once. Costs a landmark crop
            for each such detection, on frames where the detector runs. One whose first fit falls
            short of the bar by less than :data:`LOW_DETECTION_SECOND_LOOK` (0.15) gets a second
            look in its keypoints' crop and counts when that clears the bar (since session 68:
            composed val scenes, three seeds, 13 more of 1,717 hands found for 3 more false hands).
        low_detection_keypoint_score: see ``low_detection_confidence``, in [0, 1].
        color_order: channel order of the frames passed to ``process``: "bgr" (OpenCV's, the
            default) or "rgb" (any case; PIL, imageio, PyAV, code written for MediaPipe);
            4-channel frames are then BGRA or RGBA. The models were trained on BGR-decoded photos and the colour
            order matters: RGB frames passed as BGR lose more than half of the hands (1,000 val
            photos in static mode, found 0.42 instead of 0.96, PCK@0.1 0.39 instead of 0.91).
        small_hands: on frames where the detector runs, also run it at twice its input size for
            hands under 15% of the frame's longer side (far from the camera; see
            ``tracker.detector.HandDetector``). On 2,000 composed 640x480 val scenes
            (``python -m train.evaluate detector --scene-size 640x480 --scenes 2000 --threshold 0.45
            [--small-hands]``) the detector then finds 0.85 of the hands under 10% of the frame side
            instead of 0.70 (all hands 0.868 instead of 0.838, at 0.046 false positives per frame), for
            ~5x the detector's time on those frames (2.9 -> 15.3 ms p50 per 640x480 frame at 2
            threads, ``python -m bench models`` on the 2-core VM of assets/MODEL_CARD.md's
            session 18). Off by default.
        large_hands: on frames where the detector runs, also run it at half the size for hands
            close to the camera, larger than the 5-60% of the frame side the detector was trained
            on, which it then scores low or boxes badly (see ``tracker.detector.HandDetector``).
            On 500 composed 640x480 val scenes with hands at 60-100% of the frame side
            (``python -m train.evaluate acquisition --hand-frac 0.6,1.0 [--no-large-hands]``) the
            tracker finds 0.67 of the hands instead of 0.50 (the detector alone 0.76 instead of
            0.50 at the same false-positive rate); on the usual scenes 0.828 both ways, 0.058
            false hands per frame instead of 0.056 (docs/model_history.md, session 26); a quarter to
            two fifths more detector time on the frames where it runs. Beside a tracked hand its
            boxes over that hand are left out (:data:`LARGE_COVER_SHARE`; session 75 ran it only
            while no hand was tracked: :data:`LARGE_PASS_WHILE_TRACKED`). True (default since session
            26): whenever the detector file has a free input size (the shipped one, every file
            exported since session 18; older files run without it). With a detector object, that
            object's setting holds (``HandDetector(..., large_hands=...)``); False with one built
            with the pass is a ValueError.
        refine_score: a hand found in a detector crop whose mean keypoint confidence is below
            this is measured a second time, in the same frame, in the crop its own keypoints give
            (in video mode grown to ``min_crop_palms`` as the crop tracking cuts on the next frame
            is), and that measurement replaces the first
            when it passes the same checks and is not clearly less sure (:data:`REFINE_TOLERANCE`).
            A detector box frames a hand less closely than keypoints do, and the landmark model
            was trained on crops framed from keypoints. In [0, 1]; 0: never; 1: every new hand.
            With 0.6, only unsure first crops: on the shared huytung_2hand clip a hand entering at
            the frame's edge was measured at confidence 0.36-0.44 in its detector crops and
            reported on the wrong side for its first 3 frames (right from the first frame with
            it), and huytung_1hand's hand cut by the frame's edge is found in 0.91 of the frames
            instead of 0.86; the motion benchmark is unchanged. 1 suits photos in static mode
            (2,500 val photos: PCK@0.1 0.899 against 0.896 at 0.6 and 0.895 at 0; PCK@0.05 0.809
            against 0.802 and 0.801) but frames hands
            cut by the frame's edge wider: on composed 640x480 val scenes (``python -m
            train.evaluate acquisition``, three scene sets) 0.002-0.008 fewer hands found at
            0.002-0.008 more false ones. In video mode 1 steadies new hands' first frames (the
            6 motion clips' still jitter 0.0024 instead of 0.0034) but the degraded shared clips
            changed sides twice as often in three runs (34 against 14; session 56). Costs one
            landmark crop per such hand, on frames where the detector runs (see
            docs/model_history.md, session 19).
        min_crop_palms: a tracked hand's crop (framed from its last keypoints, 1.6 times their
            extent) is at least this many palm sizes on a side (the track's smoothed palm size,
            the longest side of the wrist / index-MCP / pinky-MCP triangle), grown toward the
            fingers with the wrist's edge kept, unless the larger crop would reach keypoints of
            another tracked hand it does not reach already, or the last fit has collapsed (its own
            palm under half the track's, or line-like: onto one finger). A fit that folds the
            fingers (a pinch, a fist, a finger it missed) otherwise frames the next crop so closely
            that a finger raised again lies outside it, and the fold feeds itself: on the shared
            huytung_volctl clip, a thumb and index opened into an L and closed again,
            examples/pinch.py reads 14 of 14 frames a person labelled pinched or open right with
            2.8, 6 with 0. An open hand's crop is ~3.1 palm sizes (hands21 val median), so 2.8
            leaves most hands' crops alone; a fist's is ~2: it is then seen ~1.4x smaller. In
            [0, 10]; 0: crops as the keypoints frame them (before session 45). Figures:
            docs/model_history.md, session 45. Ignored in static mode.
        crop_hold: a tracked hand keeps the crop it was last measured in while the crop its
            keypoints frame now has moved its centre by less than this fraction of the crop's
            side, changed its side by less than this fraction and turned by less than 100 times
            this in degrees (0.05: 5%, 5%, 5 degrees). A still hand then is measured in the same
            pixels frame after frame, and its keypoints shake less: on the synthetic motion clips
            (``python -m bench --only motion``) 0.05 cuts the still-hand jitter 0.0048 -> 0.0034
            at the same lag, PCK@0.1 on moving hands 0.961 -> 0.965; on four sets of 12 more
            clips (``--motion-clips 12 --seed 2`` to ``5``), four runs each (three with 1e-6
            noise on the network outputs), jitter is 20-37% lower, side accuracy 0.9945 against
            0.9952 over the 16 runs, side swaps 8.3 against 7.9 and id swaps 3.4 against 4.1 per
            run (where hands cross). The shared clips and their degraded copies, four runs of
            the 35 clip-conditions: 279 tracks and 26 side changes against 277 and 21 (7 of the
            26 in one run, a second, wrong track on ali_hand's one hand at JPEG quality 10; the
            clean clips 0 side changes against 4). Off by default in session 52, when crossing
            hands swapped sides more often with it; on since session 54, with the contact rule
            (``HandAssociator(contact_overlap)``) deciding the sides where hands touch.
            In [0, 1]; 0: a new crop every frame (before session 54). Figures:
            docs/model_history.md, sessions 52 and 54. Ignored in static mode.
        turn_retry: a detector crop in which the landmark model finds no hand is measured once
            more turned by 180 degrees. The detector's wrist -> middle-MCP cue, which turns the
            first crop upright, can point the wrong way (hands pointing down, which its training
            scenes hardly held), and the landmark model then sees the hand upside down. On
            composed 640x480 val scenes (``python -m train.evaluate acquisition --turn-retry``) the tracker
            finds 0.849 of the hands instead of 0.828, at 0.060 false hands per frame instead of
            0.056 (session 20), but on the shared clips it added two short false hands (a raised
            finger for 5 frames, 1 frame on ali_hand) beside one real blurred hand, so it is off by
            default. Costs one landmark crop per such detection.
        frame_rate: the stream's frame rate in frames per second (in [0.001, 10000]), or None
            (default). ``max_missed``, ``detector_interval``, ``redetection_frames`` and
            ``side_wait`` count frames; their defaults were tuned on ~30 fps video, where 15 frames
            are half a second.
            With a frame rate they are read as counts at 30 fps and the tracker uses
            ``floor(value * frame_rate / 30 + 0.5)`` frames (rounded half up; ``detector_interval``
            at least 1; 0 stays 0), so they keep their duration: at 60 fps 30, 6, 120 and 6 frames (see
            :attr:`HandTracker.effective_counts`). None: the counts are used as given. At 60 fps
            the defaults as counts kept the track ids of 2 of 9 hands hidden for 0.3 s, the
            scaled ones of 9 of 9, with 10.4 detector runs a second instead of 16.3 (docs/options.md,
            "Smoothing and time"). The frame rate also scales the associator's side memory (a
            lost hand's side is a prior for a new hand for 5 s: 150 frames at 30 fps, 300 at 60)
            and the growth of a lost hand's match gate (0.5 palm sizes per 1/30 s), and with
            ``timestamp_ms=None`` frames are 1/frame_rate s apart for the smoothing and the
            results' ``timestamp_ms``. It scales the internal counts with a duration too (the detector
            checks of unsure hands every 10 frames, the 15 frames a finger's detection is not
            measured again, the 3 frames a vanished hand must have been seen to lower the detector
            threshold), and each frame's handedness votes count 30 / frame_rate times (a side
            locks after the same time at any rate; without a frame rate, at 10 fps three times
            later). Still counted in frames: the 3 frames of votes against a side that a possible
            exchange of hands needs, and the filter restart of a hand back after more than 3 missed
            frames (docs/options.md). Ignored in static mode.
            Like ByteTrack's ``BYTETracker(frame_rate=...)``.
        detector_turns: None (default), 1, 2 or 4: look for new hands in the frame as it is (1),
            also turned upside down (2), or turned by every quarter turn (4). None: 4 in video
            mode, 1 in static mode and with a detector object whose ``__call__`` names no
            ``turns`` parameter (:attr:`HandTracker.detector_turns` tells which). The shipped
            detector learned from near-upright hands and misses hands pointing down or sideways (a
            camera above a desk or keyboard, a phone held sideways, first-person views); turned so
            that they point up, it finds them.
            Video mode: at most one look per frame: while a hand is tracked the next is looked for
            in the turn that makes the tracked hands upright (both hands of a view mostly point
            the way the camera is turned), every other look in the camera's turn (below) when that
            differs; while none is, the detector looks in the turn that last found a hand (the
            camera's turn; upright at first) on the frames it runs on without turns, so an upright
            view is searched as before, and in the other turns, one after another, on the first
            frame after each such run that the ``detector_interval`` back-off skips (with
            ``detector_interval=1``: every other run); a lost hand is looked for in its own turn
            every other frame while it is remembered.
            Static mode: every turn on every call (2x or 4x the detector time). A turned look's
            detection centred in a tracked hand's crop starts no hand (a raised finger looks like
            a hand pointing down). Figures in docs/model_history.md, sessions 24-25 and 66 (where
            video mode's default became 4: the shared clips upside down kept 0.992 of their
            hands instead of 0.538, turned sideways 0.994 instead of 0.788, upright 1.230 hands per
            frame instead of 1.232; the synthetic motion clips found 0.9582 of the hand-frames
            instead of 0.9585; while no hand is in view the detector runs on 2 frames in 3 instead
            of 1). 2 or 4 need a detector whose ``__call__`` takes ``turns``
            (``tracker.detector.HandDetector`` does).
        turn_fallback: static mode with ``detector_turns`` 2 or 4: look in the other turns only when
            the upright look finds no hand, instead of in every turn on every call. For photos of
            unknown orientation, mostly upright. On 1,000 hands21 val photos (``python -m bench
            robustness --images 1000 --detector-turns 4 --turn-fallback``, session 68), found /
            false hands per photo, against every turn and the upright look alone:
            upright photos 0.966 / 0.028 (every turn 0.966 / 0.060, upright only 0.964 / 0.028)
            at 1.02 looks per photo instead of 4; turned 90 degrees 0.960 / 0.041 (0.966 / 0.061,
            0.861 / 0.034), turned 180 degrees 0.959 / 0.051 (0.966 / 0.062, 0.677 / 0.015).
            PCK@0.1 on the turned photos 0.893-0.896 against 0.912: a hand pointing down that the
            upright look finds is fitted from that look's box and orientation cue. A photo with no
            hand still costs every look (1,867 hand-free crops of val photos: 0.083 false hands
            per crop, as with every turn, against 0.025), and a turned hand beside an upright one
            is missed: composed 640x480 val scenes of 0-4 photos at any angle (``python -m
            train.evaluate acquisition --full-rotation --detector-turns 4 [--turn-fallback]``)
            0.797 of the hands found at 0.052 false hands per frame, against 0.844 at 0.072
            looking in every turn and 0.737 at 0.038 upright only. Ignored in video mode (its turned looks have their own schedule, above) and
            with ``detector_turns`` 1.
    """

    max_hands: int = 2
    static_image_mode: bool = False
    mirrored: bool = False
    min_detection_confidence: float | None = None
    min_tracking_confidence: float = 0.5
    device: str = "cpu"
    threads: int = 2
    smoothing: bool = True
    smoothing_strength: float = 1.0
    landmark_model_path: str | os.PathLike[str] | None = None
    detector_model_path: str | os.PathLike[str] | None = None
    detector_interval: int = 3
    max_missed: int = 15
    side_wait: int = 3
    flip_test: bool = True
    min_hand_size: float = 0.05
    min_edge_keypoint_score: float = 0.3
    min_redetection_confidence: float = 0.2
    redetection_frames: int = 60
    side_lock: float | None = 20.0
    low_detection_confidence: float | None = 0.2
    low_detection_keypoint_score: float = 0.6
    color_order: str = "bgr"
    small_hands: bool = False
    large_hands: bool = True
    refine_score: float = 0.6
    min_crop_palms: float = 2.8
    crop_hold: float = 0.05
    turn_retry: bool = False
    detector_turns: int | None = None
    frame_rate: float | None = None
    turn_fallback: bool = False

    def __setattr__(self, name: str, value) -> None:
        # A tracker's own options (HandTracker.options) are frozen: it read some of them when it was
        # built (models, the associator), others on every frame, so a change was applied in part,
        # or unchecked, or not at all. Setting the value an option already has is allowed (validate()).
        if name != "_frozen" and name not in self.__dataclass_fields__:
            # a misspelt option (o.max_hand = 1) was kept beside the real one and silently unused
            raise AttributeError(f"HandTrackerOptions has no option {name!r}; the options are: "
                                 f"{', '.join(self.__dataclass_fields__)}")
        if self.__dict__.get("_frozen"):
            old = self.__dict__.get(name)
            if not (type(old) is type(value) and old == value):
                raise AttributeError(f"cannot set {name}: a HandTracker's options are read-only once it is "
                                     f"built; build another one: HandTracker(tracker.options, {name}=...)")
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        # deleted, an option fell back to the class default behind the built tracker's back
        if self.__dict__.get("_frozen"):
            raise AttributeError(f"cannot delete {name}: a HandTracker's options are read-only once it is built")
        object.__delattr__(self, name)

    def __getstate__(self) -> dict:
        """Copies and pickles are ordinary, changeable options."""
        return {k: v for k, v in self.__dict__.items() if k != "_frozen"}

    def validate(self) -> "HandTrackerOptions":
        """Raise ValueError naming the first bad option; returns self."""
        for name, low in INT_OPTIONS.items():
            v = getattr(self, name)
            high = MAX_THREADS if name == "threads" else MAX_COUNT   # the backend's own bound, said here
            if not is_int(v) or not low <= v <= high:
                raise ValueError(f"{name} must be an integer >= {low} (at most {high}), got {v!r:.40}")
            setattr(self, name, int(v))     # numpy integers become Python ones
        for name in (*UNIT_OPTIONS, "smoothing_strength", "min_hand_size", "side_lock", "frame_rate",
                     "min_crop_palms"):
            v = getattr(self, name)
            if isinstance(v, (np.integer, np.floating)):
                setattr(self, name, float(v))   # numpy numbers become Python floats (checked below)
            elif is_number(v):
                try:
                    float(v)
                except OverflowError:           # an int no float holds: the checks below would raise it
                    raise ValueError(f"{name} must be a number a float holds, got {v!r:.40}") from None
        for name in UNIT_OPTIONS:
            v = getattr(self, name)
            if v is None and name in ("min_detection_confidence", "low_detection_confidence"):
                continue
            if not is_number(v) or not 0.0 <= float(v) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {v!r}")
        for name in ("landmark_model_path", "detector_model_path"):
            v = getattr(self, name)
            if not isinstance(v, (str, os.PathLike, type(None))):
                raise ValueError(f"{name} must be a file path (str or os.PathLike) or None, got {v!r}")
        if str(self.device).lower() not in ("cpu", "cuda"):
            raise ValueError(f"device must be 'cpu' or 'cuda', got {self.device!r}")
        if not is_number(self.smoothing_strength) or not 0 < self.smoothing_strength <= MAX_SMOOTHING_STRENGTH:
            raise ValueError(f"smoothing_strength must be > 0 (at most {MAX_SMOOTHING_STRENGTH:g}), "
                             f"got {self.smoothing_strength!r}")
        if self.side_lock is not None and (not is_number(self.side_lock)
                                           or not math.isfinite(self.side_lock) or self.side_lock <= 0):
            raise ValueError(f"side_lock must be None or a number > 0, got {self.side_lock!r}")
        if self.frame_rate is not None and (not is_number(self.frame_rate)
                                            or not MIN_FRAME_RATE <= self.frame_rate <= MAX_FRAME_RATE):
            raise ValueError(f"frame_rate must be None or a number of frames per second in [{MIN_FRAME_RATE:g}, "
                             f"{MAX_FRAME_RATE}], got {self.frame_rate!r}")
        if not is_number(self.min_crop_palms) or not 0.0 <= float(self.min_crop_palms) <= MAX_CROP_PALMS:
            raise ValueError(f"min_crop_palms must be in [0, {MAX_CROP_PALMS:g}], got {self.min_crop_palms!r}")
        if not is_number(self.min_hand_size) or not 0.0 <= float(self.min_hand_size) < 1.0:
            raise ValueError(f"min_hand_size must be in [0, 1), got {self.min_hand_size!r}")
        if isinstance(self.color_order, str):
            self.color_order = self.color_order.lower()
        if self.color_order not in COLOR_ORDERS:
            raise ValueError(f"color_order must be one of {list(COLOR_ORDERS)}, got {self.color_order!r}")
        if self.detector_turns is not None:
            if not is_int(self.detector_turns) or self.detector_turns not in DETECTOR_TURNS:
                raise ValueError(f"detector_turns must be None or one of {sorted(DETECTOR_TURNS)}, "
                                 f"got {self.detector_turns!r}")
            self.detector_turns = int(self.detector_turns)     # numpy integers become Python ones
        for name in ("static_image_mode", "mirrored", "smoothing", "flip_test", "small_hands", "large_hands",
                     "turn_retry", "turn_fallback"):
            check_flag(name, getattr(self, name))
        return self


@dataclass
class Hand:
    """One hand in one frame.

    Attributes:
        side: "left" or "right" as seen in the image (swapped when ``mirrored=True``).
        track_id: stable id while the hand is tracked (-1 in static mode).
        score: presence probability of the hand, in [0, 1].
        keypoints: (17, 2) float32 x, y in pixels of the input frame (smoothed in video mode).
        raw_keypoints: (17, 2) float32 unsmoothed landmark-model output.
        scores: (17,) float32 per-keypoint confidence in [0, 1].
        box: (4,) float32 x0, y0, x1, y1 pixels around ``keypoints``.
        handedness: probability of ``side`` from the accumulated evidence, in [0, 1].

    The arrays are the caller's own: changing them in place does not change the tracking.
    """

    side: str
    track_id: int
    score: float
    keypoints: np.ndarray
    raw_keypoints: np.ndarray
    scores: np.ndarray
    box: np.ndarray
    handedness: float = 0.5

    def as_array(self) -> np.ndarray:
        """(17, 3) float32 columns x, y, score."""
        return np.concatenate([self.keypoints, self.scores[:, None]], axis=1).astype(np.float32)

    def to_dict(self) -> dict:
        """JSON-ready dict, the ``hands`` entries of the CLI's JSONL: side, track_id, score,
        handedness, box [x0, y0, x1, y1] and keypoints [[x, y, score] * 17] (pixels rounded to
        0.01, scores to 1e-4)."""
        kps = [[round(float(x), 2), round(float(y), 2), round(float(sc), 4)]
               for (x, y), sc in zip(np.asarray(self.keypoints), np.asarray(self.scores))]
        return {"side": self.side, "track_id": int(self.track_id), "score": round(float(self.score), 4),
                "handedness": round(float(self.handedness), 4),
                "box": [round(float(v), 2) for v in np.asarray(self.box)], "keypoints": kps}


@dataclass
class HandTrackerResult:
    """The hands of one frame.

    Attributes:
        hands: list of :class:`Hand` (empty, never None), left first; hands of one side (``max_hands``
            > 2) by track id in video mode, the surer first in static mode.
        frame_index: calls to ``process`` before this one since the last ``reset()``.
        timestamp_ms: the timestamp given; when None, one frame time (1/30 s, 1/``frame_rate``
            s in video mode when set) after the frame before: the last timestamp given plus the
            frames since, or ``frame_index`` frame times when none was given since ``reset()``.
        image_size: (width, height) of the input frame in pixels.
        detector_ran: whether the hand detector ran on this frame.
        elapsed_ms: time spent in ``process``.
    """

    hands: list[Hand] = field(default_factory=list)
    frame_index: int = 0
    timestamp_ms: float | None = None
    image_size: tuple[int, int] = (0, 0)
    detector_ran: bool = False
    elapsed_ms: float = 0.0

    def to_dict(self, frame: int | None = None, t_ms: float | None = None) -> dict:
        """JSON-ready dict, one line of the CLI's JSONL (``tracker.io.read_tracks`` reads such lines
        back): ``{"frame", "t_ms", "hands": [Hand.to_dict(), ...]}``. ``frame`` and ``t_ms`` default
        to ``frame_index`` and ``timestamp_ms`` (pass a camera's own frame number, say)."""
        frame = self.frame_index if frame is None else frame
        t_ms = (self.timestamp_ms or 0.0) if t_ms is None else t_ms
        return {"frame": int(frame), "t_ms": round(float(t_ms), 3), "hands": [h.to_dict() for h in self.hands]}

    def hand(self, side: str) -> Hand | None:
        """The hand labelled ``side`` ("left"/"right"), or None. Of several (``max_hands`` > 2), the
        oldest track (lowest ``track_id``), so that frame after frame it is the same hand while that
        one is seen; in static mode (``track_id`` -1) the highest-scored one.

        Raises:
            ValueError: ``side`` is not "left" or "right" (MediaPipe's "Left" would never match)."""
        if side not in SIDES:
            raise ValueError(f"side must be 'left' or 'right' (lower case, as seen in the image), got {side!r}")
        cands = [h for h in self.hands if h.side == side]
        # Not the highest presence in video mode: a tracked hand's presence is ~1.0 and differs
        # between hands in the 7th digit, so that choice jumped between two people's left hands
        # from frame to frame (as_array() rows, the CLI's CSV).
        return min(cands, key=lambda h: slot_order(h.track_id, h.score)) if cands else None

    def as_array(self) -> np.ndarray:
        """(34, 3) float32: rows 0-16 left hand, 17-33 right hand; columns x, y, score (pixels,
        score in [0, 1]); NaN rows where a hand is absent. With several hands of a side
        (``max_hands`` > 2), the one :meth:`hand` gives."""
        out = np.full((2 * NUM_KEYPOINTS, 3), np.nan, np.float32)
        for k, side in enumerate(SIDES):
            h = self.hand(side)
            if h is not None:
                out[k * NUM_KEYPOINTS:(k + 1) * NUM_KEYPOINTS] = h.as_array()
        return out


def slot_order(track_id: int, score: float) -> tuple:
    """Sort key of the hands of one side for the side's one slot (:meth:`HandTrackerResult.hand`,
    ``tracker.io.read_tracks``), smallest first: tracked hands, the oldest track (lowest id) first;
    then hands without an id (-1, static mode), the highest score first."""
    tid = int(track_id)
    return (0, tid, 0.0) if tid >= 0 else (1, 0, -float(score))


def prepare_frame(frame, color_order: str = "bgr") -> np.ndarray:
    """Check and convert an input frame to contiguous HxWx3 uint8 BGR (see the module docstring).

    ``color_order``: "bgr" (HxWx3 BGR, HxWx4 BGRA) or "rgb" (HxWx3 RGB, HxWx4 RGBA); gray frames
    are the same either way.

    Raises:
        TypeError: not a numpy array. ValueError: empty, bad shape, unsupported dtype or colour order.
    """
    if not isinstance(color_order, str) or color_order.lower() not in COLOR_ORDERS:
        raise ValueError(f"color_order must be one of {list(COLOR_ORDERS)}, got {color_order!r}")
    if not isinstance(frame, np.ndarray):
        raise TypeError(f"frame must be a numpy array (HxWx3 uint8 BGR), got {type(frame).__name__}")
    if frame.size == 0:
        raise ValueError(f"frame is empty (shape {frame.shape})")
    if frame.dtype.kind == "u" and frame.dtype.itemsize == 2:       # either byte order (">u2" from some readers)
        frame = (frame >> 8).astype(np.uint8)
    elif frame.dtype != np.uint8:
        raise ValueError(f"frame dtype must be uint8 (or uint16), got {frame.dtype}")
    if frame.ndim == 3 and frame.shape[2] == 1:
        frame = frame[:, :, 0]
    import cv2
    if frame.ndim == 2:
        return cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_GRAY2BGR)
    if frame.ndim != 3 or frame.shape[2] not in (3, 4):
        raise ValueError(f"frame must be HxWx3 (BGR or RGB), HxWx4 (BGRA or RGBA) or HxW (gray), "
                         f"got shape {frame.shape}")
    rgb = color_order.lower() == "rgb"
    if frame.shape[2] == 4:
        return cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGBA2BGR if rgb else cv2.COLOR_BGRA2BGR)
    if rgb:
        return cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2BGR)
    return np.ascontiguousarray(frame)


#: share of a crop off the frame from which low keypoint confidence drops the hand (see
#: ``HandTrackerOptions.min_edge_keypoint_score``); on the motion benchmark's clips ghosts at the
#: frame edge had 43-51% of their crop outside, real hands with low confidence none.
EDGE_CROP_OUTSIDE = 0.2
#: the same for a hand not tracked yet (a detector crop): a hand coming into view is started once
#: its keypoints are sure, not while mostly outside. With the v0.5 detector, a hand entering a
#: motion clip was detected with 12% of its crop off the frame and keypoint confidence 0.19; the
#: track so started was dropped on the next frame and the hand came back 5 frames later under a
#: new id.
NEW_HAND_EDGE_OUTSIDE = 0.05


#: a tracked hand whose keypoints spread across less than this share of their spread along their
#: main axis (:func:`spread_ratio`) may have collapsed onto a finger: the crop made from them then
#: follows the finger and the collapse feeds itself (ali_hand's thumbs-up, docs/model_history.md, session 13).
#: Such a hand is measured again in the detector's crop, kept only when that is clearly less
#: collapsed, so hands that really are edge-on (1.5% of hands21 val under 0.12) are left alone.
#: A detector crop's measurement this collapsed is left out when it lies within reach of an open
#: one found in a tracked hand's own crop (``HandAssociator(second_hand_min_spread=...)``,
#: ``association.FINGER_REACH``): on the shared clips under noise and JPEG such second "hands"
#: were fingers of the tracked one (docs/model_history.md, session 38).
COLLAPSED_SPREAD = 0.15
#: a tracked hand's last fit whose palm size is under this share of the track's smoothed one is
#: collapsed, not folded: its crop is not grown to ``HandTrackerOptions.min_crop_palms``
COLLAPSED_PALM = 0.5
#: frames a detection that gave such a finger (a collapsed fit next to a tracked hand) is not
#: measured again while a hand is tracked (at 30 fps: ``frame_rate`` scales it, as the counts below)
FINGER_MEMORY = 15
#: how much larger the detector crop's spread ratio must be to replace a collapsed measurement
REFRESH_SPREAD_GAIN = 0.1
#: ... and how much less sure (mean keypoint confidence) it may be at most. A hand pointing one
#: finger or seen edge-on is line-like too, and sure of its fit: there a detector's box over part of
#: it gave an open-looking fit at half the confidence (ali_hand under JPEG 0.55 -> 0.27 and 0.60 ->
#: 0.33, a ~100 px box on the raised finger of a ~260 px hand; clean 0.63 -> 0.33, the large-hand
#: pass's box over thumb and forearm), and the track, cropped from that fit, was lost within two
#: frames. The thumbs-up's fold, which the check is for, opened at about the same confidence
#: (clean 0.64 -> 0.60).
REFRESH_COLLAPSED_DROP = 0.1
#: ... except for a fit of the whole hand the detector saw: a collapsed track's fit is also replaced
#: by one less sure than that, down to this mean keypoint confidence, when its keypoint box is at
#: least as long (longer side) as the collapsed fit's and agrees with the detection's box (IoU at
#: least :data:`REFRESH_WHOLE_IOU`). A hand entering the frame close to the camera was first fitted
#: on its edge, a line along one finger, and the track followed that finger for 25 frames while
#: the detector boxed the whole hand at 0.7 every frame: its crop's fit was the open hand at 0.32-0.39
#: against the line's 0.46-0.65 (session 76). A detector box over part of the hand (the raised
#: finger above) gives a fit no longer than the line. None: off.
REFRESH_WHOLE_SCORE: float | None = 0.3
#: the least IoU between such a fit's keypoint box and the detection's box (see above)
REFRESH_WHOLE_IOU = 0.5
#: a tracked hand whose mean keypoint confidence is below this may be held by a crop that drifted
#: into a wrong fit that feeds itself: on a motion benchmark clip a fist started from a wrongly
#: turned detector crop got wrong keypoints (mean confidence 0.50), whose smaller crop gave the
#: same wrong keypoints for 107 frames (NME 0.57 palm sizes; the detector's crop of that frame:
#: confidence 0.75, NME 0.05). Such a hand is measured again in the detector's crop every
#: :data:`UNSURE_INTERVAL` frames (at 30 fps) and replaced only by a sure measurement; real hands in hard
#: views (side-on, pinching) often stay under this in every crop.
UNSURE_SCORE = 0.6
#: how much higher the detector crop's mean keypoint confidence must be to replace an unsure one
REFRESH_SCORE_GAIN = 0.15
#: ... and how high it must be: on the shared clips, replacements that lifted confidence only to
#: 0.59-0.69 (side-on and pinching hands) sent the tracks along other paths, with short false hands
REFRESH_SURE_SCORE = 0.7
#: frames between two detector checks of one unsure track (each check is one detector run; at
#: 30 fps: ``frame_rate`` scales it)
UNSURE_INTERVAL = 10
#: a refined measurement (``HandTrackerOptions.refine_score``) replaces the first one unless its
#: mean keypoint confidence is lower by more than this. At these low confidences the mean is a weak
#: guide (huytung_2hand's entering hand: 0.34 refined against 0.36, but the right side and a crop
#: that gave 0.47-0.51 on the next frames instead of 0.38-0.44); larger drops went with worse
#: fits (composed val scenes: 0.37 -> 0.20 and 0.39 -> 0.31, each losing its hand's box).
REFINE_TOLERANCE = 0.05
#: a low detection whose first fit's mean keypoint confidence falls short of its bar
#: (``low_detection_keypoint_score``) by less than this gets a second look in its keypoints' crop,
#: as refinement gives, and is kept when that look clears the bar. Of the val photos' hands that
#: static mode missed, many were detected at 0.2-0.45 and fitted well at 0.45-0.59 (session 68).
#: Composed 640x480 val scenes, three seeds: 13 more of 1,717 hands found, 3 more false hands in
#: 1,500 scenes.
LOW_DETECTION_SECOND_LOOK = 0.15
#: run the detector's large-hand pass (``HandDetector.large_hands``: the frame again at half the
#: size, for hands filling 60-100% of it) on the detector's runs for new hands while a hand is
#: tracked too (False: only while none is, as in session 75). Beside a tracked hand most of its
#: boxes were that hand again (54 of 715 runs on the shared clips; on ali_hand.mp4 the hand and
#: forearm around a thumbs-up fitted edge-on, measured as a new hand), which
#: :data:`LARGE_COVER_SHARE` now leaves out; without the pass a close hand entering beside a
#: tracked one was found on 3-4% fewer of its frames, and 4-6 of 100 such hands not within a
#: second (composed pairs, session 76). The pass is about a quarter of the detector's time.
LARGE_PASS_WHILE_TRACKED = True
#: a large-hand pass detection (``Detection.pass_scale`` < 1) that holds more than this share of a
#: tracked hand's keypoint box (its sure points') is that hand seen whole with its forearm, not a
#: new hand: left out of the new hands. The first pass's own detections are checked as before
#: (``TRACKED_OVERLAP_IOU``): a hand held close to the camera covers the tracked one only by
#: hiding it. With this, ali_hand.mp4's JPEG copy reads 1 track as without the pass beside tracked
#: hands (4 before), and six motion sets and the other clips read the same (session 76).
LARGE_COVER_SHARE = 0.5


def outside_fraction(roi: Roi, width: int, height: int, n: int = 8) -> float:
    """Share of the square crop ``roi`` that lies outside a ``width`` x ``height`` frame, in
    [0, 1], from an ``n`` x ``n`` grid of crop points mapped to frame pixels."""
    inv = invert_affine(crop_matrix(roi, n))
    g = np.arange(n) + 0.5
    pts = transform_points(np.stack(np.meshgrid(g, g), -1).reshape(-1, 2), inv)
    inside = (pts[:, 0] >= 0) & (pts[:, 0] < width) & (pts[:, 1] >= 0) & (pts[:, 1] < height)
    return float(1.0 - inside.mean())


def _box(kps: np.ndarray, scores: np.ndarray | None = None, min_score: float = 0.0) -> np.ndarray:
    k = np.asarray(kps, np.float32)
    ok = np.isfinite(k).all(1)
    if scores is not None and (ok & (scores >= min_score)).sum() >= 2:
        ok &= scores >= min_score
    if not ok.any():
        return np.full(4, np.nan, np.float32)
    k = k[ok]
    return np.array([*k.min(0), *k.max(0)], np.float32)


def _whole_hand(kps: np.ndarray, score: float, old_box: np.ndarray, det_box: np.ndarray) -> bool:
    """Whether a detector crop's fit ``kps`` ((17, 2) pixels, mean keypoint confidence ``score``)
    is the whole hand that detection (``det_box``, x0 y0 x1 y1 pixels) saw, at least as long as the
    collapsed fit whose keypoint box is ``old_box``: :data:`REFRESH_WHOLE_SCORE`."""
    if REFRESH_WHOLE_SCORE is None or not score >= REFRESH_WHOLE_SCORE:
        return False
    new_box = _box(kps)
    longer = lambda b: float(max(b[2] - b[0], b[3] - b[1]))  # noqa: E731
    return longer(new_box) >= longer(old_box) and _iou(new_box, det_box) >= REFRESH_WHOLE_IOU


def _covered_share(inner: np.ndarray, outer: np.ndarray) -> float:
    """Share of box ``inner``'s area (x0 y0 x1 y1 pixels) inside box ``outer``; 0 for an empty or
    non-finite ``inner``."""
    iw = min(inner[2], outer[2]) - max(inner[0], outer[0])
    ih = min(inner[3], outer[3]) - max(inner[1], outer[1])
    area = (inner[2] - inner[0]) * (inner[3] - inner[1])
    if not (area > 0 and iw > 0 and ih > 0):
        return 0.0
    return float(iw * ih / area)


def _count_inside(points: np.ndarray, roi: Roi) -> int:
    """How many of the (N, 2) image points (pixels) lie inside the rotated square ``roi``."""
    if not len(points):
        return 0
    u = transform_points(np.asarray(points, np.float64), crop_matrix(roi, 1.0))
    return int(np.all((u >= 0.0) & (u <= 1.0), axis=1).sum())


def _inside_roi(point: np.ndarray, roi: Roi) -> bool:
    """Whether an image point (x, y pixels) lies inside the rotated square ``roi``."""
    return _count_inside(np.reshape(point, (1, 2)), roi) == 1


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(x1 - x0, 0) * max(y1 - y0, 0)
    ua = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / ua) if ua > 0 else 0.0


def _upright_turn(angles: list[float], turns: tuple[int, ...]) -> int:
    """The quarter turn of ``turns`` in which hands at these crop angles (radians, clockwise from
    up) are closest to upright: a hand at angle a is upright in the frame turned by -a."""
    a = math.atan2(sum(math.sin(x) for x in angles), sum(math.cos(x) for x in angles))
    want = -a / (math.pi / 2)
    return min(turns, key=lambda k: abs((k - want + 2) % 4 - 2))


def _takes_turns(detector, named: bool = False) -> bool:
    """Whether ``detector(frame, ..., turns=...)`` can be called (``detector_turns``); with
    ``named``, only when its ``__call__`` names ``turns`` (not through ``**kwargs``: a wrapper that
    passes its keywords on to a detector of its own may not take them)."""
    try:
        params = inspect.signature(detector).parameters
    except (TypeError, ValueError):
        return False
    return "turns" in params or (not named and any(p.kind is inspect.Parameter.VAR_KEYWORD
                                                    for p in params.values()))


def _frames_at(count: int, frame_rate: float | None) -> int:
    """A frame count tuned at 30 fps, as frames at ``frame_rate`` fps (None: as given), rounded
    half up: Python's ``round`` takes halves to the even number, so at 15 fps 5 frames gave 2 but
    7 gave 4."""
    return count if frame_rate is None else math.floor(count * frame_rate / 30.0 + 0.5)


#: HandAssociator's defaults (tuned at 30 fps), which ``frame_rate`` scales
_ASSOCIATOR_DEFAULTS = {k: p.default for k, p in inspect.signature(HandAssociator).parameters.items()}


class HandTracker:
    """Two-hand keypoint tracker.

    Args:
        options: a :class:`HandTrackerOptions` (copied); keyword arguments override its fields,
            e.g. ``HandTracker(max_hands=1, mirrored=True)``.
        detector, landmark_model: ready model objects to use instead of loading the ONNX files
            (same interface as :class:`tracker.detector.HandDetector` and
            :class:`tracker.landmarks.LandmarkModel`); mainly for tests and custom backends.
            A path given here is taken as ``*_model_path``. A ``LandmarkModel`` is built with
            ``flip_test=False`` unless asked, the tracker with ``flip_test=True``: the two must
            agree (``ValueError`` otherwise).

    Raises:
        ValueError: a bad option or a model file that is not a valid model.
        FileNotFoundError: a model file that does not exist.
    """

    def __init__(self, options: HandTrackerOptions | None = None, *, detector=None, landmark_model=None,
                 **kwargs) -> None:
        if options is not None and not isinstance(options, HandTrackerOptions):
            raise TypeError(f"options must be a HandTrackerOptions or None, got {options!r}; pass options as "
                            "keywords, e.g. HandTracker(max_hands=2)")
        opts = dataclasses.replace(options) if options is not None else HandTrackerOptions()
        if isinstance(landmark_model, (str, os.PathLike)):
            kwargs.setdefault("landmark_model_path", landmark_model)
            landmark_model = None
        if isinstance(detector, (str, os.PathLike)):
            kwargs.setdefault("detector_model_path", detector)
            detector = None
        names = {f.name for f in dataclasses.fields(HandTrackerOptions)}
        for k, v in kwargs.items():
            if k not in names:
                raise TypeError(f"unknown option {k!r}; options are {sorted(names)}")
            setattr(opts, k, v)
        self.options = opts.validate()
        object.__setattr__(opts, "_frozen", True)    # read-only from here on (HandTrackerOptions.__setattr__)
        # The frame counts in use (frame_rate scales them; the options keep the user's values).
        self._max_missed = _frames_at(opts.max_missed, opts.frame_rate)
        self._detector_interval = max(1, _frames_at(opts.detector_interval, opts.frame_rate))
        self._redetection_frames = _frames_at(opts.redetection_frames, opts.frame_rate)
        self._side_wait = _frames_at(opts.side_wait, opts.frame_rate)
        # ... and the internal counts, durations at 30 fps too
        self._redetection_min_hits = max(1, _frames_at(REDETECTION_MIN_HITS, opts.frame_rate))
        self._finger_memory = max(1, _frames_at(FINGER_MEMORY, opts.frame_rate))
        self._unsure_interval = max(1, _frames_at(UNSURE_INTERVAL, opts.frame_rate))
        # the frame rate a result's timestamp_ms assumes when none is given (static mode: frame_rate is ignored)
        self._assumed_fps = 30.0 if opts.frame_rate is None or opts.static_image_mode else float(opts.frame_rate)
        self._own_models = []
        if landmark_model is None:
            from .landmarks import LandmarkModel
            landmark_model = LandmarkModel(opts.landmark_model_path, device=opts.device, threads=opts.threads,
                                           flip_test=opts.flip_test)
            self._own_models.append(landmark_model)
        if detector is None:
            from .detector import HandDetector
            try:
                detector = HandDetector(opts.detector_model_path, device=opts.device, threads=opts.threads,
                                        small_hands=opts.small_hands,
                                        large_hands=None if opts.large_hands else False)
            except Exception:
                for m in self._own_models:
                    m.close()
                raise
            self._own_models.append(detector)
        problem = None    # a detector (an object passed in) that cannot do what the options ask
        if opts.small_hands and not getattr(detector, "small_hands", False):
            problem = ("small_hands=True with a detector object built without it: pass "
                       "HandDetector(..., small_hands=True), or a model path")
        elif not opts.large_hands and getattr(detector, "large_hands", False):
            problem = ("large_hands=False with a detector object built with the large-hand pass: "
                       "pass HandDetector(..., large_hands=False), or a model path")
        elif opts.detector_turns not in (None, 1) and not _takes_turns(detector):
            problem = (f"detector_turns={opts.detector_turns} with a detector object whose __call__ takes no "
                       "'turns' argument: pass a HandDetector, or a model path")
        elif isinstance(getattr(landmark_model, "flip_test", None), bool) \
                and landmark_model.flip_test != opts.flip_test:
            # a LandmarkModel is built without the flip unless asked (the network as it is), the
            # tracker with it (session 70): the options would describe what does not run
            problem = (f"flip_test={opts.flip_test} with a landmark model object built with flip_test="
                       f"{landmark_model.flip_test}: pass LandmarkModel(..., flip_test={opts.flip_test}), "
                       f"flip_test={landmark_model.flip_test} to the tracker, or a model path")
        if problem:
            for m in self._own_models:
                m.close()
            raise ValueError(problem)
        self.landmarks = landmark_model
        self.detector = detector
        self._detector_names_turns = _takes_turns(detector, named=True)
        self.roi_scale = float(getattr(landmark_model, "roi_scale", 1.6))
        self.closed = False
        # One tracker follows one stream: its tracks, filters and timestamps are per-stream state,
        # so a second thread calling process() at the same time is an error, not a silent mix-up.
        self._busy = threading.Lock()
        self._busy_with = "process"        # what holds _busy, for the error of a call that finds it taken
        self.reset()

    def __getstate__(self):
        # pickle failed deep inside on an onnxruntime session, naming neither the tracker nor what to
        # do, and copy.copy gave a tracker sharing this one's models and tracks
        raise TypeError("a HandTracker cannot be pickled or copied (it holds onnxruntime sessions and one "
                        "stream's tracks): build one inside each worker process, in the function the pool "
                        "runs, and send back its results (they pickle); another tracker in this process: "
                        "HandTracker(tracker.options)")

    @property
    def detector_turns(self) -> int:
        """The ``detector_turns`` in use (1, 2 or 4): the option's, or for None 4 in video mode
        and 1 in static mode or with a detector object whose ``__call__`` does not name a
        ``turns`` parameter (``**kwargs`` is not enough: a wrapper may pass it on to a detector
        that takes none)."""
        n = self.options.detector_turns
        if n is None:
            n = 1 if self.options.static_image_mode or not self._detector_names_turns else 4
        return n

    @property
    def effective_counts(self) -> dict[str, int]:
        """The frame counts the tracker uses: ``max_missed``, ``detector_interval``,
        ``redetection_frames`` and ``side_wait`` as given, or scaled by ``frame_rate / 30`` when
        ``frame_rate`` is set."""
        return {"max_missed": self._max_missed, "detector_interval": self._detector_interval,
                "redetection_frames": self._redetection_frames, "side_wait": self._side_wait}

    #: metadata keys of a model file that identify it (what export/ embeds); others (normalisation,
    #: codec, validation figures) are left out of :meth:`describe`
    DESCRIBED_METADATA = ("kind", "model_version", "input_size", "input_width", "input_height", "threshold",
                          "roi_scale", "quantization", "training_steps")

    def describe(self) -> dict:
        """What makes this tracker's results, JSON-ready (``json.dumps`` takes it as it is): the
        provenance of a track file (``handtrack video --meta``) or a bug report.

        Returns:
            ``{"version": handtrack's version, "onnxruntime": its version, "models": {"landmarks":
            {...}, "detector": {...}}, "options": {...}}``. Each model: ``path`` (the ONNX file,
            absolute), ``sha256`` (hex digest of the file), the embedded metadata that identifies
            it (:data:`DESCRIBED_METADATA` present in the file: ``kind``, ``model_version``, the
            input size in pixels as ``input_size`` or ``input_width``/``input_height``, the
            detector's calibrated ``threshold``, an INT8 file's ``quantization``, ...),
            ``providers`` (its onnxruntime session's execution providers, in order) and
            ``threads`` (the session's intra-op threads). A model passed in as an object with no
            file has ``path``, ``sha256``, ``providers`` and ``threads`` None and ``object`` its
            class name. ``options``: :attr:`options` as a dict, paths as strings
            (``HandTrackerOptions(**d["options"])`` gives the same options).

        The files are hashed on the first call (milliseconds for the shipped models) and that
        answer is kept, so call it while the tracker is open, soon after building it (the CLI
        does). Each call returns a new copy.

        Raises:
            RuntimeError: the tracker was closed before its first ``describe()``.
        """
        import json
        if getattr(self, "_description", None) is None:
            if self.closed:
                raise RuntimeError("describe() on a closed HandTracker: call it before close() "
                                   "(its model sessions are released)")
            import hashlib

            import onnxruntime as ort

            from . import __version__
            models = {}
            for name, model in (("landmarks", self.landmarks), ("detector", self.detector)):
                path = getattr(model, "model_path", None)
                info: dict = {"path": None, "sha256": None}
                if path is not None and Path(path).is_file():
                    digest = hashlib.sha256()
                    with open(path, "rb") as f:
                        for block in iter(lambda: f.read(1 << 20), b""):
                            digest.update(block)
                    info = {"path": str(Path(path).resolve()), "sha256": digest.hexdigest()}
                else:
                    info["object"] = type(model).__name__
                meta = getattr(model, "meta", None) or {}
                info.update({k: meta[k] for k in self.DESCRIBED_METADATA if k in meta})
                session = getattr(model, "session", None)
                info["providers"] = list(session.get_providers()) if session is not None else None
                info["threads"] = (session.get_session_options().intra_op_num_threads
                                   if session is not None else None)
                models[name] = info
            # paths as strings, numpy scalars (a np.bool_ passes validate()) as Python ones
            options = {k: (os.fspath(v) if isinstance(v, os.PathLike) else v.item() if isinstance(v, np.generic)
                           else v) for k, v in dataclasses.asdict(self.options).items()}
            # through JSON once: whatever is kept is JSON-ready, and each call gets its own copy
            self._description = json.dumps({"version": __version__, "onnxruntime": ort.__version__,
                                            "models": models, "options": options})
        return json.loads(self._description)

    # -- state ---------------------------------------------------------------------------------
    def reset(self) -> None:
        """Forget all tracks (start of a new video): track ids, the frame index and the clock start
        again from 0, as in a new tracker (an application keeping per-track state by id across
        videos clears it here too). Waits for a ``process`` call running in another thread to finish."""
        with self._busy:
            self._busy_with = "reset()"
            self._reset()

    def _reset(self) -> None:
        o = self.options
        # frame_rate: the associator's per-frame quantities, tuned at 30 fps, keep their meaning in
        # seconds (side memory 5 s, gate growth and handedness votes per 1/30 s), and without
        # timestamps the filter takes frames 1/frame_rate s apart; None passes nothing, leaving the
        # defaults as they were
        per_frame: dict = {}
        kalman: dict = {}
        if o.frame_rate is not None:
            per_frame = {"side_memory": _frames_at(_ASSOCIATOR_DEFAULTS["side_memory"], o.frame_rate),
                         "gate_growth": _ASSOCIATOR_DEFAULTS["gate_growth"] * 30.0 / o.frame_rate,
                         "vote_weight": _ASSOCIATOR_DEFAULTS["vote_weight"] * 30.0 / o.frame_rate}
            kalman = {"default_dt": 1.0 / o.frame_rate}
        if o.smoothing:
            # its import (~0.7 s: scipy.stats with it) here, not on the first tracked hand's frame;
            # static mode smooths nothing and has no such frame (a photo run started 0.6 s sooner)
            if not o.static_image_mode:
                load_filterpy()
            factory = lambda: make_filter("kalman", strength=o.smoothing_strength, **kalman)  # noqa: E731
        else:
            factory = lambda: make_filter("none")  # noqa: E731
        self.associator = HandAssociator(max_hands=o.max_hands, filter_factory=factory, max_missed=self._max_missed,
                                         side_lock=o.side_lock, second_hand_min_spread=COLLAPSED_SPREAD,
                                         **per_frame)
        self._frame_index = 0
        #: (timestamp_ms, frame index) of the last frame given a timestamp: the decrease check's
        #: reference, and the clock that a frame without one is reported on (see _process)
        self._last_given: tuple[float, int] | None = None
        self._ts_first: tuple[float, int] | None = None     # (first timestamp, frames since): see _check_clock
        self._ts_repeat: tuple[float, int] | None = None    # (timestamp, frames in a row it was given)
        self._clock_stopped_warned = False
        self._clock_type_warned = False
        self._recent_counts: collections.deque[int] = collections.deque(maxlen=max(self._redetection_frames, 1))
        self._frame_size: tuple[int, int] | None = None
        self._restart_tracks()

    def _restart_tracks(self) -> None:
        """End every track (ids keep counting up) but keep the frame count and timestamps."""
        self.associator.reset()
        self._detector_misses = 0
        self._frames_since_detector = 10 ** 9
        self._detector_runs = self._lost_runs = self._tracked_runs = 0
        #: the turn of the look that last found a new hand while none was tracked, and the turn of
        #: this frame's such look (None: none ran); see _turns_for_run
        self._camera_turn: int = 0
        self._cycle_turn: int | None = None
        self._recent_counts.clear()
        #: track id -> frame index of its last unsure-keypoints check (see _refresh_suspects)
        self._last_check: dict[int, int] = {}
        #: (keypoint box, last frame index to avoid it) of detector fits taken for a tracked hand's
        #: finger (see _process_video)
        self._finger_boxes: list[tuple[np.ndarray, int]] = []
        #: (score threshold, detections) of this frame's detector run, if any (see _frame_detections)
        self._frame_dets: tuple | None = None
        #: ids of the tracks shown in a result (see _side_settled)
        self._shown: set[int] = set()

    def _base_threshold(self) -> float | None:
        """The threshold for new hands: ``min_detection_confidence``, or the detector's calibrated
        one (None when neither is known)."""
        thr = self.options.min_detection_confidence
        return getattr(self.detector, "default_threshold", None) if thr is None else thr

    def _detection_threshold(self, n_tracked: int) -> float | None:
        """The detector threshold for new hands this frame: ``min_redetection_confidence`` while
        fewer hands are tracked than within the last ``redetection_frames`` frames (None: the
        detector's own calibrated threshold, or ``min_detection_confidence``)."""
        o = self.options
        base = self._base_threshold()
        if self._redetection_frames and self._redetection_quota(n_tracked) > 0:
            if base is None or o.min_redetection_confidence < base:
                return o.min_redetection_confidence
        return o.min_detection_confidence

    def close(self) -> None:
        """Release the models this tracker loaded. Further ``process`` calls raise RuntimeError. Waits
        for a ``process`` call running in another thread to finish."""
        with self._busy:
            self._busy_with = "close()"
            self._close()

    def _close(self) -> None:
        for m in self._own_models:
            try:
                m.close()
            except Exception:  # pragma: no cover - closing must not raise
                log.debug("closing %r failed", m, exc_info=True)
        self._own_models = []
        self.closed = True

    def __enter__(self) -> "HandTracker":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- main ----------------------------------------------------------------------------------
    def process(self, frame_bgr: np.ndarray, timestamp_ms: float | np.floating | np.integer | None = None
                ) -> HandTrackerResult:
        """Find and track the hands of one frame.

        Args:
            frame_bgr: HxWx3 uint8 BGR image, RGB with ``color_order="rgb"`` (see the module
                docstring for accepted conversions).
            timestamp_ms: frame time in milliseconds (video mode: drives the smoothing dt; must
                not decrease). None: frames are taken to be 1/30 s apart (1/``frame_rate`` s when
                set). Wall-clock values
                (``time.time() * 1000``) are fine as float64; a numpy float32 holding them only to
                1 ms or coarser is warned of once.

        Returns:
            :class:`HandTrackerResult` with ``hands`` (possibly empty).

        Raises:
            RuntimeError: the tracker is closed, or ``process`` is running in another thread at the
                same time (one tracker follows one stream: use one tracker per thread or camera).

        A call that raises part-way (a model failing on this frame) leaves the tracks, the
        detector's schedule and the last timestamp as they were: the next call runs as if it had
        not been made, except that a frame of a new size (video mode) has ended the tracks.
        """
        if not self._busy.acquire(blocking=False):
            # named: a process call racing the application's own reset() or close() is another bug
            # than two threads feeding one tracker
            raise RuntimeError(f"HandTracker.{self._busy_with} is running in another thread: a tracker follows "
                               "one stream, use one HandTracker per thread")
        self._busy_with = "process"
        try:
            return self._process(frame_bgr, timestamp_ms)
        finally:
            self._busy.release()

    #: the per-frame state a ``process`` call changes before the models have answered, restored
    #: when the call raises (see _process): the clock checks' timestamps, the detector's back-off
    #: and turns, the unsure hands' last checks, the finger boxes, the recent hand counts. State
    #: that a frame changes before associator.update belongs here.
    _FRAME_STATE = ("_last_given", "_ts_first", "_ts_repeat", "_frames_since_detector", "_detector_misses",
                    "_detector_runs", "_lost_runs", "_tracked_runs", "_camera_turn", "_cycle_turn",
                    "_last_check", "_finger_boxes", "_recent_counts")

    #: timestamped video frames after which the clock is checked once (see _check_clock)
    CLOCK_CHECK_FRAMES = 10

    def _check_clock(self, ts: float) -> None:
        """Warn once when the first ``CLOCK_CHECK_FRAMES`` timestamps of a video advance by less
        than 1 ms per frame: they are then seconds rather than milliseconds, or a camera's
        position that stays 0 (OpenCV's ``CAP_PROP_POS_MSEC`` on many webcams). The smoothing
        takes dt from them, and such a clock put its keypoints a median 13 px (p90 26 px) off
        those smoothed on the real clock on huytung_volctl (session 31); ``None`` assumes 30 fps.
        A clock that stops later on (the same timestamp ``CLOCK_CHECK_FRAMES`` frames in a row)
        is warned of once too: the smoothing then trails a moving hand by about a palm size.
        Shorter runs of equal timestamps (a coarse clock) are allowed without a word."""
        if self._ts_repeat is not None and ts == self._ts_repeat[0]:
            self._ts_repeat = (ts, self._ts_repeat[1] + 1)
        else:
            self._ts_repeat = (ts, 1)
        if self._ts_repeat[1] >= self.CLOCK_CHECK_FRAMES and not self._clock_stopped_warned:
            self._clock_stopped_warned = True
            log.warning("timestamp_ms has stayed at %g for %d frames: the smoothing needs the frames' "
                        "real times in milliseconds; pass None to assume 30 fps (a webcam's "
                        "CAP_PROP_POS_MSEC is often 0)", ts, self._ts_repeat[1])
        if self._ts_first is None:
            self._ts_first = (ts, 1)
            return
        first, n = self._ts_first
        if n >= self.CLOCK_CHECK_FRAMES:      # checked already: nothing more to count
            return
        n += 1
        self._ts_first = (first, n)
        if n < self.CLOCK_CHECK_FRAMES:
            return
        per_frame = (ts - first) / (n - 1)
        if 0 < per_frame < 1.0:      # 0: a clock that has not moved, warned of above
            log.warning("timestamp_ms advances %.3g ms per frame over %d frames (over 1000 fps): "
                        "timestamp_ms takes milliseconds; are these seconds (multiply by 1000)?", per_frame, n)
        elif self.options.frame_rate is None and 1.0 <= per_frame < 1000.0 / FAST_STREAM_FPS:
            # the frame counts' defaults were tuned at ~30 fps: at 60 fps a hand hidden for 0.3 s
            # came back with a new track id (2 of 9 on the shared clips, 9 of 9 with frame_rate)
            log.warning("the frames come at about %.0f fps (timestamp_ms): max_missed, detector_interval and "
                        "redetection_frames count frames tuned at 30 fps, so a hidden hand keeps its id for "
                        "%.2f s; pass frame_rate=%.0f (CLI --frame-rate auto) to keep their durations",
                        1000.0 / per_frame, self._max_missed * per_frame / 1000.0, 1000.0 / per_frame)

    def _check_clock_type(self, timestamp_ms) -> None:
        """Warn once when ``timestamp_ms`` is a numpy float narrower than float64 whose value it
        holds only to 1 ms or coarser: a float32 camera clock after days of uptime (1e9 ms, to 64 ms)
        gives frames 33 ms apart as 0 or 64 ms apart, which the smoothing takes as dt (keypoints up to
        150 px off those of the real clock on huytung_2hand), and no other check sees it."""
        dtype = getattr(timestamp_ms, "dtype", None)
        if self._clock_type_warned or dtype is None or not np.issubdtype(dtype, np.floating):
            return
        step = float(np.spacing(np.abs(np.asarray(timestamp_ms))))
        if step >= 1.0:
            self._clock_type_warned = True
            log.warning("timestamp_ms is a numpy %s (%g): at that size it holds times only to %g ms, too "
                        "coarse for the frames' times that the smoothing takes dt from; pass a float64 "
                        "or a Python float", dtype, float(timestamp_ms), step)

    def _process(self, frame_bgr: np.ndarray, timestamp_ms: float | np.floating | np.integer | None
                 ) -> HandTrackerResult:
        if self.closed:
            raise RuntimeError("HandTracker is closed")
        t0 = time.perf_counter()
        frame = prepare_frame(frame_bgr, self.options.color_order)
        if timestamp_ms is not None:
            try:
                # text and booleans are not times, though float() takes "5" and True
                if isinstance(timestamp_ms, (str, bytes, bytearray, bool, np.bool_)):
                    raise TypeError
                ts = float(timestamp_ms)
            except (TypeError, ValueError, OverflowError):      # OverflowError: an int beyond float's range
                raise ValueError(f"timestamp_ms must be a number (milliseconds) or None, got {timestamp_ms!r}") from None
            if not math.isfinite(ts):
                raise ValueError(f"timestamp_ms must be finite, got {timestamp_ms!r}")
            if not self.options.static_image_mode and self._last_given is not None and ts < self._last_given[0]:
                raise ValueError(f"timestamp_ms must not decrease: got {ts} after {self._last_given[0]} "
                                 "(a new video? call tracker.reset() first)")
        if not self.options.static_image_mode:
            size = (frame.shape[1], frame.shape[0])
            if self._frame_size is not None and size != self._frame_size:
                # The tracks' crops and filters are in the old frame's pixels: kept, they would hold the
                # slots (so the detector would not run) while pointing at the wrong places. A new size is
                # likely a new source, so the detector's back-off restarts too. Done before the state
                # is saved below: the restart stands when this call fails (the tracks are gone).
                log.info("frame size changed from %dx%d to %dx%d: tracks restart", *self._frame_size, *size)
                self._restart_tracks()
            self._frame_size = size
        # A call that raises from here on (a model failing on this frame) restores the per-frame
        # state it changed, so that the next call runs as if it had not been made: the detector's
        # back-off had counted the failed frame (or restarted its count for the run that failed),
        # and the next frames skipped the detector, or an unsure hand's check, for up to
        # detector_interval frames. The tracks change only in associator.update, the last step.
        saved = {name: copy.copy(getattr(self, name)) for name in self._FRAME_STATE}
        try:
            if timestamp_ms is not None:
                self._last_given = (ts, self._frame_index)
                if not self.options.static_image_mode:
                    self._check_clock(ts)
                    self._check_clock_type(timestamp_ms)
            # The detections kept for reuse within one frame (_frame_detections) are this frame's
            # only: cleared here rather than keyed by the frame index, which a call that raised
            # part-way did not advance, so the next frame re-measured its hands in crops of
            # detections made on the failed frame's image.
            self._frame_dets = None
            if self.options.static_image_mode:
                hands, ran = self._process_static(frame), True
            else:
                hands, ran = self._process_video(frame, timestamp_ms)
        except BaseException:
            for name, value in saved.items():
                setattr(self, name, value)
            raise
        # left first by the reported side, which ``mirrored`` swaps (both paths order by the image's
        # sides); the sort is stable, so same-side hands keep their order
        hands.sort(key=lambda h: SIDES.index(h.side))
        if timestamp_ms is not None:
            t_ms = ts
        else:
            # one frame time after the frame before, as the smoothing takes it: counted from the
            # last timestamp given (from 0 at frame 0 when none was), so a stream that loses its
            # clock now and then is not reported going back to frame_index / fps
            t_ms, index = self._last_given or (0.0, 0)
            t_ms += (self._frame_index - index) * 1000.0 / self._assumed_fps
        result = HandTrackerResult(
            hands=hands, frame_index=self._frame_index, timestamp_ms=t_ms,
            image_size=(frame.shape[1], frame.shape[0]), detector_ran=ran,
            elapsed_ms=(time.perf_counter() - t0) * 1000.0)
        self._frame_index += 1
        return result

    # -- internals -----------------------------------------------------------------------------
    def _detect(self, frame: np.ndarray, avoid_boxes: list[np.ndarray], slots: int,
                threshold: float | None = None, tracked_rois: Sequence[Roi] = (), between: bool = False,
                turns: tuple[int, ...] | None = None, tracked_boxes: Sequence[np.ndarray] = ()
                ) -> tuple[list[Roi], list[float | None], list[float | None]]:
        """Crops of new hands: (rois, the mean keypoint confidence each needs from the landmark
        model: None above the threshold, ``low_detection_keypoint_score`` for a low detection,
        and per crop the bar that applies instead when it is one of the lowered threshold's hands
        left over by the quota, see :meth:`_limit_lowered`; None: the quota does not apply). A low
        detection centred inside a tracked hand's crop is left out: there it is most often a part
        of that hand or its arm (a raised finger, the forearm below the wrist). ``turns``: look in
        these quarter turns instead of those of :meth:`_turns_for_run`. ``tracked_boxes``: the tracked
        hands' keypoint boxes (x0 y0 x1 y1 pixels, their sure points), for :data:`LARGE_COVER_SHARE`."""
        o = self.options
        query = self._new_hand_query(threshold)
        if turns is None:
            turns = self._turns_for_run(tracked_rois, between)
        kw: dict = {"turns": turns} if turns != (0,) else {}
        if tracked_rois and not LARGE_PASS_WHILE_TRACKED and getattr(self.detector, "large_hands", False):
            kw["large_hands"] = False
        dets = self.detector(frame, score_threshold=query, max_detections=max(4, o.max_hands + 2), **kw)
        self._frame_dets = (query, dets)
        return self._select_new(dets, avoid_boxes, slots, threshold, tracked_rois, tracked_boxes)

    def _turns_for_run(self, tracked_rois: Sequence[Roi], between: bool = False) -> tuple[int, ...]:
        """The quarter turns the detector looks in on this run (``detector_turns``): every one in
        static mode; in video mode one per run (so a frame costs at most one look).

        While a hand is tracked: the turn that makes the tracked hands upright (both hands in a
        view mostly point the way the camera is turned), and when that is not the camera's turn,
        every other run the camera's turn. While none is: the camera's turn (that of
        the look which last found a new hand; upright at first) on the runs of the default
        schedule, so an upright view is searched on the same frames as with ``detector_turns=1``,
        and the other turns in rotation on the ``between`` runs (the first frame after each of
        those that the back-off skips, see :meth:`_process_video`). While a lost hand is
        remembered (the detector then runs on every frame), every other run looks in the turn
        that made that hand upright, from its smoothed keypoints, when it is not the camera's.
        With ``detector_interval=1`` no frame is skipped: every other run is in the camera's
        turn and the runs between in the other turns."""
        o = self.options
        self._cycle_turn = None
        turns = DETECTOR_TURNS[self.detector_turns]
        if len(turns) == 1 or o.static_image_mode:
            return turns
        if tracked_rois:
            self._detector_runs = 0
            want = _upright_turn([r.angle for r in tracked_rois], turns)
            if want == self._camera_turn:
                return (want,)
            # every other run in the camera's turn: a tracked hand held sideways kept an upright
            # second hand from being looked for at all (synthetic motion clips, session 66: 7-16
            # fewer hand-frames found on three of them)
            i = self._tracked_runs
            self._tracked_runs += 1
            return (want if i % 2 == 0 else self._camera_turn,)
        self._tracked_runs = 0
        others = [t for t in turns if t != self._camera_turn]
        if between or self._detector_interval == 1:
            i = self._detector_runs
            self._detector_runs += 1
            if between:
                turn = others[i % len(others)]
            else:
                turn = self._camera_turn if i % 2 == 0 else others[(i // 2) % len(others)]
            self._cycle_turn = turn
            return (turn,)
        self._cycle_turn = turn = self._camera_turn
        lost = [t for t in self.associator.tracks if not t.active]
        if not lost:
            self._lost_runs = 0
            return (turn,)
        # the smoothed keypoints, not the last crop: a hand is often lost after a bad last fit
        want = _upright_turn([hand_angle(t.keypoints) for t in lost], turns)
        i = self._lost_runs
        self._lost_runs += 1
        if want != self._camera_turn and i % 2 == 1:
            self._cycle_turn = turn = want
        return (turn,)

    def _frame_detections(self, min_score: float | None) -> list | None:
        """This frame's detections scored >= ``min_score`` (None: all) when the detector already ran
        on this frame at that score or lower; None when it did not (run it)."""
        c = self._frame_dets
        if c is None or c[0] is None or (min_score is not None and c[0] > min_score):
            return None
        return list(c[1]) if min_score is None else [d for d in c[1] if float(d.score) >= min_score]

    def _new_hand_query(self, threshold: float | None) -> float | None:
        """The lowest detector score that can start a new hand: the threshold, or
        ``low_detection_confidence`` below it."""
        o = self.options
        thr = self._base_threshold() if threshold is None else threshold
        if o.low_detection_confidence is not None and thr is not None and o.low_detection_confidence < thr:
            return o.low_detection_confidence
        return thr

    def _select_new(self, dets, avoid_boxes: list[np.ndarray], slots: int, threshold: float | None = None,
                    tracked_rois: Sequence[Roi] = (), tracked_boxes: Sequence[np.ndarray] = ()
                    ) -> tuple[list[Roi], list[float | None], list[float | None]]:
        """:meth:`_detect` on detections already made (best first; those under the new-hand query
        score are left out)."""
        o = self.options
        base = self._base_threshold()
        thr = base if threshold is None else threshold
        query = self._new_hand_query(threshold)
        lowered = threshold is not None and base is not None and threshold < base
        low = o.low_detection_confidence
        dets = sorted((d for d in dets if query is None or float(d.score) >= query), key=lambda d: -float(d.score))
        rois, needs, fallbacks = [], [], []
        for d in dets:
            box = np.asarray(d.box, np.float32)
            if any(_iou(box, b) > TRACKED_OVERLAP_IOU or self._center_inside(box, b) for b in avoid_boxes):
                continue
            score = float(d.score)
            sure = thr is None or score >= thr
            in_tracked = any(_inside_roi((box[:2] + box[2:]) / 2, r) for r in tracked_rois)
            turned, coarse = bool(getattr(d, "turn", 0)), float(getattr(d, "pass_scale", 1.0)) < 1.0
            if coarse and any(_covered_share(b, box) > LARGE_COVER_SHARE for b in tracked_boxes):
                continue
            if (not sure or turned or coarse) and in_tracked:
                # a low detection there is most often a finger or the forearm of that hand; so is
                # one from a turned look (detector_turns), which sees a raised finger as a hand
                # pointing down, and one from the large-hand pass (large_hands), which at half
                # the size sees the tracked hand and its forearm as one larger hand
                continue
            fallback = None
            if sure and lowered and base is not None and score < base:
                # in only by the lowered threshold: beyond the quota, a low detection's bar or out
                can_be_low = low is not None and low <= score and not in_tracked
                fallback = float(o.low_detection_keypoint_score) if can_be_low else math.inf
            rois.append(d.roi(self.roi_scale))
            needs.append(None if sure else float(o.low_detection_keypoint_score))
            fallbacks.append(fallback)
            avoid_boxes = avoid_boxes + [box]
            if len(rois) >= slots:
                break
        return rois, needs, fallbacks

    def _redetection_quota(self, n_tracked: int) -> int:
        """How many new hands the lowered threshold may start this frame: as many as vanished
        (the most hands seen within ``redetection_frames`` frames less those tracked now)."""
        if not self._recent_counts:
            return 0
        return max(max(self._recent_counts) - n_tracked, 0)

    def _limit_lowered(self, meas: Sequence[Measurement | None], fallbacks: Sequence[float | None],
                       quota: int) -> list[Measurement]:
        """Keep at most ``quota`` of the hands that only the lowered threshold let in, those the
        landmark model is surest of (presence x mean keypoint confidence); each of the others
        stays only when its mean keypoint confidence reaches its fallback bar, and then as a low
        detection's tentative hand. ``meas`` (None: no hand in that crop) and ``fallbacks`` are
        parallel (see :meth:`_detect`).

        The lowered threshold is for the hands that vanished. Without the quota, a single hand lost
        for one frame let every weak detection in (on the shared clips under JPEG / greyscale /
        noise, a thumb or a finger of that hand as a second hand), and that second hand then kept
        the threshold lowered. The choice is the landmark model's, not the detector's score: the
        best weak detection is often not the hand (upside-down clips: a detection at 0.36 with no
        hand in it beside the hand's at 0.22)."""
        which = sorted(((i, m, f) for i, (m, f) in enumerate(zip(meas, fallbacks)) if m is not None and f is not None),
                       key=lambda imf: -imf[1].quality())
        out = list(meas)
        for i, m, fallback in which[quota:]:
            if float(np.mean(m.scores)) >= fallback:
                out[i] = dataclasses.replace(m, tentative=True)
            else:
                log.debug("a weak detection beyond the re-detection quota dropped (confidence %.2f)",
                          float(np.mean(m.scores)))
                out[i] = None
        return [m for m in out if m is not None]

    @staticmethod
    def _center_inside(a: np.ndarray, b: np.ndarray) -> bool:
        cx, cy = (a[0] + a[2]) / 2, (a[1] + a[3]) / 2
        return bool(b[0] <= cx <= b[2] and b[1] <= cy <= b[3])

    @overload
    def _measure(self, frame: np.ndarray, rois: list[Roi], owners: Sequence[int | None],
                 keep_order: Literal[False] = ..., needs: list[float | None] | None = ...) -> list[Measurement]: ...

    @overload
    def _measure(self, frame: np.ndarray, rois: list[Roi], owners: Sequence[int | None],
                 keep_order: Literal[True], needs: list[float | None] | None = ...) -> list[Measurement | None]: ...

    def _measure(self, frame: np.ndarray, rois: list[Roi], owners: Sequence[int | None],
                 keep_order: bool = False, needs: list[float | None] | None = None
                 ) -> list[Measurement] | list[Measurement | None]:
        """Landmarks in each crop, dropping what is no hand; with ``keep_order`` a dropped crop
        gives None in its place instead of being left out. ``needs``: per crop, None or the mean
        keypoint confidence below which it is dropped too (a low detection's check, see ``_detect``);
        a crop with a need gives a tentative measurement (reported once seen again, video mode).
        Hands from detector crops (owner None) are refined (``HandTrackerOptions.refine_score``)."""
        if not rois:
            return []
        needs = [None] * len(rois) if needs is None else needs
        out: list[Measurement | None] = []
        short = []        # low detections just short of their bar: kept only if their second look clears it
        for i, (r, owner, need) in enumerate(zip(self.landmarks(frame, rois), owners, needs)):
            bar = need if need is None or owner is not None else need - LOW_DETECTION_SECOND_LOOK
            m = self._check(frame, r, owner, bar)
            if m is not None and need is not None and bar != need and not float(np.mean(m.scores)) >= need:
                short.append(i)
            out.append(m)
        if self.options.turn_retry:
            # a detector crop with no hand in it: the detector's orientation cue may point the
            # wrong way (a hand pointing down); look once more with the crop turned round
            retry = [i for i, (m, owner) in enumerate(zip(out, owners)) if m is None and owner is None]
            turned = [Roi(rois[i].cx, rois[i].cy, rois[i].size, rois[i].angle + math.pi) for i in retry]
            for i, r in zip(retry, self.landmarks(frame, turned) if turned else []):
                out[i] = self._check(frame, r, None, needs[i])
        out = self._refine(frame, out, owners, needs, short)
        return out if keep_order else [m for m in out if m is not None]

    def _check(self, frame: np.ndarray, r, owner: int | None, need: float | None) -> Measurement | None:
        """One crop's :class:`tracker.landmarks.LandmarkResult` as a measurement, or None when it is
        no hand (presence, a low detection's keypoint bar ``need``, size and edge rules)."""
        # copies: a backend may write its next answers into the same arrays (fixed output buffers),
        # which changed this frame's first measurements when refined, and static results later on
        k = np.array(r.keypoints, np.float32)
        scores = np.array(r.scores, np.float32)
        mean_score = float(np.mean(scores))
        edge = EDGE_CROP_OUTSIDE if owner is not None else NEW_HAND_EDGE_OUTSIDE
        min_px = self.options.min_hand_size * min(frame.shape[:2])
        if not float(r.presence) >= self.options.min_tracking_confidence \
                or (need is not None and not mean_score >= need) \
                or not float(np.max(k.max(0) - k.min(0))) >= min_px \
                or (mean_score < self.options.min_edge_keypoint_score
                    and outside_fraction(r.roi, frame.shape[1], frame.shape[0]) >= edge):
            # no hand; tiny (collapsed or NaN) keypoints; a hand that has left the frame,
            # or not yet come in
            return None
        return Measurement(k, scores, float(r.presence), float(r.right_prob),
                           r.roi, owner, tentative=need is not None)

    def _refine(self, frame: np.ndarray, meas: list[Measurement | None], owners: Sequence[int | None],
                needs: list[float | None], short: Sequence[int] = ()) -> list[Measurement | None]:
        """Measure hands from detector crops whose mean keypoint confidence is under the refine
        threshold again in the crop of their own keypoints (in video mode grown to
        ``min_crop_palms`` as the next frame's tracking crop is); the new measurement replaces the first
        when it passes the same checks and is not less sure by more than :data:`REFINE_TOLERANCE`.
        ``meas``, ``owners`` and ``needs`` are parallel (None in ``meas``: no hand there).
        ``short``: indices of low detections whose first fit fell short of its need
        (:data:`LOW_DETECTION_SECOND_LOOK`): each gets this second look whatever the refine
        threshold, and is dropped unless the look clears its need."""
        thr = float(self.options.refine_score)
        which: list[tuple[int, float]] = []       # (index, mean keypoint confidence of the first)
        rois = []
        for i, (m, owner) in enumerate(zip(meas, owners)):
            if m is None or owner is not None or not (float(np.mean(m.scores)) < thr or i in short):
                continue
            roi = self._keypoint_roi(m.keypoints, m.scores)
            if not self.options.static_image_mode:
                # the crop tracking cuts for this hand on the next frame, grown as a tracked hand's
                # is: framed from a fit that missed the fingers, it would cut them off again
                roi = self._palm_floor(roi, m.keypoints, float(palm_size(m.keypoints)))
            if roi is not None:
                which.append((i, float(np.mean(m.scores))))
                rois.append(roi)
        meas = list(meas)
        cleared = set()
        for (i, first), r in zip(which, self.landmarks(frame, rois) if rois else []):
            new = self._check(frame, r, None, needs[i])
            if new is not None and float(np.mean(new.scores)) >= first - REFINE_TOLERANCE:
                meas[i] = new
                cleared.add(i)
        for i in short:
            if i not in cleared:
                meas[i] = None
        return meas

    def _keypoint_roi(self, kps: np.ndarray, scores: np.ndarray) -> Roi | None:
        """The crop around (17, 2) pixel keypoints, framed from the sure ones (>= 0.3; all when
        fewer than 5 are); None when the keypoints give none."""
        vis = np.asarray(scores) >= 0.3
        if vis.sum() < 5:
            vis = np.ones_like(vis)
        try:
            return roi_from_keypoints(kps, vis, scale=self.roi_scale)
        except ValueError:
            return None

    def _mark_fingers(self, meas: list[Measurement], start: int = 0) -> None:
        """Remember the keypoint boxes of those of ``meas[start:]`` that are fingers or parts of a
        hand (:meth:`HandAssociator.finger_mask` over all of ``meas``): they are not
        measured again for :data:`FINGER_MEMORY` frames (at 30 fps) while a hand is tracked."""
        fingers = self.associator.finger_mask(meas)[start:]
        self._finger_boxes += [(_box(m.keypoints), self._frame_index + self._finger_memory)
                               for m, finger in zip(meas[start:], fingers) if finger]

    def _refresh_suspects(self, frame: np.ndarray, meas: list[Measurement]) -> tuple[list[Measurement], bool]:
        """Measure tracked hands again in the crop of a detection that covers them when their
        keypoints look collapsed (:data:`COLLAPSED_SPREAD`, every frame) or unsure (mean confidence
        under :data:`UNSURE_SCORE`, every :data:`UNSURE_INTERVAL` frames at 30 fps per track). The new
        measurement replaces the old one only when it is clearly better: a spread ratio larger by
        :data:`REFRESH_SPREAD_GAIN` for a collapsed hand, at a mean confidence lower by at most
        :data:`REFRESH_COLLAPSED_DROP` (or lower still, down to :data:`REFRESH_WHOLE_SCORE`, when it is
        the whole hand the detection boxed); for an unsure one a mean confidence
        higher by :data:`REFRESH_SCORE_GAIN` and at least :data:`REFRESH_SURE_SCORE`, and not
        collapsed. Hands from low detections not yet confirmed are left to their own crop's check.
        A detection that covers another tracked hand better is not used (it would move this track
        onto that hand). Returns (measurements, whether the detector ran for it)."""
        owner = {i: m.track_id for i, m in enumerate(meas) if m.track_id is not None}
        tracked = list(owner)
        spread = {i: spread_ratio(meas[i].keypoints) for i in tracked}
        score = {i: float(np.mean(meas[i].scores)) for i in tracked}
        collapsed = {i for i in tracked if spread[i] < COLLAPSED_SPREAD}
        # A hand still to be confirmed by its own crop (a low detection's) is left to that check.
        confirmed = {t.track_id for t in self.associator.tracks if t.confirmed}
        unsure = {i for i in tracked if score[i] < UNSURE_SCORE and owner[i] in confirmed
                  and self._frame_index - self._last_check.get(owner[i], -10 ** 9) >= self._unsure_interval}
        live = {t.track_id for t in self.associator.tracks}
        self._last_check = {k: v for k, v in self._last_check.items() if k in live}
        suspects = sorted(collapsed | unsure)
        if not suspects:
            return meas, False
        for i in unsure:
            self._last_check[owner[i]] = self._frame_index
        # The hand is there (it is tracked): the detection only proposes a crop, so the lower
        # re-detection threshold applies; the landmark checks of _measure still do. When the
        # detector already ran on this frame (for new hands) at that threshold or lower, its
        # detections are reused rather than running it twice.
        thr = self.options.min_redetection_confidence
        dets = self._frame_detections(thr)
        ran = dets is None
        if dets is None:
            dets = self.detector(frame, score_threshold=thr, max_detections=max(4, self.options.max_hands + 2))
            self._frame_dets = (thr, dets)
        boxes = {i: _box(meas[i].keypoints) for i in tracked}
        rois, owners, which, det_boxes = [], [], [], []
        for i in suspects:
            cands = []
            for d in dets:
                db = np.asarray(d.box, np.float32)
                iou = _iou(boxes[i], db)
                if not (iou > 0.1 or self._center_inside(boxes[i], db)):
                    continue
                if any(_iou(boxes[j], db) > iou for j in tracked if j != i):
                    continue
                cands.append(d)
            if cands:
                d = max(cands, key=lambda d: float(d.score))
                rois.append(d.roi(self.roi_scale))
                owners.append(meas[i].track_id)
                which.append(i)
                det_boxes.append(np.asarray(d.box, np.float32))
        if not rois:
            return meas, ran
        meas = list(meas)
        for i, new, det_box in zip(which, self._measure(frame, rois, owners, keep_order=True), det_boxes):
            if new is None:
                continue
            new_spread, new_score = spread_ratio(new.keypoints), float(np.mean(new.scores))
            less_collapsed = i in collapsed and new_spread >= spread[i] + REFRESH_SPREAD_GAIN \
                and (new_score >= score[i] - REFRESH_COLLAPSED_DROP
                     or _whole_hand(new.keypoints, new_score, boxes[i], det_box))
            surer = i in unsure and new_score >= max(score[i] + REFRESH_SCORE_GAIN, REFRESH_SURE_SCORE) \
                and new_spread >= COLLAPSED_SPREAD
            if less_collapsed or surer:
                log.debug("track %d measured again in the detector's crop (spread %.2f -> %.2f, "
                          "confidence %.2f -> %.2f)", meas[i].track_id, spread[i], new_spread,
                          score[i], new_score)
                meas[i] = new
        return meas, ran

    def _track_roi(self, tr: Track, t_s: float | None) -> Roi | None:
        kps = tr.raw_keypoints
        pred = tr.filter.peek(t_s) if hasattr(tr.filter, "peek") else None
        if pred is not None:
            # Shift the crop by the predicted motion of the hand (at most one palm size).
            shift = np.nanmean(pred - tr.keypoints, axis=0)
            n = float(np.hypot(*shift))
            if np.isfinite(n) and n > 0:
                shift = shift * min(1.0, tr.palm / n)
                kps = kps + shift
        return self._held(tr, self._palm_floor(self._keypoint_roi(kps, tr.scores), tr.raw_keypoints, tr.palm, tr))

    def _held(self, tr: Track, roi: Roi | None) -> Roi | None:
        """The crop track ``tr`` was last measured in (``tr.roi``) instead of ``roi`` while the two
        differ by less than ``crop_hold`` (see :class:`HandTrackerOptions`): centre and side within
        that fraction of the last crop's side, angle within ``100 * crop_hold`` degrees. Only for a
        hand seen on the frame before; ``roi`` unchanged when the option is 0."""
        hold = float(self.options.crop_hold)
        last = tr.roi
        if hold <= 0.0 or roi is None or last is None or tr.missed:
            return roi
        turn = abs((roi.angle - last.angle + math.pi) % (2 * math.pi) - math.pi)
        if (math.hypot(roi.cx - last.cx, roi.cy - last.cy) < hold * last.size
                and abs(roi.size - last.size) < hold * last.size and turn < math.radians(100.0 * hold)):
            return last
        return roi

    def _palm_floor(self, roi: Roi | None, kps: np.ndarray, palm: float, tr: Track | None = None) -> Roi | None:
        """``roi`` (a crop for the hand whose last fit is ``kps``, (17, 2) pixels) grown to
        ``min_crop_palms`` times the hand's palm size ``palm`` (pixels: a track's smoothed one, a new
        hand's own) toward the fingers (:func:`~tracker.geometry.grow_roi`), unless the grown crop
        holds more keypoints of another tracked hand (any but track ``tr``) than ``roi`` does: a
        crop reaching over a second hand can pull the fit onto it. A collapsed last fit is
        left as framed: folded fingers keep the palm and the hand's spread, but a fit whose own palm
        is under :data:`COLLAPSED_PALM` of ``palm`` has no fingers to keep in view (grown
        "toward" them, an empty crop's answer at its centre walked off the frame), and a line-like
        fit (spread under :data:`COLLAPSED_SPREAD`: collapsed onto one finger, left to
        :meth:`_refresh_suspects`) grows along that finger (ali_hand's thumbs-up lost its track and
        came back as a new one on the thumb, called left for 18 frames)."""
        side = float(self.options.min_crop_palms) * float(palm)
        if roi is None or not (math.isfinite(side) and roi.size < side):
            return roi
        own = float(palm_size(kps))
        if not own >= COLLAPSED_PALM * float(palm) or spread_ratio(kps) < COLLAPSED_SPREAD:
            return roi
        grown = grow_roi(roi, side)
        others = [o.raw_keypoints for o in self.associator.active_tracks if o is not tr]
        if others:
            pts = np.concatenate(others).astype(np.float64)
            pts = pts[np.isfinite(pts).all(1)]
            if _count_inside(pts, grown) > _count_inside(pts, roi):
                return roi
        return grown

    def _process_video(self, frame: np.ndarray, timestamp_ms: float | np.floating | np.integer | None
                       ) -> tuple[list[Hand], bool]:
        o = self.options
        size = (frame.shape[1], frame.shape[0])
        t_s = None if timestamp_ms is None else float(timestamp_ms) / 1000.0
        tracks = self.associator.active_tracks
        rois: list[Roi] = []
        owners: list[int | None] = []
        avoid: list[np.ndarray] = []
        needs: list[float | None] = []
        fallbacks: list[float | None] = []
        for tr in tracks:
            roi = self._track_roi(tr, t_s)
            if roi is not None:
                rois.append(roi)
                owners.append(tr.track_id)
                needs.append(None)
                fallbacks.append(None)
                avoid.append(_box(tr.raw_keypoints, tr.scores, 0.3))
        tracked_boxes = list(avoid)      # before the finger boxes join: the tracked hands' own
        # A detection that gave a finger of a tracked hand lately is not measured again while the
        # hand is tracked: it would take the new-hand slot (and re-detection quota) every frame
        # from a real second hand, and count as a find for the detector's back-off.
        self._finger_boxes = [(b, last) for b, last in self._finger_boxes if last >= self._frame_index] if rois else []
        avoid += [b for b, _ in self._finger_boxes]
        ran = between = False     # the detector's run on the default schedule / a turned look between
        slots = o.max_hands - len(rois)
        n_tracked, tracked_rois = len(rois), list(rois)
        if slots > 0:
            # Back off while the detector keeps finding no new hand, unless a hand was lost recently
            # (it is remembered for max_missed frames: look for it on every frame).
            lost = any(not t.active for t in self.associator.tracks)
            interval = 1 if (self._detector_misses < 2 or lost) else self._detector_interval
            self._frames_since_detector += 1
            if self._frames_since_detector >= interval:
                ran = True
                self._frames_since_detector = 0
            elif (not rois and self._frames_since_detector == 1 and self.detector_turns > 1
                  and self._detector_interval > 1):
                # detector_turns: on the first frame the back-off skips while no hand is tracked,
                # one look in another turn (see _turns_for_run); the default schedule's looks stay
                # in the camera's turn, so an upright view is searched as without turns
                between = True
            if ran or between:
                new, new_needs, new_fallbacks = self._detect(frame, avoid, slots, self._detection_threshold(len(rois)),
                                                             tracked_rois=tracked_rois, between=between,
                                                             tracked_boxes=tracked_boxes)
                rois += new
                owners += [None] * len(new)
                needs += new_needs
                fallbacks += new_fallbacks
        meas = self._limit_lowered(self._measure(frame, rois, owners, needs=needs, keep_order=True),
                                   fallbacks, self._redetection_quota(n_tracked))
        # Fingers are told after the refresh, as the associator tells them: a tracked hand's
        # collapsed fit replaced by an open one makes a line-like fit beside it a finger.
        meas, refreshed = self._refresh_suspects(frame, meas)
        self._mark_fingers(meas)
        detected = ran or between
        if refreshed and slots > 0 and not detected:
            # The detector ran for an unsure tracked hand on a frame the back-off skipped: its
            # detections may hold a new hand too (a hand coming back that only low detections find,
            # a few frames in a row at most). Offered as on a detector frame, at no extra run.
            thr = self._detection_threshold(n_tracked)
            dets = self._frame_detections(self._new_hand_query(thr))
            if dets is not None:
                new, new_needs, new_fallbacks = self._select_new(dets, list(avoid), slots, thr, tracked_rois,
                                                                 tracked_boxes)
                if new:
                    extra = self._limit_lowered(
                        self._measure(frame, new, [None] * len(new), needs=new_needs, keep_order=True),
                        new_fallbacks, self._redetection_quota(n_tracked))
                    meas = list(meas) + extra
                    self._mark_fingers(meas, start=len(meas) - len(extra))
        was_active = {t.track_id for t in tracks}
        active = self.associator.update(meas, t_s, frame_size=size)
        # The detector found something when a hand is tracked now that was not before this frame
        # (a new track, or a lost one back): a detection of a tracked hand (its forearm, the hand
        # seen whole by the large-hand pass) is measured as a new hand, then merged into the track
        # as a duplicate, and counted as a find it kept the detector running on every frame.
        appeared = any(t.track_id not in was_active for t in active)
        if appeared:
            self._detector_misses = 0
        elif ran:
            self._detector_misses += 1
        if appeared and detected and self._cycle_turn is not None:
            self._camera_turn = self._cycle_turn
        self._recent_counts.append(sum(t.hits >= self._redetection_min_hits for t in active))
        if len(active) < len(was_active):
            self._detector_misses = 0          # a hand was just lost: look for it at once
            self._frames_since_detector = 10 ** 9
        # A hand from a low detection is reported once its own crop has found it again: a false
        # one (a forearm the landmark model was just sure enough of) seldom survives that.
        shown = [t for t in active if t.confirmed and self._side_settled(t)]
        # Once shown, a hand stays shown while its track lives (lost and found again included):
        # side_wait holds back a new hand's first frames, and contact with the other hand, which
        # clears both hands' side evidence, made a hand shown on its first frame vanish on its second.
        alive = {t.track_id for t in self.associator.tracks}
        self._shown = {t.track_id for t in shown} | (self._shown & alive)
        return [self._hand(t) for t in shown], detected or refreshed

    def _side_settled(self, t: Track) -> bool:
        """Whether track ``t``'s side may be reported (``HandTrackerOptions.side_wait``): it is
        locked, its evidence for one side reaches :data:`SIDE_SETTLED`, it has waited long
        enough, or it was shown before."""
        return (t.locked or t.hits > self._side_wait or abs(t.evidence) >= SIDE_SETTLED
                or t.track_id in self._shown)

    def _hand(self, t: Track) -> Hand:
        side = t.side or ("right" if t.evidence >= 0 else "left")
        p_side = t.p_right if side == "right" else 1.0 - t.p_right
        if self.options.mirrored:
            side = mirror_side(side)
        # Copies: the track's own arrays make the next frame's crop and match. Shared with the
        # result, an application changing them in place (``hand.keypoints /= image_size``, a
        # selfie flip of x) moved the crop off the hand and lost it.
        kps = np.array(t.keypoints, np.float32)
        return Hand(side=side, track_id=t.track_id, score=float(t.presence), keypoints=kps,
                    raw_keypoints=np.array(t.raw_keypoints, np.float32),
                    scores=np.array(t.scores, np.float32), box=_box(kps), handedness=float(p_side))

    def _process_static(self, frame: np.ndarray) -> list[Hand]:
        o = self.options
        turns = DETECTOR_TURNS[self.detector_turns]
        fallback = o.turn_fallback and len(turns) > 1

        def look(in_turns: tuple[int, ...]) -> list[Measurement]:
            rois, needs, _ = self._detect(frame, [], o.max_hands + 1, turns=in_turns)
            return self.associator.merge_duplicates(self._measure(frame, rois, [None] * len(rois), needs=needs))

        meas = look(turns[:1] if fallback else turns)
        if fallback and not meas:
            meas = look(turns[1:])
        meas = sorted(meas, key=lambda m: -m.quality())[:o.max_hands]
        sides = ["right" if m.right_prob >= 0.5 else "left" for m in meas]
        if len(meas) == 2 and sides[0] == sides[1] and o.max_hands <= 2:
            # At most one of each: the more confident one keeps its label.
            conf = [abs(m.right_prob - 0.5) for m in meas]
            k = 1 if conf[0] >= conf[1] else 0
            sides[k] = "left" if sides[k] == "right" else "right"
        hands = []
        for m, side in zip(meas, sides):
            p_side = m.right_prob if side == "right" else 1.0 - m.right_prob
            if o.mirrored:
                side = mirror_side(side)
            kps = np.asarray(m.keypoints, np.float32)
            hands.append(Hand(side=side, track_id=-1, score=float(m.presence), keypoints=kps,
                              raw_keypoints=kps.copy(), scores=np.asarray(m.scores, np.float32),
                              box=_box(kps), handedness=float(p_side)))
        return hands
