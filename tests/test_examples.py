"""The example gallery (examples/plot_*.py): every script is listed in the gallery's order and on the primer's
page, has a title, uses fastnn's public API and a few well-known libraries only, and runs (on less data, with
FASTNN_EXAMPLES_QUICK=1) drawing figures and printing what they show."""
import ast
import os
import runpy
import warnings

import pytest

import fastnn

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = os.path.join(ROOT, "examples")
SCRIPTS = sorted(f for f in os.listdir(EXAMPLES) if f.startswith("plot_") and f.endswith(".py"))
FASHION_DIR = os.environ.get("FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist")

# Libraries an example may import (top-level names); fastnn only through its public names.
ALLOWED = {"math", "os", "tempfile", "time", "warnings", "numpy", "threadpoolctl", "matplotlib", "sklearn",
           "gymnasium", "statsmodels", "fastnn"}
PUBLIC_MODULES = {"callbacks", "cluster", "datasets", "distributed", "losses", "metrics", "onnx", "optim",
                  "plotting", "preprocessing", "regularizers", "rl", "schedules", "sklearn"}


def _source(name):
    with open(os.path.join(EXAMPLES, name), encoding="utf-8") as f:
        return f.read()


def _gallery_order():
    """GALLERY_ORDER from docs/conf.py, read without importing Sphinx."""
    tree = ast.parse(open(os.path.join(ROOT, "docs", "conf.py"), encoding="utf-8").read())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "GALLERY_ORDER" for t in node.targets):
            return ast.literal_eval(node.value)
    raise AssertionError("docs/conf.py has no GALLERY_ORDER")


def test_there_are_examples_and_a_gallery_header():
    assert len(SCRIPTS) >= 11
    assert os.path.exists(os.path.join(EXAMPLES, "README.txt"))


def test_every_example_is_listed_in_the_gallery_order_and_on_the_primer_page():
    order = _gallery_order()
    assert sorted(order) == SCRIPTS, "list each examples/plot_*.py in docs/conf.py's GALLERY_ORDER, once"
    primer = open(os.path.join(ROOT, "docs", "primer.rst"), encoding="utf-8").read()
    missing = [s for s in SCRIPTS if f"sphx_glr_auto_examples_{s}" not in primer]
    assert not missing, f"docs/primer.rst does not link {missing}"


@pytest.mark.parametrize("name", SCRIPTS)
def test_example_has_a_title_docstring(name):
    doc = ast.get_docstring(ast.parse(_source(name)), clean=False)
    assert doc, f"{name} has no module docstring"
    lines = doc.strip("\n").splitlines()
    assert len(lines) >= 4 and lines[0].strip(), f"{name}: the docstring starts with a title"
    assert set(lines[1]) == {"="} and len(lines[1]) == len(lines[0]), f"{name}: the title is underlined with '='"
    assert lines[2] == "" and any(line.strip() for line in lines[3:]), f"{name}: a paragraph follows the title"


def _fastnn_attribute_chains(tree):
    """Each ``fastnn.a.b`` chain of attributes read in the script, as a list of names."""
    chains = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            names, inner = [node.attr], node.value
            while isinstance(inner, ast.Attribute):
                names.insert(0, inner.attr)
                inner = inner.value
            if isinstance(inner, ast.Name) and inner.id == "fastnn":
                chains.append(names)
    return chains


@pytest.mark.parametrize("name", SCRIPTS)
def test_example_imports_only_public_api_and_allowed_libraries(name):
    tree = ast.parse(_source(name))
    public = set(fastnn.__all__) | PUBLIC_MODULES
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{name}: relative import"
            modules = [node.module]
            if node.module == "fastnn":
                bad = [a.name for a in node.names if a.name not in public]
                assert not bad, f"{name} imports {bad}, not public names of fastnn"
        else:
            continue
        for module in modules:
            parts = module.split(".")
            assert parts[0] in ALLOWED, f"{name} imports {module}, not an allowed library"
            assert not any(p.startswith("_") for p in parts), f"{name} imports the private module {module}"
            if parts[0] == "fastnn" and len(parts) > 1:
                assert parts[1] in PUBLIC_MODULES, f"{name} imports {module}, not a public module of fastnn"
    for chain in _fastnn_attribute_chains(tree):
        assert chain[0] in public, f"{name} uses fastnn.{'.'.join(chain)}, not a public name"
        assert not any(p.startswith("_") for p in chain), f"{name} uses fastnn.{'.'.join(chain)}"


@pytest.mark.parametrize("name", SCRIPTS)
def test_example_runs_draws_and_prints(name, monkeypatch, capsys):
    if "load_fashion_mnist" in _source(name) and not os.path.exists(os.path.join(FASHION_DIR, "t10k-labels-idx1-ubyte.gz")):
        if os.environ.get("CI"):
            pytest.fail(f"Fashion-MNIST not found in {FASHION_DIR}")
        pytest.skip(f"Fashion-MNIST not found in {FASHION_DIR} (apt-get install -y dataset-fashion-mnist)")
    for module in ("sklearn", "gymnasium", "statsmodels"):
        if module in _source(name):
            pytest.importorskip(module)
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    monkeypatch.setenv("FASTNN_EXAMPLES_QUICK", "1")
    monkeypatch.chdir(EXAMPLES)
    plt.close("all")
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*non-interactive.*", category=UserWarning)
            runpy.run_path(os.path.join(EXAMPLES, name), run_name="__main__")
        assert plt.get_fignums(), f"{name} drew no figure"
    finally:
        plt.close("all")
    printed = capsys.readouterr().out
    assert any(ch.isdigit() for ch in printed), f"{name} printed no numbers"
