"""Sphinx configuration of the topogcn documentation."""
import os
import sys

sys.path.insert(0, os.path.abspath(".."))

import topogcn  # noqa: E402

project = "topogcn"
author = "the topogcn developers"
copyright = "2026, the topogcn developers"
release = topogcn.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
]
autosummary_generate = False
autodoc_member_order = "bysource"
# Lightning's own docstrings of the hooks we override use directives and roles
# of its docs (testcode, paramref) that this build does not have
autodoc_inherit_docstrings = False
autodoc_typehints = "none"
autodoc_default_options = {"members": True, "show-inheritance": False}
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_custom_sections = [("Shapes", "params_style")]

html_theme = "furo"
html_title = f"topogcn {release}"
templates_path = []
exclude_patterns = ["_build"]
html_static_path = ["_static"]
nitpicky = False
