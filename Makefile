# Fresh machine: `make demo` runs the demo, `make test` runs the tests. Each creates .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test install clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip uv
	# uv installs in seconds; compile bytecode, or every notebook kernel imports 3x slower
	$(BIN)/uv pip install --quiet --python $(BIN)/python --compile-bytecode -e ".[test]"
	# the editable package too: PYTHONDONTWRITEBYTECODE would have every kernel recompile it
	$(BIN)/python -m compileall -q review_kit
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (review-kit)" >/dev/null
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/review-kit demo --out demo-output/$$(date -u +%Y%m%dT%H%M%SZ)

test: $(STAMP)
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) demo-output
