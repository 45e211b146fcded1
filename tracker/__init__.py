"""Real-time two-hand keypoint tracker (runtime: numpy, OpenCV, onnxruntime, filterpy; no torch)."""
from .hand_tracker import Hand, HandTracker, HandTrackerOptions, HandTrackerResult
from .keypoints import CONNECTIONS, KEYPOINT_NAMES, HandKeypoint

__all__ = ["CONNECTIONS", "KEYPOINT_NAMES", "HandKeypoint",
           "Hand", "HandTracker", "HandTrackerOptions", "HandTrackerResult"]
