"""ImageSink (session 50), the writer of ``handtrack video PHOTOS/ --annotated-images``: the files
are the bytes ``cv2.imencode`` gives with IMAGE_WRITE_PARAMS (WebP no longer lossless), the same
with and without the thread, a reused array is safe, an unwritable file is raised in the caller's
thread naming it (by the writes after it, else by close()), and close() writes what is queued."""
from __future__ import annotations

import gc
import threading

import cv2
import numpy as np
import pytest

import tracker.video as video
from tracker.video import IMAGE_WRITE_PARAMS, ImageSink, ImageWriteError


def picture(i: int, w: int = 96, h: int = 64) -> np.ndarray:
    """A distinct picture per ``i``, with texture (so lossy and lossless encodings differ)."""
    rng = np.random.default_rng(i)
    img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    cv2.circle(img, (w // 2, h // 2), 12 + i % 9, (255, 255, 255), 2)
    return img


def encoded(ext: str, img: np.ndarray, params=()) -> bytes:
    ok, buf = cv2.imencode(ext, img, list(params))
    assert ok
    return buf.tobytes()


def sink_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "ImageSink"]


@pytest.mark.parametrize("background", [True, False])
@pytest.mark.parametrize("ext, params", [
    (".png", ()),
    (".jpg", ()),
    (".JPEG", ()),
    (".webp", (cv2.IMWRITE_WEBP_QUALITY, 95)),
    (".WebP", (cv2.IMWRITE_WEBP_QUALITY, 95)),
    (".bmp", ()),
    (".tif", ()),
])
def test_each_file_holds_the_bytes_imencode_gives_with_the_sinks_settings(tmp_path, background, ext, params):
    imgs = [picture(i) for i in range(6)]
    with ImageSink(background=background) as sink:
        for i, img in enumerate(imgs):
            sink.write(tmp_path / f"p{i}{ext}", img)
        assert sink.images == 6
    for i, img in enumerate(imgs):
        assert (tmp_path / f"p{i}{ext}").read_bytes() == encoded(ext, img, params)
    assert not sink_threads()


def test_webp_is_written_lossy_at_quality_95_not_losslessly():
    """OpenCV's default WebP is lossless (30 ms for a 224x224 photo, 280 ms at 1280x720 on a
    2-core VM, against 3.5 and 50 ms at 95): the sink's setting is the one the table names."""
    assert IMAGE_WRITE_PARAMS[".webp"] == (cv2.IMWRITE_WEBP_QUALITY, 95)
    img = picture(3)
    lossless = cv2.imdecode(np.frombuffer(encoded(".webp", img), np.uint8), cv2.IMREAD_COLOR)
    lossy = cv2.imdecode(np.frombuffer(encoded(".webp", img, IMAGE_WRITE_PARAMS[".webp"]), np.uint8),
                         cv2.IMREAD_COLOR)
    assert np.array_equal(lossless, img) and not np.array_equal(lossy, img)


def test_the_caller_may_draw_into_its_array_again_after_write(tmp_path):
    """The CLI draws each photo into a new array, but a caller reusing one must not change what is
    written for the picture before."""
    buf = picture(0)
    expected = []
    with ImageSink() as sink:
        for i in range(8):
            buf[:] = picture(i)
            expected.append(buf.copy())
            sink.write(tmp_path / f"p{i}.png", buf)
    for i, img in enumerate(expected):
        assert np.array_equal(cv2.imread(str(tmp_path / f"p{i}.png")), img)


def test_copy_false_hands_the_array_over_without_a_copy(tmp_path, monkeypatch):
    seen = []
    real = video.write_image_file

    def spy(path, image, params=()):
        seen.append(image)
        return real(path, image, params)

    monkeypatch.setattr(video, "write_image_file", spy)
    imgs = [picture(i) for i in range(3)]
    with ImageSink() as sink:
        for i, img in enumerate(imgs):
            sink.write(tmp_path / f"p{i}.png", img, copy=False)
    assert len(seen) == 3 and all(a is b for a, b in zip(seen, imgs))
    seen.clear()
    with ImageSink() as sink:
        for i, img in enumerate(imgs):
            sink.write(tmp_path / f"q{i}.png", img)
    assert not any(np.may_share_memory(a, b) for a, b in zip(seen, imgs))
    for i in range(3):
        assert (tmp_path / f"p{i}.png").read_bytes() == (tmp_path / f"q{i}.png").read_bytes()
    with ImageSink() as sink, pytest.raises(ValueError, match="copy must be True or False, got 'no'"):
        sink.write(tmp_path / "r.png", imgs[0], copy="no")


def test_an_unwritable_file_is_raised_by_a_later_write_naming_it_and_stops_the_rest(tmp_path):
    (tmp_path / "p2.png").mkdir()                 # a folder where the file should go
    sink = ImageSink()
    with pytest.raises(ImageWriteError) as e:
        for i in range(40):
            sink.write(tmp_path / f"p{i}.png", picture(i))
    assert e.value.filename == str(tmp_path / "p2.png")
    assert "cannot write image" in str(e.value) and isinstance(e.value, OSError)
    sink.close()                                  # raised once already: close() adds nothing
    written = sorted(p.name for p in tmp_path.iterdir() if p.is_file())
    assert written == ["p0.png", "p1.png"]        # the images after the failed one are dropped
    assert not sink_threads()


def test_an_unwritable_last_file_is_raised_by_close(tmp_path):
    (tmp_path / "p1.png").mkdir()
    sink = ImageSink()
    sink.write(tmp_path / "p0.png", picture(0))
    sink.write(tmp_path / "p1.png", picture(1))   # queued: the thread finds out
    with pytest.raises(ImageWriteError) as e:
        sink.close()
    assert e.value.filename == str(tmp_path / "p1.png")
    sink.close()                                  # idempotent, nothing raised twice
    assert (tmp_path / "p0.png").is_file()


def test_without_the_thread_the_write_itself_raises(tmp_path):
    sink = ImageSink(background=False)
    with pytest.raises(ImageWriteError) as e:
        sink.write(tmp_path / "missing" / "p.png", picture(0))
    assert e.value.filename == str(tmp_path / "missing" / "p.png")
    sink.close()


def test_close_writes_every_queued_image_first(tmp_path, monkeypatch):
    """A slow encoder: close() returns only when the queued images are on disk."""
    gate = threading.Event()
    real = video.write_image_file

    def slow(path, image, params=()):
        gate.wait(5)
        return real(path, image, params)

    monkeypatch.setattr(video, "write_image_file", slow)
    sink = ImageSink()
    for i in range(video.WRITE_AHEAD):            # fills the queue without waiting on it
        sink.write(tmp_path / f"p{i}.png", picture(i))
    assert not any(tmp_path.iterdir())
    threading.Timer(0.2, gate.set).start()
    sink.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"p{i}.png" for i in range(video.WRITE_AHEAD)]


