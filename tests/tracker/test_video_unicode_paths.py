"""Still images under non-ASCII paths (a Windows user named José keeps photos in
``C:\\Users\\José\\Pictures``). On Windows ``cv2.imread`` / ``cv2.imwrite`` take the path as a narrow
``char*`` and cannot open such a name (opencv#4292), so the project reads and writes every still image
through ``tracker.video.read_image_file`` / ``write_image_file`` (numpy opens the file, OpenCV only
decodes or encodes bytes). Pinned here: the helpers give what cv2.imread / cv2.imwrite give (pixels,
EXIF orientation, formats, failures), no code of the project calls cv2.imread / cv2.imwrite, and the
call sites work when those two fail on a non-ASCII path as they do on Windows."""
from __future__ import annotations

import ast
from pathlib import Path

import cv2
import numpy as np
import pytest

from tracker.video import FrameSource, read_image_file, write_image_file
from tests.conftest import require_torch

PIL = pytest.importorskip("PIL.Image")

ROOT = Path(__file__).resolve().parents[2]
_FOLDERS = ("tracker", "train", "export", "bench", "examples")
NAME = "José_ü_手.png"

# 40 x 60 reference: left half red, right half blue (BGR), a gradient row so that a turn shows
REF = np.zeros((40, 60, 3), np.uint8)
REF[:, :30] = (0, 0, 255)
REF[:, 30:] = (255, 0, 0)
REF[0] = np.arange(60, dtype=np.uint8)[:, None] * 4
RGB = np.ascontiguousarray(REF[..., ::-1])


def _exif_jpeg(path, orientation):
    im = PIL.fromarray(RGB)
    exif = im.getexif()
    exif[0x0112] = orientation
    im.save(path, exif=exif.tobytes(), quality=95)


def _files(d: Path) -> list[Path]:
    """Image files of the kinds users hand in, each under a non-ASCII name."""
    im = PIL.fromarray(RGB)
    d.mkdir(parents=True, exist_ok=True)
    im.save(d / "foto_José.jpg", quality=95)
    im.save(d / "hände.webp", "WEBP", quality=80)
    im.save(d / "hände_lossless.WEBP", "WEBP", lossless=True)
    (d / "rot_16bit_手.png").write_bytes(cv2.imencode(".png", REF.astype(np.uint16) * 257)[1].tobytes())
    (d / "grau_ü.png").write_bytes(cv2.imencode(".png", REF[..., 2])[1].tobytes())
    rgba = np.dstack([RGB, np.full((40, 60), 255, np.uint8)])
    rgba[:5, :5, 3] = 0
    PIL.fromarray(rgba, "RGBA").save(d / "alpha_ñ.png")
    im.convert("P", palette=PIL.ADAPTIVE, colors=4).save(d / "palette_ø.png")
    im.convert("CMYK").save(d / "cmyk_é.jpg", quality=95)
    im.save(d / "scan_ß.tif")
    for o in range(1, 9):
        _exif_jpeg(d / f"IMG_é_{o}.JPG", o)
    return sorted(d.iterdir())


FLAGS = [cv2.IMREAD_COLOR, cv2.IMREAD_GRAYSCALE, cv2.IMREAD_UNCHANGED,
         cv2.IMREAD_ANYDEPTH | cv2.IMREAD_ANYCOLOR, cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION,
         cv2.IMREAD_REDUCED_COLOR_2]


# -- the helpers -----------------------------------------------------------------------------------
def test_non_ascii_name_round_trips(tmp_path):
    d = tmp_path / "C_Users_José" / "Bilder 手"
    d.mkdir(parents=True)
    assert write_image_file(d / NAME, REF) is True
    assert [p.name for p in d.iterdir()] == [NAME]
    np.testing.assert_array_equal(read_image_file(d / NAME), REF)
    np.testing.assert_array_equal(read_image_file(str(d / NAME), cv2.IMREAD_GRAYSCALE),
                                  cv2.cvtColor(REF, cv2.COLOR_BGR2GRAY))


