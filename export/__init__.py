"""ONNX export and INT8 quantisation (needs the ``train`` extra: torch, onnx)."""
from train import hint_missing_extra

hint_missing_extra()
