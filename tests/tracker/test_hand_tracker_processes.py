"""The tracker across processes, as users track many videos in parallel (multiprocessing.Pool,
concurrent.futures.ProcessPoolExecutor): a tracker itself refuses to be pickled or copied and
says to build one in each worker; results and read-back tracks pickle exactly; the README's
example runs, and its workers (forked after the parent loaded models, or spawned) give what a
serial run gives. Every wait on a pool has a timeout, so a hang fails instead of blocking."""
from __future__ import annotations

import copy
import json
import multiprocessing as mp
import pickle
import re
import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pytest

from tracker import Hand, HandTracker, HandTrackerOptions, HandTrackerResult
from tracker.io import Tracks, read_tracks
from ..conftest import ROOT, VIDEOS, require_shared

WAIT_S = 60            # seconds a pool may take for two short clips before the test calls it a hang
CLIP_FRAMES = 12
HAND_ARRAYS = ("keypoints", "raw_keypoints", "scores", "box")


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> list[str]:
    """Two short clips (the first frames of two shared clips, half size), written as mp4 files."""
    import cv2
    out = []
    for name in ("huytung_2hand.mp4", "ali_hand.mp4"):
        cap = cv2.VideoCapture(str(require_shared(VIDEOS) / name))
        fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
        path = tmp_path_factory.mktemp("clips") / name
        writer = None
        for _ in range(CLIP_FRAMES):
            ok, f = cap.read()
            assert ok
            f = cv2.resize(f, None, fx=0.5, fy=0.5)
            if writer is None:
                writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, f.shape[1::-1])
            writer.write(f)
        writer.release()
        cap.release()
        out.append(str(path))
    return out


def _readme_example() -> str:
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(encoding="utf-8"), re.S)
    found = [b for b in blocks if "ProcessPoolExecutor" in b]
    assert len(found) == 1, "README: one Python example of tracking clips in worker processes"
    return found[0]