def test_write_gives_the_bytes_imwrite_writes(tmp_path):
    for name, params in (("a.png", ()), ("b.jpg", [cv2.IMWRITE_JPEG_QUALITY, 80]), ("c.JPG", ()),
                         ("d.webp", [cv2.IMWRITE_WEBP_QUALITY, 70]), ("e.tif", ()), ("f.bmp", ())):
        assert cv2.imwrite(str(tmp_path / f"cv_{name}"), REF, params)
        assert write_image_file(tmp_path / f"np_{name}", REF, params) is True
        assert (tmp_path / f"np_{name}").read_bytes() == (tmp_path / f"cv_{name}").read_bytes(), name


@pytest.mark.parametrize("flags", FLAGS)
def test_read_gives_what_imread_gives(tmp_path, flags):
    """Same array (shape, dtype, pixels) as cv2.imread for the same flags: EXIF orientations 1-8
    applied (or ignored with IMREAD_IGNORE_ORIENTATION), 16-bit, grey, RGBA, palette, CMYK, WebP.
    cv2.imread gets an ASCII copy of each file (it is Linux here, but the path would not matter)."""
    ascii_dir = tmp_path / "ascii"
    ascii_dir.mkdir()
    for i, p in enumerate(_files(tmp_path / "ünï")):
        copy = ascii_dir / f"f{i}{p.suffix}"
        copy.write_bytes(p.read_bytes())
        want, got = cv2.imread(str(copy), flags), read_image_file(p, flags)
        assert want is not None and got is not None, p.name
        assert (got.shape, got.dtype) == (want.shape, want.dtype), p.name
        np.testing.assert_array_equal(got, want, err_msg=p.name)


def test_exif_orientation_6_comes_out_upright(tmp_path):
    _exif_jpeg(tmp_path / "IMG_José.JPG", 6)
    img = read_image_file(tmp_path / "IMG_José.JPG")
    assert img.shape == (60, 40, 3)
    np.testing.assert_allclose(img[20, 20], (0, 0, 255), atol=8)     # red on top after a clockwise turn
    np.testing.assert_allclose(img[50, 20], (255, 0, 0), atol=8)


def test_tiff_with_a_transposing_exif_orientation_is_read_upright(tmp_path):
    """OpenCV 5.1's imread fails on a TIFF whose orientation swaps width and height (5-8: an
    internal 'original_ptr == real_mat.data' check); imdecode reads it, turned like the same
    picture as PNG."""
    im = PIL.fromarray(RGB)
    exif = im.getexif()
    exif[0x0112] = 6
    im.save(tmp_path / "scan é.tif", exif=exif.tobytes())
    im.save(tmp_path / "same.png", exif=exif.tobytes())
    got = read_image_file(tmp_path / "scan é.tif")
    assert got is not None and got.shape == (60, 40, 3)
    np.testing.assert_array_equal(got, cv2.imread(str(tmp_path / "same.png")))
    (f,) = [f for _, _, f in FrameSource(tmp_path / "scan é.tif")]
    np.testing.assert_array_equal(f, got)


@pytest.mark.parametrize("what", ["missing", "folder", "empty", "junk", "float tiff"])
def test_unreadable_is_none_like_imread(tmp_path, what):
    p = tmp_path / f"{what} é.jpg"
    if what == "folder":
        p.mkdir()
    elif what == "empty":
        p.write_bytes(b"")
    elif what == "junk":
        p.write_bytes(b"not an image")
    elif what == "float tiff":        # 32-bit float samples: OpenCV 5 cannot decode them as colour
        p = tmp_path / "scan é.tiff"
        p.write_bytes(cv2.imencode(".tiff", REF.astype(np.float32) / 255)[1].tobytes())
        as_imread = cv2.imread(str(p))
        if as_imread is not None:     # OpenCV 4 decodes them (its own tone curve): then as imread does
            got = read_image_file(p)
            assert got is not None and np.array_equal(got, as_imread)
            return
    assert read_image_file(p) is None


def test_unknown_extension_raises_like_imwrite(tmp_path):
    for name in ("grid.xyz", "grid", ".hidden"):
        with pytest.raises(cv2.error):
            cv2.imwrite(str(tmp_path / name), REF)
        with pytest.raises(cv2.error):
            write_image_file(tmp_path / f"ü{name}", REF)
    with pytest.raises(cv2.error):
        write_image_file(tmp_path / "empty.png", np.zeros((0, 0, 3), np.uint8))
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_unwritable_target_is_false_like_imwrite(tmp_path):
    (tmp_path / "is a folder.png").mkdir()
    for target in (tmp_path / "no such folder é" / NAME, tmp_path / "is a folder.png"):
        assert cv2.imwrite(str(target), REF) is False
        assert write_image_file(target, REF) is False


