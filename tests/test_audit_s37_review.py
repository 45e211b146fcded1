"""Session 37 second-eye review of the day's new code: a training --out in a folder the user may not
look into is one error line (not a traceback from the clean-up's look-around), and a stream URL's
password given in its query string (an IP camera's ``?user=admin&pwd=...``) stays out of --meta
files and messages as a ``user:pass@`` one does."""
from __future__ import annotations

import dataclasses
import errno
import pathlib

import pytest

from tracker import cli
from train.common import run_cli


@dataclasses.dataclass
class _Cfg:
    out: str = "runs/model"


def test_an_out_folder_that_cannot_be_looked_into_is_one_error_line(tmp_path, monkeypatch):
    """``--out /root/runs/x`` as another user: Path.exists() raises PermissionError (EACCES) on
    Python 3.11 instead of answering False. The clean-up's look at what --out would create did it
    before the run started, so a traceback replaced the run's own one-line error."""
    locked = tmp_path / "locked"
    locked.mkdir()
    stat = pathlib.Path.stat

    def guarded(self, *a, **k):     # what a folder without search permission does for a non-root user
        if locked in self.parents:
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return stat(self, *a, **k)

    monkeypatch.setattr(pathlib.Path, "stat", guarded)
    out = locked / "runs" / "x"

    def train(cfg):
        raise PermissionError(errno.EACCES, "Permission denied", cfg.out)   # what its mkdir says

    with pytest.raises(SystemExit, match=r"^error: .*Permission denied"):
        run_cli(_Cfg, train, "doc", ["--out", str(out)])


@pytest.mark.parametrize("url, secret", [
    ("http://192.168.1.20/videostream.cgi?user=admin&pwd=s3cret", "s3cret"),
    ("http://cam.local/mjpg/video.mjpg?resolution=640x480&password=s3cret", "s3cret"),
    ("rtsp://cam.local:554/live?token=abcd1234ef&channel=1", "abcd1234ef"),
])
def test_a_password_in_the_query_string_stays_out_of_meta_and_messages(url, secret):
    shown = cli.shown_camera(url)
    assert secret not in shown
    assert shown.split("?")[0] == url.split("?")[0]            # the rest as given
    for other in ("resolution=640x480", "channel=1", "user=admin"):
        if other in url:
            assert other in shown
    for argv in (["webcam", "--camera", url], ["webcam", f"--camera={url}"]):
        assert secret not in " ".join(cli.shown_command(argv))


def test_a_query_without_credentials_is_shown_as_given():
    url = "http://u:p%40ss@host/x?y=1&keyframes=2"
    assert cli.shown_camera(url) == "http://u:***@host/x?y=1&keyframes=2"
    assert cli.shown_camera("rtsp://cam.local/stream?channel=1") == "rtsp://cam.local/stream?channel=1"
