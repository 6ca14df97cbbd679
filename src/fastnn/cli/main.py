"""The ``fastnn`` command line: train a classifier or a regression network on MNIST, Fashion-MNIST or your own
data, and evaluate it.

    fastnn train --dataset fashion-mnist
    fastnn train --data mydata.csv --hidden 128 64 --epochs 20 --save model.fnn
    fastnn train --data prices.csv --task regression --save prices.fnn
    fastnn train --dataset mnist --epochs 10 --plot curves.png
    fastnn evaluate model.fnn --data mydata.csv --test-split
"""
import argparse
import os
import sys

from . import cluster, evaluate, rl, train
from ._args import Parser, epilog
from ._report import format_confusion_matrix, regression_scores

__all__ = ["main", "build_parser", "format_confusion_matrix", "regression_scores"]


def build_parser():
    everything = train.EXAMPLES + evaluate.EXAMPLES + cluster.EXAMPLES + rl.EXAMPLES
    parser = Parser(prog="fastnn", description="Train and evaluate multilayer perceptrons on the CPU with fastnn.",
                    epilog=epilog(everything), formatter_class=argparse.RawDescriptionHelpFormatter)
    from .. import __version__

    parser.add_argument("--version", action="version", version=f"fastnn {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    train.add_parser(sub)
    evaluate.add_parser(sub)
    cluster.add_parser(sub)
    rl.add_parser(sub)
    parser.commands = dict(sub.choices)  # each subcommand's parser, for checks made after parsing
    return parser


def _quiet_stdout():
    """Point the standard output at /dev/null, so that the interpreter's last flush does not fail again after
    the reader of a pipe went away (Python's recipe for SIGPIPE)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # no real file behind stdout
        pass


def main(argv=None, out=None):
    """Run the command line; returns the exit status (0 success, 1 error, 2 bad arguments, 130 Ctrl-C, 141 the
    output's reader went away, as with SIGPIPE)."""
    out = out if out is not None else sys.stdout
    parser = build_parser()
    args = parser.parse_args(argv)
    command = parser.commands[args.command]  # its errors point at 'fastnn COMMAND --help'
    if args.dataset and args.command == "train" and args.task == "regression":
        command.error("--task regression needs --data FILE (the built-in datasets are classification tasks)")
    if args.command == "evaluate" and not (args.dataset or args.data):
        note = evaluate.agent_file_note(args.model) if os.path.isfile(args.model) else None
        if note is not None:
            sys.stderr.write(f"fastnn: error: {note}\n")
            return 1
        command.error("one of the arguments --dataset --data is required")
    if args.dataset and args.command == "evaluate" and args.test_split:
        command.error("--test-split goes with --data; a built-in dataset is scored on its own test set")
    from .._core.threads import available_cores

    if args.threads is not None and args.threads > available_cores():
        sys.stderr.write(f"fastnn: note: --threads {args.threads} is more than the {available_cores()} cores this "
                         f"process may use; using {available_cores()}\n")
        args.threads = available_cores()
    if args.command == "train":
        train.check_recipe(command, args)
    from ..data.datasets import DatasetError
    from ..saving.format import ModelFileError

    try:
        if args.command == "cluster":
            code = cluster.run(args, out)
        elif args.command == "rl":
            code = rl.run(args, out)
        else:
            code = train.run(args, out) if args.command == "train" else evaluate.run(args, out)
        out.flush()  # inside the try: a closed pipe shows up here
        return code
    except BrokenPipeError:
        _quiet_stdout()
        return 141
    except KeyboardInterrupt:
        sys.stderr.write("fastnn: interrupted\n")
        return 130
    except (ValueError, TypeError, DatasetError, ModelFileError, FloatingPointError, OSError, RuntimeError,
            ImportError) as exc:
        message = str(exc).strip().replace("\n", " ") if not isinstance(exc, DatasetError) else str(exc).strip()
        sys.stderr.write(f"fastnn: error: {message}\n")
        return 1
