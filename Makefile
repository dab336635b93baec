# `make demo` and `make test` each do all set-up on a fresh machine: venv, packages, data.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export GAN_DATA_DIR ?= $(CURDIR)/data

.PHONY: setup data demo smoke test test-slow lint bench bench-epoch clean

setup: $(STAMP)

# Re-installs only when pyproject.toml changes. torch is pinned to the wheels on this machine's
# disk; pip (not uv/poetry) finds them there instead of downloading gigabytes.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check torch==2.14.1 torchvision==0.29.1
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

# Always runs: a valid cache loads in a second, a stale or corrupt one is rebuilt.
data: setup
	$(BIN)/gan data fetch --dataset fashion-mnist
	$(BIN)/gan data fetch --dataset mnist

demo: setup data
	$(BIN)/gan train --out runs/demo --force
	$(BIN)/gan export runs/demo
	$(BIN)/gan verify runs/demo/export
	$(BIN)/gan eval runs/demo
	$(BIN)/gan bench runs/demo/export --quick --json runs/demo/bench.json --plot runs/demo/bench.png
	$(BIN)/gan report runs/demo

# A first look in about a minute: a tiny run through train, export, verify and a quick forward bench.
smoke: setup data
	$(BIN)/gan train --limit 128 --epochs 1 --no-compile --out runs/smoke --force
	$(BIN)/gan export runs/smoke
	$(BIN)/gan verify runs/smoke/export
	$(BIN)/gan bench runs/smoke/export --quick --workloads forward --backends eager,torchscript,onnxruntime

# The venv's pytest, not `python -m pytest`, which would put the repository root on sys.path and
# hide a module that imports itself through a second path. One worker per core; a file's tests
# stay on one worker, so its module-scoped fixtures are built once.
test: setup data
	$(BIN)/pytest -n auto --dist loadfile

# Minutes of training each (the pinned classifiers retrained from scratch); CI runs them too.
test-slow: setup data
	$(BIN)/pytest -m slow

lint: setup
	$(BIN)/ruff check .

bench: setup
	$(BIN)/pytest tests/benchmarks --benchmark-enable --benchmark-json bench-pytest.json
	$(BIN)/gan bench --device cpu --json bench.json --plot bench.png

bench-epoch: setup data
	$(BIN)/python -m gan.bench.epoch_speed

clean:
	rm -rf $(VENV) runs .pytest_cache
