"""Session set-up shared by the unit tests and the nbval notebook runs."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path


def build_sample_store(folder: Path, n_incidents: int = 60, seed: int = 7) -> Path:
    """A small but complete store (sample history through the real loaders) for notebook runs."""
    from review_kit.demo.run import build_demo_store
    return build_demo_store(Path(folder), n_incidents=n_incidents, seed=seed)[0]


def pytest_collection_modifyitems(session, config, items):
    # nbval runs the committed notebooks on their default parameters: point their empty
    # `store` parameter at a sample store through the variable the notebooks honour.
    if any(type(item).__name__ == "IPyNbCell" for item in items) and "REVIEW_KIT_STORE" not in os.environ:
        folder = Path(tempfile.mkdtemp(prefix="review-kit-nbval-"))
        os.environ["REVIEW_KIT_STORE"] = str(build_sample_store(folder))
        os.environ.setdefault("MPLBACKEND", "Agg")
