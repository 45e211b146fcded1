"""Detector training loop on a tiny generated COCO set: checkpoints, resume, history, example
PNG, mined unlabelled hands, and clear errors."""
import json

import pytest
import torch

from train.train_detector import DetTrainConfig, train

from .test_train_cli import tiny_coco


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return tiny_coco(tmp_path_factory.mktemp("det") / "data", n=10)


def _cfg(data, out, **kw):
    return DetTrainConfig(data=str(data), out=str(out), input_width=64, input_height=48, batch_size=4,
                          workers=0, threads=1, eval_scenes=4, epoch_scenes=8, minutes=5, warmup_steps=2, **kw)


def test_detector_training_resumes(data, tmp_path):
    m = train(_cfg(data, tmp_path / "run", max_steps=2))
    assert {"ap50", "recall", "fp_per_frame"} <= set(m)
    ck = torch.load(tmp_path / "run" / "last.pt", weights_only=False)
    assert ck["state"]["step"] == 2 and ck["codec"]["input_size"] == [64, 48]
    train(_cfg(data, tmp_path / "run", max_steps=4))
    ck = torch.load(tmp_path / "run" / "last.pt", weights_only=False)
    assert ck["state"]["step"] == 4  # continued, not restarted
    hist = json.loads((tmp_path / "run" / "history.json").read_text())
    # the curve starts at the untrained net (step 0, minute 0), as the landmark trainer's does
    assert hist[0]["step"] == 0 and hist[0]["minutes"] == 0 and hist[-1]["step"] == 4
    assert (tmp_path / "run" / "val_examples.png").stat().st_size > 0


def test_detector_training_with_mined_unlabelled_hands(data, tmp_path):
    f = tmp_path / "unl.json"
    f.write_text(json.dumps({"boxes": {"images/0.png": [[0, 0, 20, 20, 0.9]]}}))
    train(_cfg(data, tmp_path / "run", max_steps=1, unlabelled=str(f)))
    assert "ignoring 1 mined unlabelled hands in 1 photos" in (tmp_path / "run" / "train.log").read_text()
    with pytest.raises(FileNotFoundError, match="unlabelled-hands file not found"):
        train(_cfg(data, tmp_path / "run2", max_steps=1, unlabelled=str(tmp_path / "nope.json")))


def test_example_picture_with_fewer_scenes_than_a_row(data, tmp_path):
    """3 val scenes: one row of 4 tiles, the last black (the partial row used to be dropped, and
    with no full row the picture failed)."""
    import cv2
    cfg = _cfg(data, tmp_path / "run", max_steps=1)
    cfg.eval_scenes = 3
    train(cfg)
    img = cv2.imread(str(tmp_path / "run" / "val_examples.png"))
    assert img.shape == (48, 4 * 64, 3)
    assert img[:, 3 * 64:].max() == 0 and img[:, :3 * 64].max() > 0


def test_giou_wide_regression_and_full_rotation_reach_the_checkpoint_and_log(data, tmp_path):
    train(_cfg(data, tmp_path / "run", max_steps=2, w_giou=2.0, regress_min_gauss=0.3, full_rotation_p=0.5))
    ck = torch.load(tmp_path / "run" / "last.pt", weights_only=False)
    assert ck["codec"]["regress_min_gauss"] == 0.3 and ck["train_config"]["w_giou"] == 2.0
    assert ck["train_config"]["full_rotation_p"] == 0.5


def test_augment_preset_reaches_the_training_scenes(data, tmp_path):
    """--augment picks the scenes' photometric preset: an all-grey config gives grey scenes, the
    default gives colour ones (the tiny set's photos are coloured)."""
    from train.augment import AugmentConfig
    from train.data import ImageCache, load_records
    from train.scenes import SceneConfig
    from train.train_detector import SceneDataset, group_by_image
    from tracker.detector_codec import CenterCodec
    recs = load_records(str(data), "train")
    cache = ImageCache(recs)
    groups = group_by_image(cache.filter(recs))
    codec, scfg = CenterCodec((64, 48), 4), SceneConfig(64, 48)
    grey = SceneDataset(groups, cache, codec, scfg, 4, aug=AugmentConfig(grey_p=1.0, noise_p=0.0, jpeg_p=0.0,
                                                                          occlusion_p=0.0))
    colour = SceneDataset(groups, cache, codec, scfg, 4)
    for i in range(4):
        g, c = grey[i][0].numpy(), colour[i][0].numpy()
        assert (g[..., 0] == g[..., 1]).all() and (g[..., 1] == g[..., 2]).all()
        assert (c[..., 0] != c[..., 2]).any()
    train(_cfg(data, tmp_path / "run", max_steps=1, augment="degraded"))
    ck = torch.load(tmp_path / "run" / "last.pt", weights_only=False)
    assert ck["train_config"]["augment"] == "degraded"


@pytest.mark.parametrize("kw, message", [({"regress_min_gauss": 1.5}, "--regress-min-gauss 1.5: expected a value in"),
                                         ({"regress_min_gauss": -0.2}, "--regress-min-gauss -0.2"),
                                         ({"w_giou": -1.0}, "--w-giou -1.0: expected >= 0"),
                                         ({"full_rotation_p": 1.5}, "--full-rotation-p 1.5: expected a value in"),
                                         ({"augment": "heavy"}, "--augment 'heavy': unknown, expected one of")])
def test_scene_and_loss_options_out_of_range_name_the_flag(data, tmp_path, kw, message):
    with pytest.raises(ValueError, match=message):
        train(_cfg(data, tmp_path / "run", max_steps=1, **kw))
    assert not (tmp_path / "run" / "last.pt").exists()


def test_detector_training_draws_its_curve(data, tmp_path):
    """The module promised a curve PNG beside the examples; only the landmark trainer drew one."""
    import cv2
    train(_cfg(data, tmp_path / "run", max_steps=2))
    img = cv2.imread(str(tmp_path / "run" / "curve.png"))
    assert img is not None and img.shape == (400, 600, 3)
    assert (img < 128).any() and (img > 250).any()   # axes and lines on a white page


def test_init_given_to_a_run_that_resumes_is_named_as_ignored(data, tmp_path):
    """A run with last.pt in --out resumes it; an --init given too was dropped without a word."""
    import shutil
    train(_cfg(data, tmp_path / "run", max_steps=1))
    shutil.copy(tmp_path / "run" / "last.pt", tmp_path / "start.pt")
    train(_cfg(data, tmp_path / "run", max_steps=2, init=str(tmp_path / "start.pt")))
    text = (tmp_path / "run" / "train.log").read_text()
    assert f"--init {tmp_path / 'start.pt'} ignored: resuming" in text
    train(_cfg(data, tmp_path / "new", max_steps=1, init=str(tmp_path / "start.pt")))   # a new --out uses it
    assert "ignored" not in (tmp_path / "new" / "train.log").read_text()


def test_a_resume_with_changed_options_says_which(data, tmp_path):
    """A resumed run takes the options given now (a fine-tune may lower --lr); which ones differ
    from the checkpoint's was not said anywhere."""
    train(_cfg(data, tmp_path / "run", max_steps=1))
    train(_cfg(data, tmp_path / "run", max_steps=2, lr=1e-4))
    text = (tmp_path / "run" / "train.log").read_text()
    assert "options changed since the checkpoint: --lr 0.003 -> 0.0001, --max-steps 1 -> 2" in text
