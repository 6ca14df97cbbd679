"""What the commands' parsers share: argument types, the data options, the epilogue with examples."""
import argparse

import numpy as np

DATA_FILES = """\
data files: .npz with arrays X and y, or .csv with one sample a row (a header row is allowed),
values separated by commas, semicolons, tabs or spaces (found from the first lines), numeric
features and the label in --label-column (an index or a header name; default: the last
column). Class labels may be any integers or text: they are mapped, in sorted order, to the
network's outputs and the mapping is saved with the model.
"""


def epilog(examples, data_files=True):
    return "examples:\n" + examples + ("\n" + DATA_FILES if data_files else "")


class Parser(argparse.ArgumentParser):
    """Argument errors as one line, with a pointer to --help, and exit status 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def int_at_least(minimum, what):
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a {what} integer, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected a {what} integer, got {value}")
        return value
    return parse


positive_int = int_at_least(1, "positive")
non_negative_int = int_at_least(0, "non-negative")


def column(text):
    """A column index (an integer) or a header name (any other text)."""
    try:
        return int(text)
    except ValueError:
        if not text.strip():
            raise argparse.ArgumentTypeError("expected a column index or a header name, got an empty name") from None
        return text


def float_in(low, high, low_open=False, high_open=False):
    def parse(text):
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not np.isfinite(value) or value < low or value > high or (low_open and value == low) or \
                (high_open and value == high):
            lo = "(" if low_open else "["
            hi = ")" if high_open else "]"
            raise argparse.ArgumentTypeError(f"expected a number in {lo}{low}, {high}{hi}, got {text}")
        return value
    return parse


def add_data_args(p, command):
    # evaluate checks for one after parsing: a model file that is an agent file is named as such first
    src = p.add_mutually_exclusive_group(required=command != "evaluate")
    src.add_argument("--dataset", choices=["mnist", "fashion-mnist"], help="a built-in dataset (found locally "
                     "or downloaded, see fastnn.datasets)")
    src.add_argument("--data", metavar="FILE", help="your own .npz or .csv file")
    p.add_argument("--label-column", type=column, default=-1, metavar="N|NAME",
                   help="CSV column holding the label or target: its index, negative from the end, or its name in "
                        "the header row (default: -1, the last)")
    if command == "cluster":
        pass
    elif command == "train":
        p.add_argument("--test-split", type=float_in(0, 1, True, True), default=0.2, metavar="F",
                       help="with --data: fraction of the rows held out as the test set, drawn with --seed and "
                            "recorded in the saved model (default: 0.2)")
    else:
        p.add_argument("--test-split", action="store_true",
                       help="with --data: score only the rows that 'fastnn train' held out as its test set (the "
                            "split recorded in the model); by default every row of the file is scored")
    p.add_argument("--threads", type=positive_int, default=None, metavar="N",
                   help="threads to use (default: every core this process may use, at most OMP_NUM_THREADS when it is "
                        "set)")
