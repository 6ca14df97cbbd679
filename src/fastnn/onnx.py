"""``fastnn.onnx``: export to ONNX (:func:`to_onnx`, :func:`save`). The code lives in :mod:`fastnn.saving.onnx`."""
from .saving.onnx import save, to_onnx

__all__ = ["to_onnx", "save"]
