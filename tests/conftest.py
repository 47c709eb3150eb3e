"""Shared fixtures: where the team's real samples are, and small helpers for every test."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SHARED_SAMPLES = Path(os.environ.get("REVIEW_KIT_SHARED_SAMPLES", REPO.parent / "shared" / "samples"))


@pytest.fixture
def shared_samples() -> Path:
    """../shared/samples (real payloads kept by the team); conformance tests need it."""
    if not SHARED_SAMPLES.is_dir():
        pytest.skip(f"no shared samples folder at {SHARED_SAMPLES}")
    return SHARED_SAMPLES


@pytest.fixture
def fixtures() -> Path:
    return FIXTURES



@pytest.fixture(scope="session")
def sample_store(tmp_path_factory) -> Path:
    """Path of a store holding 60 sample incidents (built once per test session)."""
    from review_kit.demo.run import build_demo_store
    return build_demo_store(tmp_path_factory.mktemp("sample-store"), n_incidents=60, seed=7)[0]


@pytest.fixture
def inc7_store(tmp_path: Path, fixtures: Path):
    """A store holding INC-7, one incident told by several sources (tests/fixtures/widgets)."""
    from review_kit.store.ingest import ingest_paths
    from review_kit.store import Store
    store = Store.open(tmp_path / "review.db")
    ingest_paths(store, "csv", [fixtures / "widgets" / "events.csv"], quiet=True)
    yield store
    store.close()
