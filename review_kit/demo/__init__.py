"""The demo wing: a sample incident history and `review-kit demo`.

Owns the sample-data generator (`sample`: PagerDuty and CSV exports shaped like real ones,
and earlier reviews' action items) and the demo run (`run`: generate, ingest, run a
retrospective and a trend report).

May import: every other wing but the CLI; nothing but the CLI and tests imports it.
Tests: tests/test_sample.py.
"""
