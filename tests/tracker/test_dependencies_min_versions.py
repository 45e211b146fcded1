"""The runtime works with the oldest dependency versions pyproject.toml allows.

OpenCV before 5 (opencv-python 4.8 to 4.x) has no ``cv2.utils.logging``: its log level is
``cv2.getLogLevel()`` / ``cv2.setLogLevel(int)``. These tests hide whichever API the installed
OpenCV has and give the webcam command the other one, so both run in the normal venv."""
from __future__ import annotations

import cv2
import pytest

from tracker import cli

SILENT = 0          # cv::utils::logging::LOG_LEVEL_SILENT, the same number in OpenCV 4 and 5


def _opencv4_logging(monkeypatch) -> list[int]:
    """Make cv2 look like OpenCV 4.8-4.x: no cv2.utils.logging, top-level get/setLogLevel.
    Returns the list of levels set, in order."""
    if hasattr(cv2, "utils") and hasattr(cv2.utils, "logging"):
        monkeypatch.delattr(cv2.utils, "logging")
    state = {"level": 3}
    levels: list[int] = []

    def set_level(level):
        levels.append(int(level))
        state["level"] = int(level)

    monkeypatch.setattr(cv2, "getLogLevel", lambda: state["level"], raising=False)
    monkeypatch.setattr(cv2, "setLogLevel", set_level, raising=False)
    return levels


def test_webcam_without_camera_on_opencv4_is_the_camera_error(monkeypatch, capsys):
    levels = _opencv4_logging(monkeypatch)
    monkeypatch.setenv("DISPLAY", ":99")
    monkeypatch.setattr(cli, "window_problem", lambda: None)
    assert cli.main(["webcam", "--camera", "57"]) == 2
    err = capsys.readouterr().err
    assert "--camera 57: no camera could be opened" in err and "AttributeError" not in err
    # silent while the backends are tried, then the level it had
    assert levels == [SILENT, 3]


def test_webcam_verbose_on_opencv4_leaves_the_log_level(monkeypatch, capsys):
    levels = _opencv4_logging(monkeypatch)
    monkeypatch.setenv("DISPLAY", ":99")
    monkeypatch.setattr(cli, "window_problem", lambda: None)
    assert cli.main(["webcam", "--camera", "57", "-v"]) == 2
    assert "--camera 57: no camera could be opened" in capsys.readouterr().err
    assert levels == []


@pytest.mark.skipif(not (hasattr(cv2, "utils") and hasattr(cv2.utils, "logging")),
                    reason="this OpenCV has no cv2.utils.logging (OpenCV 4)")
def test_webcam_on_opencv5_uses_utils_logging(monkeypatch, capsys):
    levels: list[int] = []
    real_set = cv2.utils.logging.setLogLevel
    monkeypatch.setattr(cv2.utils.logging, "setLogLevel", lambda lv: (levels.append(int(lv)), real_set(lv))[1])
    before = cv2.utils.logging.getLogLevel()
    monkeypatch.setenv("DISPLAY", ":99")
    monkeypatch.setattr(cli, "window_problem", lambda: None)
    assert cli.main(["webcam", "--camera", "57"]) == 2
    assert "--camera 57" in capsys.readouterr().err
    assert levels == [SILENT, int(before)] and cv2.utils.logging.getLogLevel() == before
