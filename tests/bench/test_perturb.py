"""Float noise on network outputs (``bench/perturb.py``, ``python -m bench --output-noise``)."""
import math

import numpy as np
import pytest

from bench.perturb import MAX_OUTPUT_NOISE, NoisySession, add_output_noise


class _Session:
    """A stand-in onnxruntime session: fixed outputs, one float32 map and one int64 index."""

    def __init__(self):
        self.heat = np.linspace(0.5, 2.0, 4 * 50 * 50, dtype=np.float32).reshape(4, 50, 50)
        self.index = np.arange(6, dtype=np.int64)
        self.calls = []

    def run(self, names, feed):
        self.calls.append((names, feed))
        return [self.heat.copy(), self.index.copy()]

    def get_inputs(self):
        return ["image"]


def test_relative_noise_of_the_set_size_on_float_outputs_only():
    inner = _Session()
    heat, index = NoisySession(inner, 1e-3, np.random.default_rng(0)).run(None, {"image": 1})
    assert inner.calls == [(None, {"image": 1})]
    assert heat.dtype == np.float32 and heat.shape == inner.heat.shape
    rel = heat / inner.heat - 1
    assert 0.9e-3 < rel.std() < 1.1e-3 and abs(rel.mean()) < 1e-4
    np.testing.assert_array_equal(index, inner.index)


def test_no_noise_returns_the_session_outputs_unchanged():
    inner = _Session()
    heat, _ = NoisySession(inner, 0.0, np.random.default_rng(0)).run(None, {})
    np.testing.assert_array_equal(heat, inner.heat)


def test_a_seed_repeats_its_noise_and_calls_draw_anew():
    a = NoisySession(_Session(), 1e-6, np.random.default_rng([3, 0]))
    b = NoisySession(_Session(), 1e-6, np.random.default_rng([3, 0]))
    c = NoisySession(_Session(), 1e-6, np.random.default_rng([4, 0]))
    first = a.run(None, {})[0]
    np.testing.assert_array_equal(first, b.run(None, {})[0])
    assert not np.array_equal(first, c.run(None, {})[0])
    assert not np.array_equal(first, a.run(None, {})[0])


def test_other_attributes_are_the_sessions():
    assert NoisySession(_Session(), 1e-6, np.random.default_rng(0)).get_inputs() == ["image"]


@pytest.mark.parametrize("rel", [-1e-6, math.nan, math.inf, "1e-6"])
def test_bad_noise_is_refused(rel):
    with pytest.raises(ValueError, match="rel must be"):
        NoisySession(_Session(), rel, np.random.default_rng(0))


def test_a_real_tracker_gets_noise_on_both_networks_and_repeats_itself():
    from tracker import HandTracker

    def outputs(seed):
        with HandTracker(threads=1) as t:
            if seed is not None:
                add_output_noise(t, 1e-4, seed)
            s = t.landmarks.input_size
            return (t.landmarks.inference(np.zeros((1, 3, s, s), np.float32))[0],
                    t.detector.inference(np.zeros((1, 3, t.detector.height, t.detector.width), np.float32))[0])

    clean, (a, da), (b, db), (c, dc) = outputs(None), outputs(5), outputs(5), outputs(6)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(da, db)
    assert not np.array_equal(a, c) and not np.array_equal(da, dc)
    for noisy, plain in ((a, clean[0]), (da, clean[1])):
        nz = plain != 0
        rel = noisy[nz] / plain[nz] - 1
        assert 0.8e-4 < rel.std() < 1.2e-4


class _Stage:
    """A tracker stage holding a stand-in session."""

    def __init__(self):
        self.session = _Session()


def test_a_stage_without_a_session_is_left_alone():
    class Oracle:
        pass

    class Tracker:
        landmarks = _Stage()
        detector = Oracle()

    t = add_output_noise(Tracker(), 1e-6, 0)
    assert isinstance(t.landmarks.session, NoisySession) and not hasattr(t.detector, "session")


def test_the_bench_wraps_the_trackers_it_builds_when_asked(tmp_path):
    from bench.run import Bench, BenchConfig
    plain = Bench(BenchConfig(shared=tmp_path, out=tmp_path, threads=1)).tracker(static=False)
    assert not isinstance(plain.tracker.landmarks.session, NoisySession)
    bench = Bench(BenchConfig(shared=tmp_path, out=tmp_path, threads=1, output_noise=1e-6, noise_seed=2))
    m = bench.tracker(static=False)
    assert m.tracker.landmarks.session.rel == 1e-6 and isinstance(m.tracker.detector.session, NoisySession)
    # a factory's trackers too; the ground-truth detector run's landmark model is perturbed as well
    made = []

    def factory(**options):
        made.append(type("T", (), {"landmarks": _Stage()})())
        return made[-1]

    bench.cfg.tracker_factory = factory
    bench.tracker(static=False, detector=object())
    assert isinstance(made[0].landmarks.session, NoisySession)
    for x in (plain, m):
        x.close()


