"""Image files as users hand them to ``handtrack video`` (tracker.video.FrameSource): folder order,
hidden files, and the image formats phones, editors and scanners write; each is read as 8-bit
BGR of the right colours or is one clear error naming the file."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from tracker.video import FrameSource

PIL = pytest.importorskip("PIL.Image")

# 40 x 60 reference: left half red, right half blue (BGR)
REF = np.zeros((40, 60, 3), np.uint8)
REF[:, :30] = (0, 0, 255)
REF[:, 30:] = (255, 0, 0)
RGB = np.ascontiguousarray(REF[..., ::-1])


def test_folder_frames_come_in_natural_order(tmp_path):
    """ffmpeg's ``frame%d.png`` names are not zero-padded: frame2 comes before frame10 (a lexical
    sort would play frame1, frame10, frame11, frame2 and the tracker would see time jump)."""
    for n in (1, 2, 10, 11, 3):
        cv2.imwrite(str(tmp_path / f"frame{n}.png"), REF)
    cv2.imwrite(str(tmp_path / "frame02b.png"), REF)
    names = [p.name for p in FrameSource(tmp_path).images]
    assert names == ["frame1.png", "frame2.png", "frame02b.png", "frame3.png", "frame10.png", "frame11.png"]


def test_zero_padded_names_keep_their_order(tmp_path):
    for n in ("00009", "00010", "00100"):
        cv2.imwrite(str(tmp_path / f"{n}.png"), REF)
    assert [p.stem for p in FrameSource(tmp_path).images] == ["00009", "00010", "00100"]


def test_hidden_files_in_a_folder_are_left_out(tmp_path, caplog):
    """macOS writes invisible ``._NAME.jpg`` companions (AppleDouble, not images) on USB drives and
    in zips; they and other dot files are not frames, and no warning names a file the user
    cannot see."""
    cv2.imwrite(str(tmp_path / "IMG_0001.jpg"), REF)
    (tmp_path / "._IMG_0001.jpg").write_bytes(b"\x00\x05\x16\x07AppleDouble")
    (tmp_path / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    (tmp_path / "notes.txt").write_text("not an image")
    src = FrameSource(tmp_path)
    frames = list(src)
    assert [p.name for p in src.images] == ["IMG_0001.jpg"]
    assert [(i, src.image_name(i)) for i, _, _ in frames] == [(0, "IMG_0001.jpg")]
    assert "._IMG" not in caplog.text


def _write_formats(d):
    im = PIL.fromarray(RGB)
    PIL.fromarray(RGB).save(d / "upper.JPG", quality=95)
    PIL.fromarray(RGB).save(d / "upper.WEBP", "WEBP", lossless=True)
    cv2.imwrite(str(d / "upper.PNG"), REF)
    cv2.imwrite(str(d / "deep16.png"), REF.astype(np.uint16) * 257)
    rgba = np.dstack([RGB, np.full((40, 60), 255, np.uint8)])
    rgba[:5, :5, 3] = 0
    PIL.fromarray(rgba, "RGBA").save(d / "alpha.png")
    im.convert("P", palette=PIL.ADAPTIVE, colors=4).save(d / "palette.png")
    im.convert("CMYK").save(d / "cmyk.jpg", quality=95)
    im.save(d / "scan.tif")
    cv2.imwrite(str(d / "deep16.tiff"), REF.astype(np.uint16) * 257)


def test_image_formats_are_read_as_8bit_bgr_of_the_right_colours(tmp_path):
    _write_formats(tmp_path)
    src = FrameSource(tmp_path)
    names = [p.name for p in src.images]
    assert len(names) == 9
    got = {src.image_name(i): f for i, _, f in src}
    assert sorted(got) == sorted(names)
    for name, f in got.items():
        assert f.shape == (40, 60, 3) and f.dtype == np.uint8, name
        np.testing.assert_allclose(f[20, 5], (0, 0, 255), atol=8, err_msg=name)
        np.testing.assert_allclose(f[20, 55], (255, 0, 0), atol=8, err_msg=name)


def test_grey_image_is_three_channel(tmp_path):
    cv2.imwrite(str(tmp_path / "grey.png"), np.full((40, 60), 128, np.uint8))
    (f,) = [f for _, _, f in FrameSource(tmp_path / "grey.png")]
    assert f.shape == (40, 60, 3) and (f == 128).all()


def test_exif_orientation_is_applied_to_a_photo(tmp_path):
    """A portrait phone photo stored sideways (EXIF Orientation 6) comes out upright, as the
    photo viewers and annotation tools show it."""
    im = PIL.fromarray(RGB)
    exif = im.getexif()
    exif[0x0112] = 6
    im.save(tmp_path / "IMG_0001.JPG", exif=exif.tobytes(), quality=95)
    (f,) = [f for _, _, f in FrameSource(tmp_path / "IMG_0001.JPG")]
    assert f.shape == (60, 40, 3)
    np.testing.assert_allclose(f[5, 20], (0, 0, 255), atol=8)     # red on top after a clockwise turn


@pytest.mark.parametrize("content", [b"", b"not an image", None])
def test_an_unreadable_single_image_is_one_error_naming_it(tmp_path, content):
    p = tmp_path / "photo 1.jpg"
    if content is None:          # a float TIFF OpenCV 5 cannot decode
        p = tmp_path / "photo 1.tiff"
        cv2.imwrite(str(p), REF.astype(np.float32) / 255)
        as_imread = cv2.imread(str(p))
        if as_imread is not None:    # OpenCV 4 decodes it (its own tone curve): one frame, as imread's
            frames = [f for _, _, f in FrameSource(p)]
            assert len(frames) == 1 and np.array_equal(frames[0], as_imread)
            return
    else:
        p.write_bytes(content)
    with pytest.raises(ValueError, match="photo 1"):
        FrameSource(p)


def test_paths_with_spaces_unicode_and_symlinks(tmp_path, caplog):
    d = tmp_path / "my photos ü"
    d.mkdir()
    cv2.imwrite(str(d / "häñd 1.png"), REF)
    (d / "link.png").symlink_to(d / "häñd 1.png")
    (d / "broken.png").symlink_to(tmp_path / "gone.png")
    src = FrameSource(d)
    got = [(src.image_name(i), f.shape) for i, _, f in src]
    assert got == [("häñd 1.png", (40, 60, 3)), ("link.png", (40, 60, 3))]
    assert "broken.png" in caplog.text
