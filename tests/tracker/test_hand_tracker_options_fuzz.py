"""Session 41 seeded audit of option validation: ``HandTrackerOptions`` (fields, ``validate()``,
read-only ``tracker.options``, the dict round trip ``HandTrackerOptions(**asdict(o))`` and
``describe()["options"]``), ``HandTracker(options, **overrides)`` on the fake models, and the
backend factory (``providers_for``, ``create_session``) with bogus devices and thread counts.

A legal value (docs/options.md, README options table) must be accepted as given (not truncated,
not a bool taken as a number) and the tracker must then run frames; an illegal one must raise one
ValueError naming the option and the value before any frame, never a late failure in ``process``.
The tests named test_bug_* show the bugs this audit found, fixed in session 41 (strict xfails first).
"""
from __future__ import annotations

import copy
import dataclasses
import json
import math
import os
import pickle
import warnings
from pathlib import Path

import numpy as np
import pytest

from tracker import HandTracker
from tracker.backend import create_session, default_model_path, providers_for
from tracker.hand_tracker import INT_OPTIONS, MAX_FRAME_RATE, UNIT_OPTIONS, HandTrackerOptions

from .test_detector_turns import UprightOnlyDetector
from .tracker_fakes import FakeLandmarks, Scene, SceneHand, blank, hand_keypoints

FIELDS = [f.name for f in dataclasses.fields(HandTrackerOptions)]
BOOL_OPTIONS = ("static_image_mode", "mirrored", "smoothing", "flip_test", "small_hands", "large_hands",
                "turn_retry", "turn_fallback")
NONE_OK = ("min_detection_confidence", "low_detection_confidence", "side_lock", "frame_rate",
           "landmark_model_path", "detector_model_path")
HUGE = 10 ** 400        # a Python int no float holds


class _AnyDetector(UprightOnlyDetector):
    """A fake detector that can do whatever the options ask (turns, the small-hand pass, no
    large-hand pass), so every legal combination builds."""

    small_hands = True
    large_hands = False


def _tracker(scene: Scene | None = None, options: HandTrackerOptions | None = None, **kw) -> HandTracker:
    scene = scene or Scene()
    return HandTracker(options, detector=_AnyDetector(scene), landmark_model=FakeLandmarks(scene), **kw)


def _pick(rng: np.random.Generator, seq):
    return seq[int(rng.integers(len(seq)))]


# -- legal values ----------------------------------------------------------------------------
def _unit(rng, none_ok: bool):
    u = float(rng.uniform(0, 1))
    return _pick(rng, [u, 0.0, 1.0, 0, 1, np.float32(u), np.float64(u), np.float16(0.5), round(u, 3)]
                 + ([None] if none_ok else []))


def _legal(rng: np.random.Generator, name: str):
    """A random legal value of option ``name`` (bounds and numpy scalars included)."""
    if name in INT_OPTIONS:
        low = INT_OPTIONS[name]
        hi = {"max_hands": 5, "threads": 4, "detector_interval": 8, "redetection_frames": 200,
              "max_missed": 60, "side_wait": 10}[name]
        v = int(rng.integers(low, hi + 1))
        return _pick(rng, [v, low, np.int64(v), np.int32(v), np.uint8(v), np.int16(low)])
    if name in BOOL_OPTIONS:
        return _pick(rng, [True, False, np.bool_(True), np.bool_(False)])
    if name in UNIT_OPTIONS:
        return _unit(rng, name in NONE_OK)
    if name == "device":
        return _pick(rng, ["cpu", "CPU", "cuda", "Cuda"])
    if name == "smoothing_strength":
        s = float(10 ** rng.uniform(-3, 3))
        return _pick(rng, [s, 1, 1.0, np.float32(s), np.float64(s), 1e-9, 1000])
    if name in ("landmark_model_path", "detector_model_path"):
        return _pick(rng, [None, "some.onnx", Path("some.onnx")])
    if name == "min_hand_size":
        u = float(rng.uniform(0, 0.2))
        return _pick(rng, [u, 0, 0.0, np.float32(u), 0.05])
    if name == "min_crop_palms":
        u = float(rng.uniform(0, 10))
        return _pick(rng, [u, 0, 0.0, 2.8, 10, 10.0, np.float32(u), np.float64(3.5), np.int64(3)])
    if name == "side_lock":
        return _pick(rng, [None, float(rng.uniform(0.1, 50)), 1, np.float32(5.5), 1e-6, 1e6])
    if name == "color_order":
        return _pick(rng, ["bgr", "rgb", "RGB", "Bgr"])
    if name == "detector_turns":
        return _pick(rng, [1, 2, 4, np.int64(2), np.int8(4)])
    if name == "frame_rate":
        return _pick(rng, [None, float(rng.uniform(1, 240)), 30, 60, MAX_FRAME_RATE, 0.5, np.float32(25),
                           np.float64(29.97), np.int64(15)])
    raise AssertionError(f"no legal values for option {name!r}: add it to this audit")


