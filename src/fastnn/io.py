"""``fastnn.io``: model files (:func:`save`, :func:`load`, :func:`load_model`, :class:`ModelFileError`). The code
lives in :mod:`fastnn.saving.format` (the format is described there) and :mod:`fastnn.saving.estimators`."""
from .saving.format import FORMAT_VERSION, ModelFileError, load, load_model, save

__all__ = ["save", "load", "load_model", "ModelFileError", "FORMAT_VERSION"]
