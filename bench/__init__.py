"""Evaluation and benchmark suite for handtrack (issue 5).

Run everything with ``python -m bench --shared ../shared --out docs/bench``; the memory soak is
``python -m bench soak``. Modules:

- :mod:`bench.temporal`   jitter, lag, identity/side swaps, re-acquisition (numpy only)
- :mod:`bench.matching`   predicted hand <-> ground-truth hand assignment
- :mod:`bench.motion`     synthetic clips with ground truth from labelled hands21/val photos
- :mod:`bench.accuracy`   whole tracker in static-image mode on hands21/val photos
- :mod:`bench.speed`      per stage / end-to-end latency on the shared videos
- :mod:`bench.mediapipe_runner`  MediaPipe 0.10.21 in its own venv, driven over a pipe
- :mod:`bench.soak`       long run with RSS sampled
- :mod:`bench.videos`     the shared clips without labels: tracks, side changes, hands found
- :mod:`bench.methods`    handtrack and MediaPipe behind one interface
- :mod:`bench.robustness` photos and clips under degraded conditions (``python -m bench robustness``)
- :mod:`bench.models`     each model alone (``python -m bench models``)
- :mod:`bench.live`       a simulated camera at a fixed rate: latency and frames kept
- :mod:`bench.train_step` training-step time per net and allocator (needs a clone and torch)
- :mod:`bench.run`        the one command that writes ``REPORT.md`` with plots

Accuracy metrics come from :mod:`tracker.metrics`; nothing here but ``bench.train_step`` imports torch.
"""