def _same(got, given) -> bool:
    """``got`` (the validated option) is ``given`` kept as it is: numpy numbers as the equal Python
    number, strings lowered only for color_order; never truncated."""
    if isinstance(given, np.bool_):
        return bool(got) == bool(given) and isinstance(got, (bool, np.bool_))
    if isinstance(given, (np.integer, np.floating)):
        return type(got) in (int, float) and got == given.item()
    return type(got) is type(given) and got == given


def _scene() -> Scene:
    return Scene(hands=[SceneHand(hand_keypoints(110, 120), True),
                        SceneHand(hand_keypoints(220, 125, right=False), False)], noise_px=1.0)


def _run_frames(t: HandTracker, scene: Scene, n: int = 4) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)     # overflow / invalid value inside process
        for i in range(n):
            for h in scene.hands:
                h.keypoints = h.keypoints + np.float32([3, 1])
            r = t.process(blank(), timestamp_ms=None if i % 2 else 33.0 * i)
            assert len(r.hands) <= t.options.max_hands
            assert math.isfinite(r.timestamp_ms)
            for h in r.hands:
                assert np.isfinite(h.keypoints).all() and np.isfinite(h.raw_keypoints).all()
            json.dumps(r.to_dict(), allow_nan=False)


@pytest.mark.parametrize("seed", range(24))
def test_random_legal_options_are_kept_run_and_round_trip(seed):
    rng = np.random.default_rng(41_000 + seed)
    given = {name: _legal(rng, name) for name in FIELDS if rng.random() < 0.6}
    user = HandTrackerOptions(**{k: v for k, v in given.items() if rng.random() < 0.5})
    overrides = {k: v for k, v in given.items() if not hasattr(user, k) or getattr(user, k) is not v}
    before = copy.deepcopy(user.__dict__)
    scene = _scene()
    if rng.random() < 0.8:
        t = _tracker(scene, user, **overrides)
    else:                                                          # keywords only
        t = _tracker(scene, None, **given)
    assert user.__dict__.keys() == before.keys()                  # the caller's object is not touched
    assert all(user.__dict__[k] is before[k] or user.__dict__[k] == before[k] for k in before)
    for k, v in given.items():
        want = v.lower() if k == "color_order" else v
        assert _same(getattr(t.options, k), want), (k, v, getattr(t.options, k))
    for k in INT_OPTIONS:
        assert type(getattr(t.options, k)) is int
    assert t.options.validate() == t.options                      # idempotent on the frozen options
    # dict round trip, and describe() (JSON) gives the same options back
    d = dataclasses.asdict(t.options)
    assert HandTrackerOptions(**d) == t.options
    assert HandTrackerOptions(**d).validate() == t.options
    desc = t.describe()
    text = json.dumps(desc, allow_nan=False)
    back = HandTrackerOptions(**json.loads(text)["options"])
    norm = dataclasses.replace(t.options, **{k: os.fspath(v) for k, v in d.items()
                                             if isinstance(v, os.PathLike)})
    assert back == norm
    assert copy.copy(t.options) == t.options
    assert pickle.loads(pickle.dumps(t.options)) == t.options
    _run_frames(t, scene)


