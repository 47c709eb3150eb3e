"""Time to first picture: the notebooks' first cells import only what they use."""
from __future__ import annotations

import subprocess
import sys

import pytest

# scipy.stats and matplotlib take a second each to import; scipy.sparse (a third of that)
# comes with the title similarity the trend view builds at once.
HEAVY = ("scipy.stats", "matplotlib")


@pytest.mark.parametrize("module", ["review_kit.notebook.trends", "review_kit.notebook.retrospective"])
def test_a_notebook_view_imports_no_heavy_module(module):
    """scipy.stats (the rank and binomial tests) and matplotlib (charts) load when a cell
    first needs them, not when the notebook imports its view."""
    code = (f"import sys, {module}\n"
            f"print(' '.join(sorted(set(sys.modules) & set({HEAVY!r}))))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert loaded.stdout.split() == []
