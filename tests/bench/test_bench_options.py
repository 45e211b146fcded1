"""Tracker options of ``python -m bench`` reach the trackers it builds."""
import pytest

from bench.run import Bench, BenchConfig
from tracker.detector import HandDetector


def test_small_hands_reaches_the_tracker_but_not_the_ground_truth_detector_run(tmp_path):
    made = []

    def factory(**opts):
        made.append(opts)
        return object()

    cfg = BenchConfig(shared=tmp_path, out=tmp_path / "out", tracker_factory=factory)
    cfg.tracker_options["small_hands"] = True
    bench = Bench(cfg)
    bench.tracker(static=False)
    oracle = object()   # the motion part's ground-truth detector: no second pass to run
    bench.tracker(static=False, detector=oracle)
    assert made[0]["small_hands"] is True and "detector" not in made[0]
    assert "small_hands" not in made[1] and made[1]["detector"] is oracle


def test_no_large_hands_reaches_the_tracker_but_not_the_ground_truth_detector_run(tmp_path):
    made = []
    cfg = BenchConfig(shared=tmp_path, out=tmp_path / "out", tracker_factory=lambda **o: made.append(o) or object())
    cfg.tracker_options["large_hands"] = False
    bench = Bench(cfg)
    bench.tracker(static=False)
    bench.tracker(static=False, detector=object())
    assert made[0]["large_hands"] is False and "large_hands" not in made[1]


def test_small_hands_with_the_real_tracker(tmp_path):
    cfg = BenchConfig(shared=tmp_path, out=tmp_path / "out", threads=1)
    cfg.tracker_options["small_hands"] = True
    bench = Bench(cfg)
    assert bench.tracker(static=False).tracker.detector.small_hands
    assert not bench.tracker(static=False, detector=HandDetector(threads=1)).tracker.detector.small_hands


@pytest.mark.parametrize("argv, want", [
    ([], {}),
    (["--refine-score", "0"], {"refine_score": 0.0}),
    (["--refine-score", "1", "--side-lock", "none", "--small-hands"],
     {"refine_score": 1.0, "side_lock": None, "small_hands": True}),
    (["--detector-turns", "4"], {"detector_turns": 4}),
    (["--no-large-hands"], {"large_hands": False}),
    (["--min-crop-palms", "0"], {"min_crop_palms": 0.0}),
    (["--no-flip-test"], {"flip_test": False}),
    (["--flip-test"], {"flip_test": True}),
])
def test_command_line_tracker_options(tmp_path, argv, want):
    from bench.__main__ import config_from_args
    from tests.bench.test_main_bad_options import _write_clip
    _write_clip(tmp_path / "videos" / "clip.mp4")       # the videos part wants a clip it can play
    cfg = config_from_args(["--shared", str(tmp_path), "--only", "videos", *argv])
    got = {k: v for k, v in cfg.tracker_options.items()
           if k in ("refine_score", "side_lock", "small_hands", "detector_turns", "large_hands", "min_crop_palms",
                    "flip_test")}
    assert got == want


def test_the_ground_truth_detector_run_takes_detector_turns():
    """The motion part's ground-truth detector sees every hand whichever way it points; a tracker
    with detector_turns accepts it (a detector taking no ``turns`` is refused, test_detector_turns)."""
    from bench.run import OracleDetector
    from tracker import HandTracker
    oracle = OracleDetector()
    with HandTracker(detector=oracle, detector_turns=4, threads=1) as t:
        assert t.detector is oracle


@pytest.mark.parametrize("argv, message", [
    (["--only", "videos", "--refine-score", "2"], "--refine-score must be in [0, 1]"),
    (["--only", "videos", "--detector-turns", "3"], "--detector-turns"),
    (["robustness", "--detector-turns", "3"], "--detector-turns"),
    (["live", "--fps", "0"], "--fps"),
    (["live", "--fps", "nan"], "--fps"),          # crashed int(seconds * fps) with a traceback
    (["live", "--fps", "30,inf"], "--fps"),
    (["live", "--seconds", "x"], "--seconds"),
    (["live", "--video", "/nonexistent.mp4"], "/nonexistent.mp4"),
    (["train-step", "--nets", "resnet"], "argument --nets: unknown net(s) ['resnet']"),
    (["train-step", "--allocators", "jemalloc"], "argument --allocators: unknown allocator(s) ['jemalloc']"),
    (["train-step", "--steps", "2"], "--steps 2: must be more than the 2 warm-up steps"),
    (["robustness", "--conditions", "clean,rot45"], "--conditions: unknown condition(s) ['rot45']"),
    (["robustness", "--images", "0"], "--images must be >= 1, got 0"),
    (["robustness", "--shared", "/nowhere"], "no data/hands21 under --shared /nowhere"),
    (["--shared", "/nowhere", "--only", "speed", "--out", "/nowhere/out"], "no videos/*.mp4 under --shared /nowhere"),
    (["--shared", "/nowhere", "--only", "videos", "--out", "/nowhere/out"], "no videos/*.mp4 under --shared /nowhere"),
    (["models", "--video", "/nonexistent.mp4"], "--video /nonexistent.mp4: no frame could be read"),
    (["robustness", "--video-conditions", "clean,rot45"], "--video-conditions: unknown condition(s) ['rot45']"),
    (["robustness", "--no-photos"], "--no-photos without --videos leaves nothing to run"),
    (["robustness", "--no-photos", "--videos", "all", "--turn-fallback"],
     "--turn-fallback applies to the photo part, which --no-photos skips"),
    (["robustness", "--no-photos", "--shared", "/nowhere", "--videos", "a.mp4"],
     "--videos: no such clip(s) ['/nowhere/videos/a.mp4']"),
    (["robustness", "--no-photos", "--shared", "/nowhere", "--videos", "all"],
     "--videos: no such clip(s) ['/nowhere/videos/*.mp4']"),
    (["robustness", "--no-photos", "--videos", "all", "--video-frames", "0"], "--video-frames must be >= 1, got 0"),
    (["models", "--size", "640x480,1280x720"], "expected one size WxH (this command runs one)"),
    (["soak", "--size", "640x480,1280x720"], "expected one size WxH (this command runs one)"),
    (["robustness", "--video-frames", "5"], "--video-conditions and --video-frames apply to the clips of --videos"),
    (["robustness", "--video-conditions", "noise"], "--video-conditions and --video-frames apply to the clips of --videos"),
])
def test_bad_command_line_options_exit_2_naming_them(argv, message, capsys):
    from bench.__main__ import main
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2 and message in capsys.readouterr().err


@pytest.mark.parametrize("argv, want, text", [
    ([], {}, ""),
    (["--detector-turns", "4", "--turn-fallback"], {"detector_turns": 4, "turn_fallback": True},
     " --detector-turns 4 --turn-fallback"),
    (["--no-flip-test"], {"flip_test": False}, " --no-flip-test"),
])
def test_robustness_photos_take_turn_fallback(monkeypatch, tmp_path, argv, want, text):
    """``bench robustness --turn-fallback`` reaches the photo run's tracker options and the report's
    command line."""
    import bench.__main__ as cli
    (tmp_path / "data" / "hands21").mkdir(parents=True)
    seen = {}
    monkeypatch.setattr(cli, "_robustness_photos",
                        lambda a, data, conditions, opts, venv, options_text: seen.update(opts=opts, text=options_text))
    cli.robustness_main(["--shared", str(tmp_path), "--no-mediapipe", *argv])
    got = {k: v for k, v in seen["opts"].items() if k in ("detector_turns", "turn_fallback", "flip_test")}
    assert got == want and seen["text"] == text
