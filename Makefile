# Developer tasks. `make install` once, then `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PROTO_FILES := $(shell find proto -name '*.proto')

.PHONY: install proto test check bench bench-e2e bench-oanda bench-kafka demo clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

install: $(BIN)/python
	$(BIN)/python -m pip install -q -e ".[dev]"

# Regenerates the Python modules and .pyi stubs under gateway/schema/ (committed; a test fails when stale).
proto:
	$(BIN)/python -m grpc_tools.protoc -I proto --python_out=gateway/schema --pyi_out=gateway/schema $(PROTO_FILES)

test:
	$(BIN)/python -m pytest -q

# Lint, formatting and types.
check:
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/mypy

bench:
	$(BIN)/python -m pytest tests/benchmarks -q --benchmark-enable

bench-e2e:
	$(BIN)/python scripts/bench_pipeline.py

bench-oanda:
	$(BIN)/python scripts/bench_oanda.py

bench-kafka:
	$(BIN)/python scripts/bench_kafka.py

demo:
	$(BIN)/fxgw demo

clean:
	rm -rf $(VENV) build *.egg-info .benchmarks
