# Developer tasks. `make install` once, then `make test`.
# Every target runs with the project's .venv when there is one, else with the active interpreter
# (a virtualenv activated elsewhere, as the README's `pip install -e ".[dev]"` leaves it).
PYTHON ?= python3
VENV ?= .venv
PY := $(if $(wildcard $(VENV)/bin/python),$(VENV)/bin/python,$(PYTHON))
PROTO_FILES := $(shell find proto -name '*.proto')
CTRADER_PROTO_FILES := $(wildcard collectors/ctrader/messages/*.proto)

.PHONY: install proto test check bench bench-e2e bench-oanda bench-ctrader bench-kafka bench-hub bench-quality bench-aggregate demo clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

install: $(VENV)/bin/python
	$(VENV)/bin/python -m pip install -q -e ".[dev]"

# Regenerates the Python modules and .pyi stubs under gateway/schema/ and of the vendored cTrader Open API
# messages (collectors/ctrader/messages/); all committed, a test fails when stale.
proto:
	$(PY) -m grpc_tools.protoc -I proto --python_out=gateway/schema --pyi_out=gateway/schema $(PROTO_FILES)
	$(PY) -m grpc_tools.protoc -I . --python_out=. --pyi_out=. $(CTRADER_PROTO_FILES)

test:
	$(PY) -m pytest -q

# Lint, formatting and types.
check:
	$(PY) -m ruff check . && $(PY) -m ruff format --check . && $(PY) -m mypy

bench:
	$(PY) -m pytest tests/benchmarks -q --benchmark-enable

bench-e2e:
	$(PY) scripts/bench_pipeline.py

bench-oanda:
	$(PY) scripts/bench_oanda.py

bench-ctrader:
	$(PY) scripts/bench_ctrader.py

bench-kafka:
	$(PY) scripts/bench_kafka.py

# Central Hub: registrations/s, heartbeats/s, list latency with 1,000 gateways, kill -9 to removal.
bench-hub:
	$(PY) scripts/bench_hub.py

bench-quality:
	$(PY) scripts/bench_broker_quality.py

# The standalone aggregator: ticks/s from NATS, failover time, end-to-end latency (README: Running at scale).
bench-aggregate:
	$(PY) scripts/bench_aggregate.py

demo:
	$(PY) -m gateway.cli demo

clean:
	rm -rf $(VENV) build *.egg-info .benchmarks
