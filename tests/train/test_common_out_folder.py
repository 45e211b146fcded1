"""A training --out in a folder the user may not look into is one error line, not a traceback from
the clean-up's look-around (session 37's second-eye review; the camera-URL half of that review is in
tests/tracker/test_cli_camera_url.py)."""
from __future__ import annotations

import dataclasses
import errno
import pathlib

import pytest

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