# -- illegal values --------------------------------------------------------------------------
NAN, INF = float("nan"), float("inf")
_COMMON_BAD_NUMBERS = [NAN, INF, -INF, "1", True, False, [1], np.bool_(True), 1j, np.float64(NAN)]
ILLEGAL: dict[str, list] = {}
for _n, _low in INT_OPTIONS.items():
    ILLEGAL[_n] = [_low - 1, -10 ** 30, 2.0, 2.5, np.float64(2.0), "2", None, NAN, INF, True, False, [2],
                   np.bool_(True), np.int64(_low - 1)]
for _n in UNIT_OPTIONS:
    ILLEGAL[_n] = [-1e-9, 1 + 1e-9, -0.0001, 1.5, 2, -1, np.float32(1.01), np.float64(NAN)] + _COMMON_BAD_NUMBERS
    if _n not in NONE_OK:
        ILLEGAL[_n].append(None)
ILLEGAL["smoothing_strength"] = [0, 0.0, -0.0, -1, -1e-300, np.float64(0), None] + _COMMON_BAD_NUMBERS
ILLEGAL["side_lock"] = [0, 0.0, -1, -1e-12, np.float32(0)] + _COMMON_BAD_NUMBERS
ILLEGAL["frame_rate"] = [0, 0.0, -30, MAX_FRAME_RATE + 0.001, MAX_FRAME_RATE + 1, 10 ** 30, np.int64(0),
                         np.float32(-1)] + _COMMON_BAD_NUMBERS
ILLEGAL["min_crop_palms"] = [-0.01, -1, 10.001, 11, 1e300, np.float64(-1), None] + _COMMON_BAD_NUMBERS
ILLEGAL["min_hand_size"] = [-0.01, 1.0, 1, 1.5, np.float64(1.0), None] + _COMMON_BAD_NUMBERS
for _n in BOOL_OPTIONS:
    ILLEGAL[_n] = [0, 1, 1.0, "True", "false", None, np.int64(1), [True], NAN]
ILLEGAL["device"] = ["gpu", "", "cpu ", "cuda:0", None, 1, True, b"cpu", ["cpu"]]
ILLEGAL["color_order"] = ["bgra", "", "rgb ", None, 1, True, b"rgb", ["rgb"]]
ILLEGAL["detector_turns"] = [0, 3, 5, -1, 2.0, 4.0, np.float32(2), True, "2", "none", [2], NAN]
for _n in ("landmark_model_path", "detector_model_path"):
    ILLEGAL[_n] = [1, 2.5, True, b"x.onnx", ["x.onnx"]]

CASES = [(n, i) for n in FIELDS for i in range(len(ILLEGAL[n]))]


def _names_value(msg: str, v) -> bool:
    forms = {repr(v), str(v)}
    if isinstance(v, (np.integer, np.floating, np.bool_)):
        forms |= {repr(v.item()), str(v.item())}
    return any(f in msg for f in forms)


def test_every_option_has_illegal_values():
    assert set(ILLEGAL) == set(FIELDS)


