"""Type predicates for argument checks shared by the runtime's stages (numpy only).

Every integer argument (thread counts, option values, ``max_detections``, grid columns, codec sizes)
takes numpy integers as Python ones do, and refuses booleans, which Python counts as integers:
``threads=True`` would pass as 1 and ``min_detection_confidence=True`` as 1.0, silently.
"""
from __future__ import annotations

import numpy as np

#: the largest count an integer option takes: beyond it a count overflowed later, inside the
#: tracker (a deque's maxlen, frame_rate scaling), naming nothing
MAX_COUNT = 10 ** 9
#: the most intra-op threads a session takes (onnxruntime starts them all; 2**31 failed inside it)
MAX_THREADS = 4096


def is_int(v) -> bool:
    """A Python or numpy integer, not a bool."""
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def is_number(v) -> bool:
    """A Python int or float, not a bool (option values, after numpy numbers became Python floats)."""
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def is_real(v) -> bool:
    """A Python or numpy real number, not a bool (a threshold given as np.float32 counts)."""
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))


def check_flag(name: str, v) -> bool:
    """``v`` as a bool when it is a Python or numpy bool; else a ValueError naming ``name`` (1, "no"
    or None would have passed a truth test for the wrong reason)."""
    if not isinstance(v, (bool, np.bool_)):
        raise ValueError(f"{name} must be True or False, got {v!r}")
    return bool(v)


def is_positive_int(v) -> bool:
    """An integer >= 1 (not a bool, not a float such as 160.5 that int() would truncate)."""
    return is_int(v) and v >= 1


def check_frame(frame: np.ndarray) -> None:
    """ValueError unless ``frame`` is a non-empty HxWx3 uint8 array (what the detector and landmark
    stages read): a gray or 4-channel frame failed a numpy broadcast, an empty one divided by zero
    or failed an OpenCV assertion, and a float or uint16 one was cast to uint8 unchecked (a 0-1
    image came out black, 300 wrapped to 44). HandTracker converts such frames before."""
    shape, dtype = getattr(frame, "shape", None), getattr(frame, "dtype", None)
    if shape is None or len(shape) != 3 or shape[2] != 3 or dtype != np.uint8:
        raise ValueError(f"frame must be an HxWx3 uint8 BGR array, got shape {shape} dtype {dtype}")
    if shape[0] == 0 or shape[1] == 0:
        raise ValueError(f"frame is empty (shape {shape})")
