import os
import sys

# Benchmarks import their shared helpers (common.py) from this folder.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
