"""Keypoint smoothing filters (one filter per track, made by a factory, norfair style).

``make_filter("kalman", **params)`` returns a fresh :class:`KalmanKeypointFilter`; the tracker
calls it once per new track, so every track owns its filter. ``make_filter("none")`` returns a
pass-through :class:`NoFilter` with the same interface.

The Kalman filter runs one independent filter per keypoint and axis (17 points x 2 axes = 34
filters), batched in numpy so one hand costs a few tens of microseconds. Each filter is a
constant-velocity (``order=2``; state position, velocity) or constant-acceleration (``order=3``)
model whose process noise comes from :func:`filterpy.common.Q_discrete_white_noise`; the update
equations are the standard Kalman ones (the tests check them against ``filterpy.kalman.KalmanFilter``).

Noise is expressed in *palm sizes* (``keypoints.palm_size``) so that one set of parameters fits a
hand of any size in the image:

* measurement noise std ``meas_noise * strength * palm / score``: confident points pull harder;
* points with ``score < min_score`` (or non-finite) are left out of the update (predict only),
  unless fewer than 3 points pass, then all finite points are used; a point left out moves with
  the mean velocity of the updated points and is re-anchored to its measurement when it strays
  more than one palm size from it while its (unsure) measurements agree from frame to frame;
* process noise (white acceleration, or jerk for ``order=3``) ``process_noise * palm`` per
  s^2 (s^3), its variance multiplied per point by
  ``1 + (speed / speed_ref)^2 + gain * max(0, d2 - 1)`` where ``speed`` is the filtered point
  speed in palm sizes per second and ``d2`` the normalised innovation squared of the last
  update. This is the One-Euro idea on top of the Kalman filter: a still hand gets heavy
  smoothing (jitter cut several times), a moving hand a light one (no visible lag), and a
  sudden start is caught within a frame by the innovation term;
* a new track starts at rest, its velocity prior ``init_speed`` palm sizes per second (std).

Time: ``update(..., t_s=...)`` takes the frame time in seconds; dt is the difference to the last
call (clamped to ``[1e-3, max_dt]``). Without timestamps dt is ``default_dt`` (1/30 s), and the
filter's clock moves on by that step: a timestamp after such frames counts only the time since
the last of them.
"""
from __future__ import annotations

import logging
import math

import numpy as np

from .checks import is_real
from .keypoints import NUM_KEYPOINTS, palm_size

log = logging.getLogger(__name__)

FILTER_KINDS = ("kalman", "none")


def load_filterpy():
    """filterpy's ``Q_discrete_white_noise``, imported on first use. Importing filterpy loads its
    whole package and with it scipy.stats (~1 s on a 2-core machine), which ``import tracker``
    (the CLI's --help, the training code, the benchmarks) need not pay. :class:`HandTracker` calls
    this when it is made with smoothing on, so no frame waits for the import."""
    from filterpy.common import Q_discrete_white_noise
    return Q_discrete_white_noise


class NoFilter:
    """Pass-through filter with the same interface as :class:`KalmanKeypointFilter`."""

    def __init__(self, **_: object) -> None:
        self._last: np.ndarray | None = None

    def update(self, keypoints: np.ndarray, scores: np.ndarray | None = None,
               t_s: float | None = None, palm: float | None = None) -> np.ndarray:
        """Returns ``keypoints`` (N, 2) as float32 (copy)."""
        self._last = np.array(keypoints, np.float32, copy=True)
        return self._last.copy()

    def predict(self, t_s: float | None = None) -> np.ndarray | None:
        """Last keypoints (no motion model), or None before the first update."""
        return None if self._last is None else self._last.copy()

    def peek(self, t_s: float | None = None) -> np.ndarray | None:
        """The same as :meth:`predict` (there is no state to leave unchanged)."""
        return self.predict(t_s)

    def reset(self) -> None:
        """Forget the last keypoints."""
        self._last = None