def test_a_sink_never_closed_still_writes_its_images(tmp_path):
    sink = ImageSink()
    for i in range(3):
        sink.write(tmp_path / f"p{i}.png", picture(i))
    del sink
    gc.collect()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p0.png", "p1.png", "p2.png"]
    assert not sink_threads()


@pytest.mark.parametrize("image, fragment", [
    (np.zeros((0, 0, 3), np.uint8), "non-empty uint8 image, got (0, 0, 3) uint8"),
    (np.zeros((8, 8, 3), np.float32), "got (8, 8, 3) float32"),
    ([[1, 2]], "got list"),
])
def test_what_is_not_an_image_is_refused_at_once(tmp_path, image, fragment):
    with ImageSink() as sink:
        with pytest.raises(ValueError, match="cannot write image .*p.png") as e:
            sink.write(tmp_path / "p.png", image)
        assert fragment in str(e.value)
    assert not any(tmp_path.iterdir())


def test_write_after_close_and_a_bad_background_flag_are_errors(tmp_path):
    sink = ImageSink()
    sink.close()
    with pytest.raises(ValueError, match="the sink is closed"):
        sink.write(tmp_path / "p.png", picture(0))
    with pytest.raises(ValueError, match="background must be True or False, got 'yes'"):
        ImageSink(background="yes")
