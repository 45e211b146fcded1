"""MediaPipe Hands 0.10.21 side by side, in its own venv, driven over a pipe.

mediapipe 0.10.21 ships its hand models inside the wheel and runs offline, but needs protobuf < 5
and pulls opencv-contrib-python, so it lives in its own venv (default ``~/.cache/handtrack/mp-venv``,
``HANDTRACK_MP_VENV`` overrides), created on first use by :func:`ensure_venv`.

This file is both sides of the pipe:

- parent (project venv): :class:`MediaPipeHands` starts ``<venv>/bin/python mediapipe_runner.py``
  and sends frames; :func:`ensure_venv` creates the venv.
- child (mp venv, ``__main__``): imports only numpy and mediapipe. Protocol, one request per
  frame: a JSON line ``{"h": H, "w": W, "ts": ms}`` then H*W*3 bytes of BGR uint8 on stdin; the
  answer is one JSON line on stdout ``{"hands": [{"kps": [[x, y] * 21], "label": "Left",
  "score": s}], "ms": processing time}`` (``ms`` is measured in the child: no pipe overhead).
  ``ts`` is not used: the legacy API takes no timestamps (in video mode it stamps its frames
  33.3 ms apart itself, whatever the clip's rate), so MediaPipe sees the same frames as handtrack
  but not their times.

MediaPipe's legacy Hands API names hands as if every image were mirrored (selfie view); the parent
converts its labels to the hand as seen (``Left`` -> ``right``), the convention of this project.
"""
from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

MP_VERSION = "0.10.21"
REQUIREMENTS = [f"mediapipe=={MP_VERSION}", "protobuf<5"]

log = logging.getLogger(__name__)


#: file inside every venv this module made: such a venv, once broken, may be replaced (a folder
#: without it, given as --mp-venv, is a user's own and is never removed)
VENV_MARKER = ".handtrack-mp-venv"


def default_venv() -> Path:
    env = os.environ.get("HANDTRACK_MP_VENV")
    return Path(env) if env else Path.home() / ".cache" / "handtrack" / "mp-venv"


def _venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def check_venv(venv: Path) -> bool:
    """True when ``venv`` has mediapipe ``MP_VERSION`` importable."""
    py = _venv_python(venv)
    if not py.exists():
        return False
    try:
        r = subprocess.run([str(py), "-c", "import mediapipe; print(mediapipe.__version__)"],
                           capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return r.returncode == 0 and r.stdout.strip() == MP_VERSION


def ensure_venv(venv: str | Path | None = None, create: bool = True,
                python: str | None = None) -> Path | None:
    """Return a venv with mediapipe ready, creating it when missing; None (logged) on failure.

    The venv is built in a new hidden folder beside ``venv`` and renamed into place, so a failed or
    interrupted install never leaves a half-made venv that looks ready. Only what this call made is
    ever removed: a folder already at ``venv`` that is not a working venv (an old or broken one, or
    anything else) is left as it is and the MediaPipe columns are skipped (``--mp-venv`` at a
    folder of one's own was deleted with everything in it once pip had succeeded).
    """
    venv = Path(venv) if venv else default_venv()
    if check_venv(venv):
        return venv
    if not create:
        log.warning("MediaPipe venv %s missing or broken (creation disabled): MediaPipe columns skipped", venv)
        return None
    # ours: made by an earlier run (its marker), or at the default cache path; such a broken venv
    # (mediapipe uninstalled, Python upgraded) is replaced once the new one is ready
    ours = venv.is_dir() and ((venv / VENV_MARKER).is_file() or venv == default_venv())
    if os.path.lexists(venv) and not ours and not (venv.is_dir() and not any(venv.iterdir())):
        log.warning("%s exists and is not a MediaPipe %s venv; it is left as it is (remove it, or give another "
                    "folder): MediaPipe columns skipped", venv, MP_VERSION)
        return None
    py = python or sys.executable
    log.info("creating MediaPipe venv %s (%s) ...", venv, " ".join(REQUIREMENTS))
    t0 = time.perf_counter()
    import shutil
    import tempfile
    tmp = None
    try:
        venv.parent.mkdir(parents=True, exist_ok=True)
        # a fresh name (never an existing folder, which was emptied first): this call's own
        tmp = Path(tempfile.mkdtemp(prefix=f".{venv.name}.", suffix=".tmp", dir=venv.parent))
        subprocess.run([py, "-m", "venv", str(tmp)], check=True, capture_output=True, text=True,
                       timeout=300)
        r = subprocess.run([str(_venv_python(tmp)), "-m", "pip", "install", "-q",
                            "--disable-pip-version-check", *REQUIREMENTS],
                           capture_output=True, text=True, timeout=1200)
        if r.returncode != 0:
            raise RuntimeError(f"pip install failed: {r.stderr.strip()[-800:]}")
        # the venv's python works from the renamed folder (its scripts' shebangs do not: we only
        # ever run ``<venv>/bin/python``); rename takes the place of an empty folder only, never
        # of one with files (OSError, and the new venv is removed as below)
        (tmp / VENV_MARKER).write_text(f"made by python -m bench for mediapipe {MP_VERSION}\n", encoding="utf-8")
        if ours:
            old = Path(tempfile.mkdtemp(prefix=f".{venv.name}.", suffix=".old", dir=venv.parent))
            venv.rename(old / venv.name)       # out of the way first: the rename below takes no full folder
            shutil.rmtree(old, ignore_errors=True)
        tmp.rename(venv)
    except Exception as e:  # noqa: BLE001 - any failure means: no MediaPipe columns
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)     # made by this call
        log.warning("MediaPipe venv creation failed (%s): MediaPipe columns skipped", e)
        return None
    if not check_venv(venv):
        log.warning("MediaPipe venv %s does not import mediapipe %s: MediaPipe columns skipped",
                    venv, MP_VERSION)
        return None
    log.info("MediaPipe venv ready in %.0f s", time.perf_counter() - t0)
    return venv


