"""A stream URL's password given in its query string (an IP camera's ``?user=admin&pwd=...``) stays
out of --meta files and messages as a ``user:pass@`` one does (session 37's second-eye review)."""
from __future__ import annotations

import pytest

from tracker import cli


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