@pytest.mark.parametrize("name,i", CASES, ids=[f"{n}-{i}" for n, i in CASES])
def test_illegal_value_is_one_value_error_naming_option_and_value(name, i):
    bad = ILLEGAL[name][i]
    with pytest.raises(ValueError) as e:
        HandTrackerOptions(**{name: bad}).validate()
    msg = str(e.value)
    assert msg.startswith(name) and _names_value(msg, bad), msg
    # through the tracker: as a keyword, and inside the options object; nothing is loaded or run
    scene = _scene()
    with pytest.raises(ValueError, match=f"^{name}"):
        _tracker(scene, **{name: bad})
    user = HandTrackerOptions(**{name: bad})
    with pytest.raises(ValueError, match=f"^{name}"):
        _tracker(scene, user)
    assert getattr(user, name) is bad                              # the caller's object is untouched
    # a bad keyword over a good options object, and a good keyword repairing a bad object
    with pytest.raises(ValueError, match=f"^{name}"):
        _tracker(scene, HandTrackerOptions(), **{name: bad})
    good = HandTrackerOptions().__dict__[name]
    t = _tracker(scene, user, **{name: good})
    _run_frames(t, scene, 2)


def test_random_illegal_mixed_with_legal_names_the_bad_option():
    rng = np.random.default_rng(4141)
    for _ in range(60):
        given = {n: _legal(rng, n) for n in FIELDS if rng.random() < 0.3}
        bad_name = _pick(rng, FIELDS)
        bad = _pick(rng, ILLEGAL[bad_name])
        given[bad_name] = bad
        with pytest.raises(ValueError) as e:
            _tracker(_scene(), **given)
        assert str(e.value).startswith(bad_name), (bad_name, bad, str(e.value))


def test_unknown_option_and_wrong_options_type_are_type_errors():
    with pytest.raises(TypeError, match="max_hand"):
        _tracker(max_hand=2)
    with pytest.raises(TypeError, match="maxHands"):
        HandTrackerOptions(maxHands=2)
    for bad in ({"max_hands": 2}, 2, "cpu", dataclasses.asdict(HandTrackerOptions())):
        with pytest.raises(TypeError, match="options must be a HandTrackerOptions"):
            HandTracker(bad, detector=_AnyDetector(Scene()), landmark_model=FakeLandmarks(Scene()))


# -- read-only tracker.options ---------------------------------------------------------------
@pytest.mark.parametrize("seed", range(3))
def test_tracker_options_are_frozen(seed):
    rng = np.random.default_rng(7_000 + seed)
    t = _tracker(_scene())
    o = t.options
    for name in FIELDS:
        cur = getattr(o, name)
        setattr(o, name, cur)                                      # the value it has: allowed
        for _ in range(5):
            new = _legal(rng, name)
            if type(new) is type(cur) and new == cur:
                continue
            with pytest.raises(AttributeError, match=name):
                setattr(o, name, new)
            assert getattr(o, name) is cur
        with pytest.raises(AttributeError, match=name):
            delattr(o, name)
    for k in INT_OPTIONS:                                          # 2 -> 2.0 is a change of type
        with pytest.raises(AttributeError):
            setattr(o, k, float(getattr(o, k)))
    with pytest.raises(AttributeError):
        o.max_hand = 3                                             # a typo is no new attribute either
    with pytest.raises(AttributeError):
        object.__getattribute__(o, "__setattr__")("_frozen", False)
    c = copy.copy(o)
    c.max_hands = 4                                                # copies are ordinary options
    assert pickle.loads(pickle.dumps(o)).__dict__.get("_frozen") is None
    t2 = _tracker(_scene(), o, max_hands=1)
    assert t2.options.max_hands == 1 and t.options.max_hands == 2


# -- backend factory and model-loading trackers ----------------------------------------------
BAD_DEVICES = ["gpu", "", "cuda:0", " cpu", None, 0, True, b"cpu", ["cpu"], "mps", "tensorrt"]
BAD_THREADS = [0, -1, 2.0, 2.5, "2", None, True, False, [2], np.float64(2), np.bool_(True), NAN, INF]


@pytest.mark.parametrize("device", BAD_DEVICES, ids=repr)
def test_backend_bad_device_is_value_error(device):
    with pytest.raises(ValueError, match="device") as e:
        providers_for(device)
    assert _names_value(str(e.value), device)
    with pytest.raises(ValueError, match="device"):
        create_session(default_model_path("landmarks.onnx"), device=device)
    with pytest.raises(ValueError, match="^device"):
        HandTracker(device=device)                                 # before any model loads


