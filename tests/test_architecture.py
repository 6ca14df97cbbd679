"""The package's import structure: the import-linter contracts in pyproject.toml (modules import only downwards,
no import circles; only tests import the NumPy reference)."""
import os
import subprocess
import sys
import sysconfig

import pytest

import fastnn

pytest.importorskip("importlinter")

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_import_contracts_are_kept():
    """Runs import-linter on the package's source files (the installed copy, or the source tree of an editable
    install, whose import hook import-linter cannot follow: hence ``python -S`` with explicit paths)."""
    package_parent = os.path.dirname(os.path.dirname(os.path.abspath(fastnn.__file__)))
    paths = [package_parent, sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]]
    code = ("import sys\nfrom importlinter.cli import lint_imports\n"
            f"sys.exit(lint_imports(config_filename={os.path.join(_ROOT, 'pyproject.toml')!r}, no_cache=True))")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(paths))
    out = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True, env=env, cwd=_ROOT,
                         timeout=300)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    assert "Contracts: 2 kept, 0 broken" in out.stdout, out.stdout[-2000:]