@pytest.fixture
def example(tmp_path, monkeypatch):
    """The README's example as an importable module (spawned workers import it by name)."""
    path = tmp_path / "handtrack_parallel_example.py"
    path.write_text(_readme_example(), encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    import importlib
    sys.modules.pop(path.stem, None)
    mod = importlib.import_module(path.stem)
    yield mod
    sys.modules.pop(path.stem, None)


def _same_results(a: list[HandTrackerResult], b: list[HandTrackerResult]) -> None:
    """Exactly equal, field by field (elapsed_ms aside: it is a time measurement)."""
    assert len(a) == len(b)
    for ra, rb in zip(a, b):
        assert (ra.frame_index, ra.timestamp_ms, ra.image_size, ra.detector_ran) == \
               (rb.frame_index, rb.timestamp_ms, rb.image_size, rb.detector_ran)
        assert len(ra.hands) == len(rb.hands)
        for ha, hb in zip(ra.hands, rb.hands):
            assert (ha.side, ha.track_id, ha.score, ha.handedness) == (hb.side, hb.track_id, hb.score, hb.handedness)
            for name in HAND_ARRAYS:
                x, y = getattr(ha, name), getattr(hb, name)
                assert x.dtype == y.dtype and x.shape == y.shape, name
                np.testing.assert_array_equal(x, y, err_msg=name)


# -- pickling ---------------------------------------------------------------------------------
@pytest.mark.parametrize("how", [pickle.dumps, copy.copy, copy.deepcopy])
def test_a_tracker_refuses_pickle_and_copy_and_says_to_build_one_per_worker(how):
    # was: pickle and deepcopy raised "cannot pickle 'onnxruntime...InferenceSession' object",
    # naming neither the tracker nor what to do; copy.copy gave a tracker sharing the original's
    # models and tracks (closing one closed the other's sessions)
    with HandTracker(threads=1) as t:
        with pytest.raises(TypeError, match=r"HandTracker cannot be pickled or copied.*inside each worker"):
            how(t)
        assert t.options == pickle.loads(pickle.dumps(t.options))   # its options do pickle


def test_a_tracker_sent_to_a_worker_fails_there_with_the_same_hint():
    with HandTracker(threads=1) as t, ProcessPoolExecutor(1, mp_context=mp.get_context("spawn")) as pool:
        with pytest.raises(TypeError, match=r"HandTracker cannot be pickled.*inside each worker"):
            pool.submit(_options_of, t).result(timeout=WAIT_S)


def _options_of(tracker: HandTracker) -> HandTrackerOptions:
    return tracker.options


@pytest.mark.parametrize("static", [False, True])
def test_real_results_and_read_back_tracks_pickle_exactly(example, clips, tmp_path, static):
    results = example.track_clip(clips[0]) if not static else _static_results(clips[0])
    assert sum(len(r.hands) for r in results) > 0
    for protocol in (pickle.DEFAULT_PROTOCOL, pickle.HIGHEST_PROTOCOL):
        back = pickle.loads(pickle.dumps(results, protocol))
        assert all(type(r) is HandTrackerResult and all(type(h) is Hand for h in r.hands) for r in back)
        _same_results(back, results)
        assert [r.elapsed_ms for r in back] == [r.elapsed_ms for r in results]
        assert [r.to_dict() for r in back] == [r.to_dict() for r in results]
    jsonl = tmp_path / "tracks.jsonl"
    jsonl.write_text("".join(json.dumps(r.to_dict()) + "\n" for r in results), encoding="utf-8")
    tracks = read_tracks(jsonl)
    back = pickle.loads(pickle.dumps(tracks))
    assert type(back) is Tracks and back.source == tracks.source and back.image is None
    for name in ("frame", "t_ms", "keypoints", "track_id", "presence", "handedness", "box"):
        x, y = getattr(tracks, name), getattr(back, name)
        assert x.dtype == y.dtype
        np.testing.assert_array_equal(x, y, err_msg=name)


def _static_results(path: str) -> list[HandTrackerResult]:
    import cv2
    cap = cv2.VideoCapture(path)
    with HandTracker(threads=1, static_image_mode=True) as t:
        out = [t.process(cap.read()[1]) for _ in range(4)]
    cap.release()
    return out


# -- the README's example, and process-parallel results against serial ones --------------------
def test_the_readme_example_runs_as_a_script(clips, tmp_path):
    script = tmp_path / "track_many.py"
    script.write_text(_readme_example(), encoding="utf-8")
    run = subprocess.run([sys.executable, str(script), *clips], capture_output=True, text=True,
                         timeout=2 * WAIT_S, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    for path in clips:
        assert f"{path}: {CLIP_FRAMES} frames" in run.stdout, run.stdout


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_worker_processes_give_what_a_serial_run_gives(example, clips, method):
    if method not in mp.get_all_start_methods():
        pytest.skip(f"no {method} start method here")
    serial = [example.track_clip(c) for c in clips]
    assert all(len(r) == CLIP_FRAMES for r in serial) and all(sum(len(x.hands) for x in r) for r in serial)
    # the parent has a tracker with live onnxruntime thread pools when the workers are forked
    with HandTracker(threads=2) as parent, \
            ProcessPoolExecutor(2, mp_context=mp.get_context(method)) as pool:
        parent.process(np.zeros((240, 320, 3), np.uint8), 0.0)
        futures = [pool.submit(example.track_clip, c) for c in clips]
        parallel = [f.result(timeout=WAIT_S) for f in futures]
    for a, b in zip(serial, parallel):
        _same_results(a, b)


_PARENTS: list[HandTracker] = []


def _with_the_parents_tracker(path: str) -> list[HandTrackerResult]:
    import cv2
    tracker = _PARENTS[0]            # the forked copy: its sessions' thread pools were not forked
    tracker.reset()
    cap = cv2.VideoCapture(path)
    out = []
    while (frame := cap.read()[1]) is not None:
        out.append(tracker.process(frame, cap.get(cv2.CAP_PROP_POS_MSEC)))
    return out


def test_forked_workers_using_the_parents_tracker_do_not_hang(example, clips):
    if "fork" not in mp.get_all_start_methods():
        pytest.skip("no fork start method here")
    serial = [example.track_clip(c) for c in clips]
    with HandTracker(threads=2) as parent:
        _PARENTS[:] = [parent]
        try:
            _with_the_parents_tracker(clips[1])          # used before the fork
            with mp.get_context("fork").Pool(2) as pool:
                parallel = pool.map_async(_with_the_parents_tracker, clips).get(timeout=WAIT_S)
        finally:
            _PARENTS.clear()
    for a, b in zip(serial, parallel):
        _same_results(a, b)
