"""Real-time two-hand keypoint tracker (runtime: numpy, OpenCV, onnxruntime, filterpy; no torch)."""
from importlib import metadata as _metadata

from .hand_tracker import Hand, HandTracker, HandTrackerOptions, HandTrackerResult
from .keypoints import CONNECTIONS, KEYPOINT_NAMES, HandKeypoint

try:
    __version__ = _metadata.version("handtrack")
except _metadata.PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = ["CONNECTIONS", "KEYPOINT_NAMES", "HandKeypoint",
           "Hand", "HandTracker", "HandTrackerOptions", "HandTrackerResult", "__version__"]