AS_SEEN = {"Left": "right", "Right": "left"}


class MediaPipeHands:
    """MediaPipe Hands (legacy solutions API) in a subprocess.

    Args:
        venv: a venv from :func:`ensure_venv`.
        static_image_mode: MediaPipe's own option (True: detector on every image, no tracking).
        max_hands: ``max_num_hands``. model_complexity: 0 (lite) or 1 (full, the default).
    """

    def __init__(self, venv: str | Path, static_image_mode: bool = False, max_hands: int = 2,
                 model_complexity: int = 1, min_detection_confidence: float = 0.5,
                 min_tracking_confidence: float = 0.5, stderr_path: str | Path | None = None):
        py = _venv_python(Path(venv))
        cmd = [str(py), str(Path(__file__).resolve()), json.dumps({
            "static_image_mode": bool(static_image_mode), "max_num_hands": int(max_hands),
            "model_complexity": int(model_complexity),
            "min_detection_confidence": float(min_detection_confidence),
            "min_tracking_confidence": float(min_tracking_confidence)})]
        self._err = open(stderr_path, "ab") if stderr_path else subprocess.DEVNULL
        env = dict(os.environ)
        env.setdefault("GLOG_minloglevel", "2")
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        env.pop("PYTHONPATH", None)
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self._err, env=env)
        ready = self.proc.stdout.readline()
        if not ready:
            self.close()
            raise RuntimeError("MediaPipe runner exited before it was ready")
        self.info = json.loads(ready)

    def process_raw(self, frame_bgr, timestamp_ms: float | None = None) -> dict:
        """Send one frame; returns the child's answer (21-point keypoints, MediaPipe labels)."""
        import numpy as np
        f = np.ascontiguousarray(frame_bgr, dtype=np.uint8)
        h, w = f.shape[:2]
        head = json.dumps({"h": h, "w": w, "ts": timestamp_ms}).encode() + b"\n"
        try:
            self.proc.stdin.write(head)
            self.proc.stdin.write(f.tobytes())
            self.proc.stdin.flush()
            line = self.proc.stdout.readline()
        except BrokenPipeError:
            line = b""
        if not line:
            raise RuntimeError(f"MediaPipe runner died (exit code {self.proc.poll()})")
        return json.loads(line)

    def process(self, frame_bgr, timestamp_ms: float | None = None):
        """(hands, ms): hands as :class:`bench.temporal.PredHand` (17 points, side as seen)."""
        import numpy as np

        from tracker.keypoints import from_21

        from .temporal import PredHand
        ans = self.process_raw(frame_bgr, timestamp_ms)
        hands = []
        for hnd in ans["hands"]:
            k17, _ = from_21(np.asarray(hnd["kps"], np.float32))
            hands.append(PredHand(k17, AS_SEEN.get(hnd["label"]), None, float(hnd["score"])))
        return hands, float(ans["ms"])

    def close(self) -> None:
        p = getattr(self, "proc", None)
        if p is not None and p.poll() is None:
            try:
                p.stdin.close()
                p.wait(timeout=10)
            except Exception:  # noqa: BLE001
                p.kill()
                p.wait()
        if self._err not in (None, subprocess.DEVNULL):
            self._err.close()
            self._err = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# ---------------------------------------------------------------------------------------------
# child side (runs in the mp venv: numpy + mediapipe only)


def _child_main(argv: list[str]) -> int:
    opts = json.loads(argv[1]) if len(argv) > 1 else {}
    proto = os.fdopen(os.dup(1), "wb")  # the protocol channel; anything printed goes to stderr
    os.dup2(2, 1)
    inp = sys.stdin.buffer
    import numpy as np
    import mediapipe as mp
    hands = mp.solutions.hands.Hands(**opts)
    proto.write(json.dumps({"ready": True, "mediapipe": mp.__version__}).encode() + b"\n")
    proto.flush()
    while True:
        head = inp.readline()
        if not head:
            break
        req = json.loads(head)
        h, w = int(req["h"]), int(req["w"])
        buf = inp.read(h * w * 3)
        frame = np.frombuffer(buf, np.uint8).reshape(h, w, 3)
        t0 = time.perf_counter()
        rgb = np.ascontiguousarray(frame[:, :, ::-1])
        res = hands.process(rgb)
        ms = (time.perf_counter() - t0) * 1000.0
        out = []
        if res.multi_hand_landmarks:
            for lm, hd in zip(res.multi_hand_landmarks, res.multi_handedness):
                c = hd.classification[0]
                out.append({"kps": [[p.x * w, p.y * h] for p in lm.landmark],
                            "label": c.label, "score": float(c.score)})
        proto.write(json.dumps({"hands": out, "ms": ms}).encode() + b"\n")
        proto.flush()
    hands.close()
    return 0


if __name__ == "__main__":
    sys.exit(_child_main(sys.argv))
