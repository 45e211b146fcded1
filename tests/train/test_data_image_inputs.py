"""Training images as users hand them over (train.data): a COCO file's ``width``/``height``
against the decoded picture (EXIF orientation, resized files), and image formats and paths."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from train.data import ImageCache, LoadReport, load_coco, load_csv, read_image

PIL = pytest.importorskip("PIL.Image")

KP21 = [v for j in range(21) for v in (float(j), float(2 * j), 2)]


def _phone_photo(path, orientation=6):
    """A JPEG stored 60 wide x 40 high with an EXIF Orientation tag (6: shown turned clockwise,
    40 x 60, as phones store portrait photos)."""
    im = PIL.fromarray(np.full((40, 60, 3), 90, np.uint8))
    exif = im.getexif()
    exif[0x0112] = orientation
    im.save(path, exif=exif.tobytes(), quality=95)


def _coco(tmp_path, name, width, height):
    p = tmp_path / "labels.json"
    im = {"id": 1, "file_name": name}
    if width is not None:
        im.update(width=width, height=height)
    p.write_text(json.dumps({"images": [im], "annotations": [{"id": 7, "image_id": 1, "keypoints": KP21}]}))
    return p


def test_coco_size_of_the_upright_photo_loads(tmp_path):
    """CVAT and Labelme label the EXIF-turned picture and write its size: it loads, turned."""
    _phone_photo(tmp_path / "IMG_0001.JPG")
    recs = load_coco(_coco(tmp_path, "IMG_0001.JPG", 40, 60))
    cache = ImageCache(recs)
    assert cache[recs[0].image].shape == (60, 40, 3)


def test_coco_size_of_the_unturned_photo_is_one_error_naming_the_file(tmp_path):
    """A tool that labelled the stored pixels, ignoring the EXIF tag, writes 60 x 40: the decoded
    picture is turned, so its keypoints would be in another frame. One error naming the file and
    the cause, not silently wrong targets; with skip_bad the photo is counted and left out."""
    _phone_photo(tmp_path / "IMG_0001.JPG")
    recs = load_coco(_coco(tmp_path, "IMG_0001.JPG", 60, 40))
    with pytest.raises(ValueError, match=r"IMG_0001\.JPG.*40x60.*60x40.*EXIF"):
        ImageCache(recs)
    report = LoadReport()
    cache = ImageCache(recs, skip_bad=True, report=report)
    assert cache.filter(recs) == [] and report.skipped == 1


def test_coco_size_of_a_resized_image_is_one_error(tmp_path):
    cv2.imwrite(str(tmp_path / "a.png"), np.full((100, 200, 3), 90, np.uint8))
    recs = load_coco(_coco(tmp_path, "a.png", 400, 200))       # labelled at full size, file halved
    with pytest.raises(ValueError, match=r"a\.png.*200x100.*400x200"):
        ImageCache(recs)


@pytest.mark.parametrize("size", [(None, None), (0, 0), ("60", "40")])
def test_coco_without_a_usable_size_is_not_checked(tmp_path, size):
    """COCO writers that leave the size out (or write 0, or text) load as before."""
    cv2.imwrite(str(tmp_path / "a.png"), np.full((100, 200, 3), 90, np.uint8))
    recs = load_coco(_coco(tmp_path, "a.png", *size))
    assert ImageCache(recs)[recs[0].image].shape == (100, 200, 3)


def test_csv_photo_with_exif_orientation_is_read_upright(tmp_path):
    """The CSV layout has no image size: its pixels are those of the upright picture, as
    ``train.prelabel`` (which reads with the same function) writes them."""
    _phone_photo(tmp_path / "my photo ü.jpg")
    (tmp_path / "labels.csv").write_text("my photo ü.jpg," + ",".join("5" for _ in range(34)) + "\n",
                                         encoding="utf-8")
    recs = load_csv(tmp_path / "labels.csv")
    assert ImageCache(recs)[recs[0].image].shape == (60, 40, 3)


@pytest.mark.parametrize("name,write", [
    ("deep16.png", lambda p, a: cv2.imwrite(str(p), a.astype(np.uint16) * 257)),
    ("alpha.png", lambda p, a: PIL.fromarray(np.dstack([a[..., ::-1], np.full(a.shape[:2], 255, np.uint8)]),
                                             "RGBA").save(p)),
    ("palette.png", lambda p, a: PIL.fromarray(np.ascontiguousarray(a[..., ::-1])).convert(
        "P", palette=PIL.ADAPTIVE, colors=4).save(p)),
    ("cmyk.jpg", lambda p, a: PIL.fromarray(np.ascontiguousarray(a[..., ::-1])).convert("CMYK").save(p, quality=95)),
    ("UPPER.WEBP", lambda p, a: PIL.fromarray(np.ascontiguousarray(a[..., ::-1])).save(p, "WEBP", lossless=True)),
    ("scan.tif", lambda p, a: PIL.fromarray(np.ascontiguousarray(a[..., ::-1])).save(p)),
])
def test_read_image_gives_8bit_bgr_of_the_right_colours(tmp_path, name, write):
    ref = np.zeros((40, 60, 3), np.uint8)
    ref[:, :30] = (0, 0, 255)
    ref[:, 30:] = (255, 0, 0)
    write(tmp_path / name, ref)
    img = read_image(tmp_path / name)
    assert img.shape == (40, 60, 3) and img.dtype == np.uint8
    np.testing.assert_allclose(img[20, 5], (0, 0, 255), atol=8)
    np.testing.assert_allclose(img[20, 55], (255, 0, 0), atol=8)


def test_undecodable_image_is_one_error_naming_it(tmp_path):
    p = tmp_path / "scan 1.tiff"
    cv2.imwrite(str(p), np.zeros((8, 8, 3), np.float32))     # 32-bit float samples: OpenCV cannot
    with pytest.raises(ValueError, match="scan 1.tiff"):
        read_image(p)