# -- no code of the project calls cv2.imread / cv2.imwrite -------------------------------------------
_BANNED = {"imread", "imwrite", "imreadmulti", "imwritemulti"}


def _banned_calls(root: Path, folders=_FOLDERS) -> list[str]:
    """``file:line`` of each use of OpenCV's path-taking image functions in the project's code:
    any attribute named imread/imwrite/imreadmulti/imwritemulti (``cv2.imread``, ``cv.imread`` after
    ``import cv2 as cv``), any ``from cv2 import imread``, and any string naming one passed to
    ``getattr``. Mentions in docstrings and comments are not code and are left out."""
    found = []
    for folder in folders:
        for path in sorted((root / folder).rglob("*.py")):
            lines = set()
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                hit = (isinstance(node, ast.Attribute) and node.attr in _BANNED) \
                    or (isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "cv2"
                        and any(a.name in _BANNED for a in node.names)) \
                    or (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "getattr"
                        and any(isinstance(a, ast.Constant) and a.value in _BANNED for a in node.args))
                if hit:
                    lines.add(node.lineno)
            found += [f"{path.relative_to(root).as_posix()}:{n}" for n in sorted(lines)]
    return found


def test_no_module_calls_imread_or_imwrite():
    """Every still image goes through read_image_file / write_image_file, which use neither."""
    assert _banned_calls(ROOT) == []


def test_the_scan_finds_each_way_of_calling_them(tmp_path):
    pkg = tmp_path / "tracker"
    pkg.mkdir()
    (pkg / "m.py").write_text(
        '"""cv2.imread in a docstring is no call."""\nimport cv2\nimport cv2 as cv\n'
        "a = cv2.imread('x')\nb = cv.imwrite('x', a)\nfrom cv2 import imread\n"
        "c = getattr(cv2, 'imwrite')\nd = cv2.imdecode(a, 1)  # not cv2.imread\n"
        "e = cv2.imreadmulti('x')\n", encoding="utf-8")
    assert _banned_calls(tmp_path, ("tracker",)) == ["tracker/m.py:4", "tracker/m.py:5", "tracker/m.py:6",
                                                     "tracker/m.py:7", "tracker/m.py:9"]


# -- the call sites, with imread / imwrite failing on non-ASCII paths as on Windows -----------------
@pytest.fixture
def windows_opencv(monkeypatch):
    """cv2.imread / cv2.imwrite as on Windows: a path with a non-ASCII character cannot be opened
    (imread gives None, imwrite False); ASCII paths work."""
    real_read, real_write = cv2.imread, cv2.imwrite

    def imread(path, *a, **k):
        return real_read(path, *a, **k) if str(path).isascii() else None

    def imwrite(path, *a, **k):
        return real_write(path, *a, **k) if str(path).isascii() else False

    monkeypatch.setattr(cv2, "imread", imread)
    monkeypatch.setattr(cv2, "imwrite", imwrite)


def test_frame_source_reads_non_ascii_paths(windows_opencv, tmp_path):
    d = tmp_path / "José"
    d.mkdir()
    write_image_file(d / NAME, REF)
    write_image_file(d / "b_ü.jpg", REF, [cv2.IMWRITE_JPEG_QUALITY, 95])
    (f,) = [f for _, _, f in FrameSource(d / NAME)]
    np.testing.assert_array_equal(f, REF)
    src = FrameSource(d)
    frames = {src.image_name(i): f for i, _, f in src}
    assert sorted(frames) == sorted([NAME, "b_ü.jpg"])
    np.testing.assert_array_equal(frames[NAME], REF)
    jpeg = cv2.imdecode(cv2.imencode(".jpg", REF, [cv2.IMWRITE_JPEG_QUALITY, 95])[1], cv2.IMREAD_COLOR)
    np.testing.assert_array_equal(frames["b_ü.jpg"], jpeg)


def test_unreadable_non_ascii_image_keeps_its_error(windows_opencv, tmp_path):
    (tmp_path / "foto é.jpg").write_bytes(b"not an image")
    with pytest.raises(ValueError, match="cannot read image .*foto é.jpg"):
        FrameSource(tmp_path / "foto é.jpg")


