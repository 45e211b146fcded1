"""Float noise on the tracker's network outputs, to tell a change's effect from chaos.

In video mode each tracked crop is framed from the last frame's keypoints, so a difference of
one float rounding in a network output is carried from frame to frame instead of dying out:
relative noise of 1e-6 on every output (about the size of onnxruntime's differences between
CPUs and versions) moved the side and id swap counts of a 12-clip motion set by several swaps
(docs/model_history.md, session 52). A tracker change whose swap difference is within what a few
noise seeds give on their own is not a measured difference.

:class:`NoisySession` multiplies each float output of an onnxruntime session elementwise by
``1 + rel * N(0, 1)``; :func:`add_output_noise` wraps the ``session`` of a tracker's landmark
model and detector with it, as ``python -m bench --output-noise R --noise-seed S`` does for every
tracker it builds. Runtime code never imports this module.
"""
from __future__ import annotations

import math

import numpy as np

#: the largest relative noise the command line takes: beyond it the noise is no longer a model
#: of float rounding but a different network
MAX_OUTPUT_NOISE = 0.01


class NoisySession:
    """An onnxruntime session whose float outputs come back multiplied elementwise by
    ``1 + rel * N(0, 1)`` (float32 noise drawn from ``rng``, one draw per output element and
    call); integer outputs are returned unchanged. Every other attribute is the session's."""

    def __init__(self, session, rel: float, rng: np.random.Generator):
        if not (isinstance(rel, (int, float)) and math.isfinite(rel) and rel >= 0):
            raise ValueError(f"rel must be a finite number >= 0, got {rel!r}")
        self.session = session
        self.rel = float(rel)
        self.rng = rng

    def run(self, output_names, input_feed, *args, **kwargs):
        outs = self.session.run(output_names, input_feed, *args, **kwargs)
        if self.rel == 0:
            return outs
        noisy = []
        for o in outs:
            if isinstance(o, np.ndarray) and np.issubdtype(o.dtype, np.floating):
                factor = 1 + self.rel * self.rng.standard_normal(o.shape, dtype=np.float32)
                o = (o * factor).astype(o.dtype, copy=False)
            noisy.append(o)
        return noisy

    def __getattr__(self, name):
        # only called for names not found on self: get_inputs, get_outputs, get_providers, ...
        return getattr(self.__dict__["session"], name)


def add_output_noise(tracker, rel: float, seed: int):
    """Wrap the ``session`` of ``tracker.landmarks`` and ``tracker.detector`` in a
    :class:`NoisySession` (each with its own generator, seeded from ``seed`` and the stage:
    landmarks 0, detector 1; so a run repeats itself); a stage without a session (the bench's
    ground-truth detector) is left as it is. Returns ``tracker``."""
    for i, name in enumerate(("landmarks", "detector")):
        stage = getattr(tracker, name, None)
        session = getattr(stage, "session", None)
        if session is not None:
            stage.session = NoisySession(session, rel, np.random.default_rng([seed, i]))
    return tracker

