"""The notebook wing: what the two notebooks show, one call per cell.

Owns the retrospective's view (`retrospective`), the trend report's view (`trends`), the
facilitator's widgets (`widgets`) and their headless stand-in (`decisions`, without
ipywidgets, for papermill runs).

May import: the core, `loaders`, `store`, `analysis` and `report`. Never automation or the
CLI. Tests: tests/test_widgets.py, test_notebooks.py, test_browser.py (and nbval runs notebooks/
itself).
"""