class KalmanKeypointFilter:
    """Batched per-keypoint Kalman filter (see the module docstring for the model).

    Args:
        order: 2 = constant velocity, 3 = constant acceleration.
        strength: multiplies the measurement noise; 0 disables smoothing (output = input, but a
            point left out of the update keeps its last value), larger values smooth more. 1 is
            the tuned default.
        meas_noise: measurement noise std at score 1, in palm sizes.
        process_noise: process noise std density (acceleration for order 2, jerk for order 3),
            in palm sizes per s^2 (per s^3).
        speed_ref: speed (palm sizes per second) at which the process noise variance doubles.
        innovation_gain: weight of the innovation (manoeuvre) term of the process noise.
        min_score: points below this score are not used in the update (predict only).
        default_dt: seconds between frames when no timestamps are given.
        max_dt: longest dt used in one prediction step (a long gap is clamped).
        num_keypoints: points per hand (17).
        reanchor_frames: after this many frames in a row left out of the update whose
            measurements agree (each within a palm size of the one before, taken relative to
            the point's estimate), a point more than one palm size from its measurement is
            reset to it; values that jump about are noise and never pull it.
        init_speed: spread (standard deviation) of a new track's velocity prior, in palm sizes
            per second. Wide, a hand that appears moving is followed from its second frame; but
            a new hand's first measurements come from crops still settling onto it (the
            detector's box, then its own keypoints), and their differences, taken for motion,
            make it overshoot there. 2 cut the default motion clips' still jitter by 9%
            (smoothed/raw 0.338 -> 0.301), not that of every larger set, at up to 1.4 points less
            PCK@0.1 on moving hands (docs/model_history.md, session 55).
    """

    def __init__(self, order: int = 2, strength: float = 1.0, meas_noise: float = 0.06,
                 process_noise: float = 5.0, speed_ref: float = 0.5,
                 innovation_gain: float = 4.0, min_score: float = 0.3,
                 default_dt: float = 1 / 30, max_dt: float = 0.5,
                 num_keypoints: int = NUM_KEYPOINTS, reanchor_frames: int = 5, init_speed: float = 5.0) -> None:
        if order not in (2, 3):
            raise ValueError(f"order must be 2 (constant velocity) or 3 (constant acceleration), got {order}")
        if not (is_real(strength) and 0 <= strength < math.inf):
            # NaN passed "< 0" and made every filtered keypoint NaN from the second frame on
            raise ValueError(f"strength must be a number >= 0, got {strength!r}")
        if not (is_real(init_speed) and 0 <= init_speed < math.inf):
            raise ValueError(f"init_speed must be a number >= 0 (palm sizes per second), got {init_speed!r}")
        self.order = order
        self.strength = float(strength)
        self.meas_noise = float(meas_noise)
        self.process_noise = float(process_noise)
        self.speed_ref = float(speed_ref)
        self.innovation_gain = float(innovation_gain)
        self.min_score = float(min_score)
        self.default_dt = float(default_dt)
        self.max_dt = float(max_dt)
        self.num_keypoints = int(num_keypoints)
        self.reanchor_frames = int(reanchor_frames)
        self.init_speed = float(init_speed)
        self._q_cache: dict[float, np.ndarray] = {}
        self.reset()

    # -- state ---------------------------------------------------------------------------------
    def reset(self) -> None:
        """Forget the state; the next update starts a new track."""
        m = self.num_keypoints * 2
        self.x = np.zeros((m, self.order))          # per (point, axis): pos, vel[, acc]
        self.P = np.zeros((m, self.order, self.order))
        self.d2 = np.zeros(m)                        # last normalised innovation squared
        # frames in a row left out of the update with agreeing measurements, and the last such
        # measurement's offset from the point's estimate (NaN: none)
        self.skipped_run = np.zeros(self.num_keypoints, np.int64)
        self.skipped_offset = np.full((self.num_keypoints, 2), np.nan)
        self.palm = 1.0
        self.t_s: float | None = None
        self.initialized = False

    @property
    def keypoints(self) -> np.ndarray | None:
        """Current filtered positions (N, 2) float32, None before the first update."""
        if not self.initialized:
            return None
        return self.x[:, 0].reshape(-1, 2).astype(np.float32)

    # -- model ---------------------------------------------------------------------------------
    def _F(self, dt: float) -> np.ndarray:
        if self.order == 2:
            return np.array([[1.0, dt], [0.0, 1.0]])
        return np.array([[1.0, dt, 0.5 * dt * dt], [0.0, 1.0, dt], [0.0, 0.0, 1.0]])

    def _Q_unit(self, dt: float) -> np.ndarray:
        key = round(dt, 6)
        q = self._q_cache.get(key)
        if q is None:
            # filterpy's discrete white noise model with unit variance; scaled per point below.
            q = load_filterpy()(dim=self.order, dt=dt, var=1.0)
            if len(self._q_cache) > 64:
                self._q_cache.clear()
            self._q_cache[key] = q
        return q

    def _dt(self, t_s: float | None) -> float:
        """Seconds from the filter's clock to ``t_s`` (None, or the clock unknown: ``default_dt``),
        clamped to ``[1e-3, max_dt]``."""
        if t_s is None or self.t_s is None:
            dt = self.default_dt
        else:
            dt = float(t_s) - self.t_s
        return float(min(max(dt, 1e-3), self.max_dt))

    def _advance_clock(self, t_s: float | None, dt: float) -> None:
        """Set the clock after a step of ``dt`` seconds to ``t_s``. Without a timestamp the clock,
        when known, moves on by ``dt``: left at the last timestamp, the next one's dt counted the
        frame time this step had taken again (t=0, None, t=2 frames: a dt of two frames)."""
        if t_s is not None:
            self.t_s = float(t_s)
        elif self.t_s is not None:
            self.t_s += dt

    def _predict_state(self, dt: float) -> tuple[np.ndarray, np.ndarray]:
        F = self._F(dt)
        x = self.x @ F.T
        vel = self.x[:, 1] / max(self.palm, 1e-6)
        speed = np.hypot(vel[0::2], vel[1::2]).repeat(2)   # per point, both axes
        scale = 1.0 + (speed / self.speed_ref) ** 2 + self.innovation_gain * np.maximum(self.d2 - 1.0, 0.0)
        q = (self.process_noise * self.palm) ** 2 * scale
        P = F @ self.P @ F.T + q[:, None, None] * self._Q_unit(dt)
        return x, P

    # -- public --------------------------------------------------------------------------------
    def peek(self, t_s: float | None = None) -> np.ndarray | None:
        """Predicted positions (N, 2) float32 at time ``t_s`` without changing the state."""
        if not self.initialized:
            return None
        # the positions of _predict_state alone: its covariance step is most of its cost, and the
        # tracker peeks twice per track and frame (the crop, the match)
        x = self.x @ self._F(self._dt(t_s)).T
        return x[:, 0].reshape(-1, 2).astype(np.float32)

    def predict(self, t_s: float | None = None) -> np.ndarray | None:
        """Advance the state to ``t_s`` with no measurement (a frame where the hand is missed)."""
        if not self.initialized:
            return None
        dt = self._dt(t_s)
        self.x, self.P = self._predict_state(dt)
        self.d2[:] = 0.0
        self._advance_clock(t_s, dt)
        return self.keypoints

    def update(self, keypoints: np.ndarray, scores: np.ndarray | None = None,
               t_s: float | None = None, palm: float | None = None) -> np.ndarray:
        """Feed one measurement and return the filtered keypoints.

        Args:
            keypoints: (N, 2) pixels of the frame (N = num_keypoints).
            scores: (N,) confidences in [0, 1]; all 1 when None (non-finite ones count as 0).
            t_s: frame time in seconds (None: ``default_dt`` after the previous call).
            palm: hand size in pixels (default: ``palm_size`` of the measurement), averaged with
                the earlier ones (0.8 old, 0.2 new); one not finite or <= 1 px keeps the last.

        Returns:
            (N, 2) float32 filtered pixel positions.
        """
        z = np.asarray(keypoints, np.float64).reshape(-1, 2)
        if z.shape[0] != self.num_keypoints:
            raise ValueError(f"keypoints must have shape ({self.num_keypoints}, 2), got {np.shape(keypoints)}")
        s = np.ones(self.num_keypoints) if scores is None else np.asarray(scores, np.float64).reshape(-1)
        # a NaN score would make the measurement noise, and with it the state, NaN for good
        s = np.where(np.isfinite(s), s, 0.0)
        # asarray: numpy's stubs type all(axis=...) as maybe a scalar; on (N, 2) it is an (N,) array
        finite = np.asarray(np.isfinite(z).all(axis=1))
        valid = finite & (s >= self.min_score)
        if valid.sum() < 3:
            # A whole hand of low scores (e.g. motion blur): still use it, with the noise the
            # scores imply, rather than coast on the motion model.
            valid = finite
        if palm is None:
            palm = float(palm_size(z)) if self.num_keypoints == NUM_KEYPOINTS else float("nan")
        if math.isfinite(palm) and palm > 1.0:
            # A slowly varying hand size; a single bad frame shouldn't change the noise model.
            self.palm = palm if not self.initialized else 0.8 * self.palm + 0.2 * palm

        if not self.initialized or self.strength == 0.0:
            return self._initialize(z, valid, finite, t_s)

        dt = self._dt(t_s)
        x, P = self._predict_state(dt)
        zz = z.reshape(-1)
        vv = valid.repeat(2)
        sd = self.meas_noise * self.strength * self.palm / np.clip(s, 0.05, 1.0)
        r = sd.repeat(2) ** 2
        # Scalar-measurement Kalman update per (point, axis), H = [1, 0(, 0)].
        S = P[:, 0, 0] + r
        y = np.where(vv, zz - x[:, 0], 0.0)
        K = P[:, :, 0] / S[:, None]
        K[~vv] = 0.0
        x = x + K * y[:, None]
        P = P - K[:, :, None] * P[:, 0, None, :]
        skipped = ~valid
        run = np.zeros(self.num_keypoints, np.int64)
        offset = np.full((self.num_keypoints, 2), np.nan)
        if skipped.any() and valid.any():
            # A point left out of the update moves with the hand (mean velocity of the points
            # that were updated) instead of coasting on its own velocity, and after
            # ``reanchor_frames`` frames in a row left out it may not stray more than one palm
            # size from its (low-confidence) measurement: without this a point hidden for a
            # while drifts away from the hand. Only measurements that agree from frame to frame
            # count towards that run: unsure values that jump about by more than a palm size
            # (relative to the estimate, which moves with the hand) are noise, and
            # re-anchored to each they put the point wherever the latest one was.
            hand = []                             # the updated points' mean velocity (, acceleration)
            for k in range(1, self.order):
                d = x[:, k].reshape(-1, 2)
                hand.append(d[valid].mean(axis=0))
                d[skipped] = hand[-1]
                x[:, k] = d.reshape(-1)
            # and so does its position in this step: the prediction above moved it on its own
            # velocity, which a point flickering between two places before (a fingertip whose
            # heatmap has two peaks) can make huge (mohanad_piano30 with sensor noise: 12,000
            # px/s, the pinky tip put 500 px from the hand in the one frame it was left out)
            step = hand[0] * dt
            if self.order == 3:
                step = step + 0.5 * dt * dt * hand[1]
            pos = x[:, 0].reshape(-1, 2)
            pos[skipped] = self.x[:, 0].reshape(-1, 2)[skipped] + step
            x[:, 0] = pos.reshape(-1)
            offset = np.where((skipped & finite)[:, None], z - pos, np.nan)
            with np.errstate(invalid="ignore"):
                agree = np.linalg.norm(offset - self.skipped_offset, axis=1) <= self.palm
            run = np.where(skipped & finite, np.where(agree, self.skipped_run + 1, 1), 0)
            far = (run > self.reanchor_frames) & (np.linalg.norm(np.nan_to_num(offset), axis=1) > self.palm)
            if far.any():
                pos[far] = z[far]
                x[:, 0] = pos.reshape(-1)
                fv = far.repeat(2)
                P[fv] = 0.0
                P[fv, 0, 0] = (self.meas_noise * self.palm / 0.3) ** 2
                P[fv, 1, 1] = (self.palm) ** 2
                if self.order == 3:
                    P[fv, 2, 2] = (10.0 * self.palm) ** 2
                offset[far] = 0.0
        self.skipped_run, self.skipped_offset = run, offset
        self.x, self.P = x, P
        self.d2 = np.where(vv, y * y / S, 0.0)
        self._advance_clock(t_s, dt)
        filtered = self.keypoints
        assert filtered is not None    # initialized: None only before the first update
        return filtered

    def _initialize(self, z: np.ndarray, valid: np.ndarray, finite: np.ndarray, t_s: float | None) -> np.ndarray:
        r0 = (self.meas_noise * self.palm) ** 2
        zz = z.reshape(-1)
        vv = valid.repeat(2)
        if self.initialized:   # strength 0: track the measurement, keep the last value when missing
            self.x[vv, 0] = zz[vv]
            self.x[vv, 1:] = 0.0
        else:
            # An unsure point starts at its own measurement (the network's best guess, nearer than
            # the hand's centre) with a wide prior; only a point with no finite value at all starts
            # at the mean of the sure ones.
            fill = np.nanmean(z[valid], axis=0) if valid.any() else np.zeros(2)
            self.x[:] = 0.0
            self.x[:, 0] = np.where(finite.repeat(2), zz, np.tile(fill, self.num_keypoints))
            self.P[:] = 0.0
            self.P[:, 0, 0] = np.where(vv, r0, (self.palm ** 2))
            # Unknown velocity at start: a wide prior lets the filter pick up motion at once (and
            # takes a settling crop's first differences for motion: see init_speed).
            self.P[:, 1, 1] = (self.init_speed * self.palm) ** 2
            if self.order == 3:
                self.P[:, 2, 2] = (50.0 * self.palm) ** 2
        self.d2[:] = 0.0
        self.initialized = True
        self._advance_clock(t_s, self._dt(t_s))     # a first update (clock unknown) sets it only from t_s
        filtered = self.keypoints
        assert filtered is not None    # initialized just above
        return filtered


def make_filter(kind: str = "kalman", **params) -> KalmanKeypointFilter | NoFilter:
    """Make one keypoint filter (call once per track).

    Args:
        kind: "kalman" (:class:`KalmanKeypointFilter`, keyword ``params`` passed through) or
            "none" (:class:`NoFilter`).
    """
    if kind == "kalman":
        return KalmanKeypointFilter(**params)
    if kind == "none":
        return NoFilter()
    raise ValueError(f"unknown filter kind {kind!r}; expected one of {FILTER_KINDS}")
