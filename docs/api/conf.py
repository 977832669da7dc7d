"""Sphinx configuration for the pde_kan API reference (built from the docstrings).

Build: ``python -m sphinx -W --keep-going -b html docs/api build/api`` (``make docs``); the test suite builds it
the same way (tests/test_docs.py), so a docstring that Sphinx cannot parse fails CI.
"""
import os
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
os.environ.setdefault("MPLBACKEND", "Agg")

project = "pde_kan"
author = "pde_kan developers"
extensions = ["sphinx.ext.autodoc", "sphinx.ext.napoleon"]

# Each page documents one subpackage's ``__all__``: the public names only.
autodoc_default_options = {"members": True, "undoc-members": True, "show-inheritance": True}
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_mock_imports = ["deepxde"]  # interop imports it lazily; never load it to build the docs
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_ivar = True  # "Attributes:" as fields: dataclass fields are not described twice
default_role = "code"  # `x` in a docstring reads as code, not as a cross-reference to resolve

html_theme = "alabaster"
html_static_path = []
exclude_patterns = ["_build"]