def test_training_reads_non_ascii_paths(windows_opencv, tmp_path):
    require_torch()
    from train.data import read_image
    write_image_file(tmp_path / NAME, REF)
    np.testing.assert_array_equal(read_image(tmp_path / NAME), REF)
    (tmp_path / "kaputt é.png").write_bytes(b"not an image")
    with pytest.raises(ValueError, match="image failed to decode: .*kaputt é.png"):
        read_image(tmp_path / "kaputt é.png")


def test_evaluation_picture_writes_non_ascii_paths(windows_opencv, tmp_path):
    require_torch()
    from train.evaluate import _write_picture
    _write_picture(tmp_path / "José" / "worst.jpg", REF, "--worst-grid")
    assert read_image_file(tmp_path / "José" / "worst.jpg").shape == (40, 60, 3)
    with pytest.raises(ValueError, match="--worst-grid: could not write .*worst.xyz"):
        _write_picture(tmp_path / "José" / "worst.xyz", REF, "--worst-grid")


def test_accuracy_bench_reads_non_ascii_paths(windows_opencv, tmp_path):
    from bench import accuracy
    write_image_file(tmp_path / NAME, REF)
    seen = []

    def method(frame):
        seen.append(frame.shape)
        raise StopIteration      # the frame was read: that is all this test needs

    with pytest.raises(StopIteration):
        accuracy.run(method, [accuracy.GtImage(tmp_path / NAME, [], [], [], [])], "smoothed")
    assert seen == [(40, 60, 3)]
    with pytest.raises(FileNotFoundError, match="cannot read .*gone é.png"):
        accuracy.run(method, [accuracy.GtImage(tmp_path / "gone é.png", [], [], [], [])], "smoothed")


def test_annotated_images_under_non_ascii_paths(windows_opencv, tmp_path, monkeypatch, capsys):
    from tracker import cli

    from .tracker_fakes import FakeDetector, FakeLandmarks, Scene, SceneHand, hand_keypoints
    scene = Scene(noise_px=1.0)
    scene.hands = [SceneHand(hand_keypoints(60, 80, 30.0), True)]

    def build(args, mirrored):
        from tracker import HandTracker
        return HandTracker(detector=FakeDetector(scene), landmark_model=FakeLandmarks(scene),
                           static_image_mode=args.static, mirrored=mirrored)

    monkeypatch.setattr(cli, "build_tracker", build)
    photos, out = tmp_path / "Fotos de José", tmp_path / "anotadas ü"
    photos.mkdir()
    out.mkdir()
    for n in ("a_é.png", "b_手.jpg"):
        write_image_file(photos / n, np.full((120, 200, 3), 90, np.uint8))
    assert cli.main(["video", str(photos), "--static", "--annotated-images", str(out), "--no-progress"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["a_é.png", "b_手.jpg"]
    for n in ("a_é.png", "b_手.jpg"):
        assert read_image_file(out / n).shape == (120, 200, 3)


def test_motion_clip_default_reader_reads_non_ascii_paths(windows_opencv, tmp_path):
    require_torch()
    from bench import motion
    from train.data import HandRecord
    k = np.array([[112, 200], [112, 160], [60, 175], [45, 145], [35, 115], [80, 120], [75, 85], [70, 45],
                  [105, 115], [105, 80], [105, 35], [130, 118], [135, 85], [140, 50], [155, 125], [165, 100],
                  [180, 75]], np.float32)
    img = np.zeros((224, 224, 3), np.uint8)
    for x, y in k:
        cv2.circle(img, (int(x), int(y)), 3, (255, 255, 255), -1)
    recs = []
    for i in range(2):
        write_image_file(tmp_path / f"hand_é_{i}.png", img)
        recs.append(HandRecord(tmp_path / f"hand_é_{i}.png", k.copy(), np.ones(17, np.float32), i % 2, 1.0, i))
    clip = motion.make_clip(recs, seed=5, n_frames=10, n_hands=2)       # the default image_reader
    assert len(clip) == 10
    with pytest.raises(FileNotFoundError, match="cannot read .*gone é.png"):
        motion.make_clip([HandRecord(tmp_path / "gone é.png", k.copy(), np.ones(17, np.float32), 0, 1.0, 0)],
                         seed=5, n_frames=10, n_hands=1)
