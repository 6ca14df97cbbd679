"""Sphinx configuration of fastnn's documentation: ``python -m sphinx -b html docs docs/_build/html``.

Needs ``pip install sphinx sphinx-gallery numpydoc matplotlib scikit-learn`` (the ``docs`` extra of
pyproject.toml) and fastnn itself installed. The gallery (``examples/``) is executed while building;
``FASTNN_EXAMPLES_QUICK=1`` runs it on less data.
"""
import os
from importlib.metadata import version as _version

from sphinx_gallery.sorting import FunctionSortKey

os.environ.setdefault("MPLBACKEND", "Agg")

project = "fastnn"
author = "the fastnn developers"
copyright = "the fastnn developers, BSD-3-Clause"
release = _version("fastnn")
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

templates_path = ["_templates"]
exclude_patterns = ["_build"]
html_theme = "alabaster"
html_theme_options = {"description": "Fast neural networks on multi-core CPUs", "page_width": "1400px", "body_max_width": "none",
                      "sidebar_width": "230px"}

autosummary_generate = True
# scikit-learn adds metadata-routing setters (set_fit_request, ...) to every estimator class; their docstrings
# refer to scikit-learn's own glossary, which this site does not have.
autodoc_default_options = {"members": True, "inherited-members": False, "show-inheritance": True,
                           "exclude-members": "set_fit_request,set_partial_fit_request,set_predict_request,"
                                              "set_score_request,set_transform_request"}
autodoc_member_order = "bysource"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False

# The gallery in the order of the primer; tests/test_examples.py checks that every script is listed here.
GALLERY_ORDER = [
    "plot_epochs_batch_size.py",
    "plot_gradient_descent.py",
    "plot_backpropagation.py",
    "plot_generalization.py",
    "plot_regularization.py",
    "plot_dropout_batchnorm.py",
    "plot_scaling.py",
    "plot_mse_vs_cross_entropy.py",
    "plot_primer_network.py",
    "plot_regression.py",
    "plot_cnn.py",
    "plot_rnn_sunspots.py",
    "plot_autoencoder.py",
    "plot_clustering.py",
    "plot_qlearning.py",
    "plot_dqn.py",
    "plot_speed.py",
]


sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "download_all_examples": False,
    "doc_module": ("fastnn",),
    "backreferences_dir": "generated/backreferences",
    "abort_on_example_error": True,
    "remove_config_comments": True,
    "within_subsection_order": FunctionSortKey(GALLERY_ORDER.index, "GALLERY_ORDER"),
    "matplotlib_animations": False,
    "image_scrapers": ("matplotlib",),
}
