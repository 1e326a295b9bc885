PY ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test install clean soak bench-peers

$(STAMP): pyproject.toml
	@command -v $(PY) >/dev/null 2>&1 || { echo "need $(PY) on PATH (or: make PY=python3 ...)"; exit 2; }
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/assay demo

test: $(STAMP)
	$(BIN)/python -m pytest -n 2

# 20,000 calls through 10% faults and 5 kill -9s (bench/soak.py); exits 1 when a check fails.
soak: $(STAMP)
	$(BIN)/python bench/soak.py

# Assay vs promptfoo, inspect-ai and a bare litellm loop (bench/peers.py; installs the peers under
# /tmp on first use). Workload a by default: make bench-peers PEERS_ARGS="--workload b --rounds 1"
PEERS_ARGS ?=
bench-peers: $(STAMP)
	$(BIN)/python bench/peers.py $(PEERS_ARGS)

clean:
	rm -rf $(VENV) demo-workspace
