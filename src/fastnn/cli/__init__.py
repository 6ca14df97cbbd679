"""The ``fastnn`` command line (``fastnn train``, ``evaluate``, ``cluster``, ``rl``; see ``fastnn --help``)."""
from .main import _check_recipe, _run_length, _split, _train, build_parser, format_confusion_matrix, main, regression_scores

__all__ = ["main", "build_parser", "format_confusion_matrix", "regression_scores", "_check_recipe", "_run_length",
           "_split", "_train"]
