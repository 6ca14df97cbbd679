"""``python -m fastnn``: the command line (see ``fastnn --help``)."""
import sys

from .cli import main

sys.exit(main())
