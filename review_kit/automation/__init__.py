"""The automation wing: the same path as a person's, driven headless.

Owns the webhook receiver (`server`), the durable run queue and its worker (`queue`), the
record of runs it reads back (`runs`), the papermill runner (`runner`: executes the
notebooks, exports HTML, writes outputs atomically) and the output folder's index
(`outputs`).

May import: every wing above it (core, `loaders`, `store`, `analysis`, `report`,
`notebook`). Never `demo` or the CLI. Tests: tests/test_server.py, test_queue.py, test_runner.py,
test_outputs.py, test_scenario_checkout_outage.py.
"""
