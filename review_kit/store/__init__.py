"""The store wing: where everything read from the sources is kept.

Owns the database (`database`: SQLAlchemy Core on SQLite or PostgreSQL, readers returning
DataFrames), its schema upgrades (`migrations`), ingest (`ingest`: files through the loaders,
one transaction per file) and REST pulls (`pull`: fetch pages, then ingest them).

May import: the core (`model`, `errors`, `config`, `paths`) and `loaders`. Never analysis,
report, notebook, automation, demo or the CLI. Tests: tests/test_store*.py, test_migrations.py,
test_pull.py, test_concurrency.py.
"""
from .database import IngestResult, Store, store_location, store_url

__all__ = ["IngestResult", "Store", "store_location", "store_url"]
