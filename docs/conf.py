"""Sphinx configuration of the ocfeh documentation (``make docs``; warnings are errors)."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import ocfeh

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(DOCS))

import generate  # docs/generate.py: results pages, config and CLI reference, run figures

project = "ocfeh"
author = "the ocfeh developers"
copyright = "the ocfeh developers"
release = version = ocfeh.__version__

extensions = [
    "myst_nb",
    "numpydoc",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
]
myst_enable_extensions = ["colon_fence", "deflist", "dollarmath"]
myst_heading_anchors = 3
# pieces included into other pages, not pages of their own
GENERATED_PIECES = ["reference/config_tables.md", "reference/cli_commands.md", "results/headline.md",
                    "results/generated_list.md"]
exclude_patterns = ["_build", "jupyter_execute", "**.ipynb_checkpoints", "README.md", *GENERATED_PIECES]
nitpicky = False
numpydoc_show_class_members = False
numpydoc_validation_checks: set[str] = set()
autodoc_typehints = "none"
autosummary_generate = False
intersphinx_mapping = {}  # the build needs no network

# Tutorials are executed at every build against a small demo run (OCFEH_DOCS_RUN, made by `make docs`).
nb_execution_mode = "force"
nb_execution_in_temp = True  # the files a tutorial writes stay out of docs/
nb_execution_timeout = 600
nb_execution_raise_on_error = True
nb_execution_show_tb = True
nb_merge_streams = True

html_theme = "pydata_sphinx_theme"
html_title = f"ocfeh {release}"
html_static_path = ["_static"]
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
html_sidebars = {"index": []}

RUN_DIR = Path(os.environ.get("OCFEH_DOCS_RUN", ROOT / "runs" / "docs")).resolve()
os.environ["OCFEH_DOCS_RUN"] = str(RUN_DIR)  # the executed notebooks read it
# the notebooks call `ocfeh` as a reader would: the one installed beside this Python
os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])


def _generate(app) -> None:
    if not (RUN_DIR / "report.html").is_file():  # the last stage of a demo run
        raise RuntimeError(f"{RUN_DIR} holds no finished demo run: make docs makes one "
                           "(or set OCFEH_DOCS_RUN to a run of `ocfeh demo --small`)")
    out = DOCS / "_generated"
    shutil.rmtree(out, ignore_errors=True)
    generate.copy_run_figures(RUN_DIR, out / "figures")
    generate.write_results_pages(DOCS / "results")
    generate.write_config_reference(DOCS / "reference" / "config_tables.md")
    generate.write_cli_reference(DOCS / "reference" / "cli_commands.md")


def setup(app) -> None:
    app.connect("builder-inited", _generate)