@pytest.mark.parametrize("threads", BAD_THREADS, ids=repr)
def test_backend_bad_threads_is_value_error(threads):
    with pytest.raises(ValueError, match="^threads") as e:
        create_session(default_model_path("landmarks.onnx"), threads=threads)
    assert _names_value(str(e.value), threads)
    with pytest.raises(ValueError, match="^threads"):
        HandTracker(threads=threads)


def test_backend_device_any_case_and_cuda_missing():
    assert providers_for("CPU") == providers_for("cpu") == ["CPUExecutionProvider"]
    import onnxruntime as ort
    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("this onnxruntime has CUDA")
    with pytest.raises(ValueError, match="CUDAExecutionProvider"):
        providers_for("Cuda")


# -- bugs (session 41) -----------------------------------------------------------------------
@pytest.mark.parametrize("name", ["min_tracking_confidence", "refine_score", "smoothing_strength", "side_lock",
                                  "min_hand_size"])
def test_bug_huge_int_for_float_option(name):
    with pytest.raises(ValueError, match=f"^{name}"):
        HandTrackerOptions(**{name: HUGE}).validate()


def test_bug_huge_redetection_frames():
    with pytest.raises(ValueError, match="^redetection_frames must be an integer"):
        _tracker(_scene(), redetection_frames=10 ** 30)


def test_bug_huge_count_with_frame_rate():
    with pytest.raises(ValueError, match="^max_missed"):
        _tracker(_scene(), max_missed=HUGE, frame_rate=60)


@pytest.mark.parametrize("where", ["create_session", "HandTracker"])
def test_bug_threads_too_large(where):
    with pytest.raises(ValueError, match="^threads"):
        if where == "create_session":
            create_session(default_model_path("landmarks.onnx"), threads=2 ** 31)
        else:
            HandTracker(threads=2 ** 31)


def test_bug_tiny_frame_rate_gives_infinite_timestamps():
    with pytest.raises(ValueError, match="^frame_rate must be"):
        _tracker(_scene(), frame_rate=5e-324)
    t = _tracker(_scene(), frame_rate=1e-3)          # the slowest rate taken: finite times
    for _ in range(3):
        r = t.process(blank())
    assert math.isfinite(r.timestamp_ms)


def test_bug_huge_smoothing_strength_overflows_in_process():
    with pytest.raises(ValueError, match="^smoothing_strength must be"):
        _tracker(_scene(), smoothing_strength=1e200)
    scene = _scene()
    _run_frames(_tracker(scene, smoothing_strength=1e6), scene, 4)   # the largest taken runs quietly


@pytest.mark.parametrize("name, value, ok", [
    ("frame_rate", 10_000, True), ("frame_rate", 10_001, False),       # docs: a number in [0.001, 10000]
    ("frame_rate", 0.001, True), ("frame_rate", 0.0009, False),
    ("smoothing_strength", 1e6, True), ("smoothing_strength", 1.01e6, False),   # docs: at most 1e6
    ("min_crop_palms", 10.0, True), ("min_crop_palms", 10.01, False),  # the error: at most 10
])
def test_the_documented_bounds_are_the_checked_ones(name, value, ok):
    """The bounds docs/options.md and the docstrings give, as numbers (the illegal tables above
    take them from the module's constants, so they would follow a changed constant)."""
    if ok:
        assert getattr(HandTrackerOptions(**{name: value}).validate(), name) == value
    else:
        with pytest.raises(ValueError, match=f"^{name}"):
            HandTrackerOptions(**{name: value}).validate()


def test_bug_misspelt_option_attribute_is_silently_ignored():
    o = HandTrackerOptions()
    with pytest.raises(AttributeError, match="max_hand"):
        o.max_hand = 1
