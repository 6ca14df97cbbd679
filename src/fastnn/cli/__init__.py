"""The ``fastnn`` command line (``fastnn train``, ``evaluate``, ``cluster``, ``rl``; see ``fastnn --help``).

:mod:`~fastnn.cli.main` builds the parser and runs a command; each command is a module of its own
(:mod:`~fastnn.cli.train`, :mod:`~fastnn.cli.evaluate`, :mod:`~fastnn.cli.cluster`, :mod:`~fastnn.cli.rl`), with
an ``EXAMPLES`` text, ``add_parser(sub)`` and ``run(args, out)``, over the helpers they share: ``_args`` (argument
types and options), ``_data`` (data, splits, labels, targets) and ``_report`` (scores and their display).
"""
from ._report import format_confusion_matrix, regression_scores
from .main import build_parser, main

__all__ = ["main", "build_parser", "format_confusion_matrix", "regression_scores"]
