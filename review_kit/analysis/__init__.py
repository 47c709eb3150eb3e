"""The analysis wing: pure functions of DataFrames, no database, no files, no drawing.

Owns the merged timeline and its milestones (`timeline`), per-incident metrics and
communication gaps (`metrics`), one incident's review gathered from any reader of the store
(`retrospective`), the statistics for heavy-tailed durations (`statistics`: bootstrap
intervals, period and rate comparisons, control limits), the fleet summaries built on them
(`trends`) and the similarity of incidents (`similarity`).

May import: the core (`model`, `errors`, `config`, `paths`) only. It reads the store through
an object passed in (see `retrospective.IncidentReader`), never by importing it.
Tests: tests/test_timeline.py, test_metrics.py, test_history_ranks.py, test_trends.py,
test_trend_stats_simulation.py, test_similarity.py.
"""