@pytest.mark.parametrize("argv, want", [
    ([], (0.0, 0, None)),
    (["--output-noise", "1e-6"], (1e-6, 0, None)),
    (["--output-noise", "1e-6", "--noise-seed", "3", "--crop-hold", "0.05"], (1e-6, 3, 0.05)),
    (["--crop-hold", "0"], (0.0, 0, 0.0)),
])
def test_command_line(tmp_path, argv, want):
    from bench.__main__ import config_from_args
    from tests.bench.test_main_bad_options import _write_clip
    _write_clip(tmp_path / "videos" / "clip.mp4")
    cfg = config_from_args(["--shared", str(tmp_path), "--only", "videos", *argv])
    assert (cfg.output_noise, cfg.noise_seed, cfg.tracker_options.get("crop_hold")) == want


@pytest.mark.parametrize("argv, message", [
    (["--only", "videos", "--output-noise=-1e-6"], "argument --output-noise: --output-noise must be in [0, 0.01]"),
    (["--only", "videos", "--output-noise", str(MAX_OUTPUT_NOISE * 2)], "--output-noise must be in"),
    (["--only", "videos", "--output-noise", "nan"], "--output-noise must be in"),
    (["--only", "videos", "--output-noise", "x"], "--output-noise must be a number, got 'x'"),
    (["--only", "videos,speed", "--output-noise", "1e-6"], "leave the speed part out"),
    (["--only", "videos", "--noise-seed", "2"], "--noise-seed seeds --output-noise, which is 0"),
    (["--only", "videos", "--output-noise", "1e-6", "--noise-seed", "-1"], "--noise-seed"),
    (["--only", "speed", "--output-noise", "1e-6"], "--output-noise applies to the accuracy and motion and videos"),
    (["--only", "videos", "--crop-hold", "2"], "--crop-hold must be in [0, 1]"),
])
def test_bad_command_lines(tmp_path, capsys, argv, message):
    from bench.__main__ import config_from_args
    from tests.bench.test_main_bad_options import _write_clip
    _write_clip(tmp_path / "videos" / "clip.mp4")
    with pytest.raises(SystemExit) as e:
        config_from_args(["--shared", str(tmp_path), *argv])
    assert e.value.code == 2 and message in capsys.readouterr().err


def test_the_report_says_the_outputs_were_perturbed(tmp_path):
    from tests.bench.test_report_mutants import _report
    text = _report(tmp_path)[0]
    assert "network outputs multiplied" not in text
    from bench.run import Bench, BenchConfig, write_report
    from tests.bench.test_report_mutants import MACHINE
    b = Bench(BenchConfig(shared=tmp_path, out=tmp_path, plots=False, output_noise=1e-6, noise_seed=4))
    b.results.update({"machine": dict(MACHINE), "seconds": {"total": 1.0}})
    b.cfg.tracker_options["crop_hold"] = 0.05
    write_report(b, tmp_path)
    text = (tmp_path / "REPORT.md").read_text(encoding="utf-8")
    assert "- network outputs multiplied by 1 + 1e-06 N(0, 1), noise seed 4" in text
    assert "- tracker option crop_hold=0.05" in text
    assert "flip_test" not in text       # the tracker's default: not named
    b.cfg.tracker_options["flip_test"] = False
    write_report(b, tmp_path)
    text = (tmp_path / "REPORT.md").read_text(encoding="utf-8")
    assert "- tracker option flip_test=False (each landmark crop not run mirrored)" in text


def test_robustness_clips_take_the_hold_and_the_noise(tmp_path, monkeypatch, capsys):
    """``bench robustness --videos``: the tracker it plays gets the hold and the noisy sessions,
    and the markdown's command line names both."""
    from bench import robustness
    from bench.__main__ import main
    from tests.bench.test_main_bad_options import _write_clip
    clip = tmp_path / "videos" / "clip.mp4"
    _write_clip(clip)
    seen = {}

    def fake_run(methods, clips, conditions, frames, seed):
        t = methods["handtrack"].tracker
        seen.update(hold=t.options.crop_hold, rel=t.landmarks.session.rel, det=t.detector.session.rel)
        return {}

    monkeypatch.setattr(robustness, "video_run", fake_run)
    monkeypatch.setattr(robustness, "video_table", lambda res: "table")
    out = tmp_path / "out"
    out.mkdir()
    assert main(["robustness", "--shared", str(tmp_path), "--no-mediapipe", "--no-photos", "--videos", str(clip),
                 "--threads", "1", "--crop-hold", "0.05", "--output-noise", "1e-6", "--noise-seed", "2",
                 "--out", str(out)]) == 0
    assert seen == {"hold": 0.05, "rel": 1e-6, "det": 1e-6}
    assert "--crop-hold 0.05 --output-noise 1e-06 --noise-seed 2`" in (out / "robustness_videos.md").read_text()


@pytest.mark.parametrize("argv, message", [
    (["--noise-seed", "1"], "--noise-seed seeds --output-noise, which is 0"),
    (["--output-noise", "0.5"], "--output-noise must be in [0, 0.01]"),
    (["--crop-hold", "-1"], "--crop-hold must be in [0, 1]"),
])
def test_robustness_bad_hold_and_noise(tmp_path, capsys, argv, message):
    from bench.__main__ import main
    with pytest.raises(SystemExit) as e:
        main(["robustness", "--shared", str(tmp_path), "--no-mediapipe", *argv])
    assert e.value.code == 2 and message in capsys.readouterr().err
