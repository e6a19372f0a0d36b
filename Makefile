# Two commands do all set-up on a fresh machine:
#   make run    the platform on http://127.0.0.1:8000: API, Mosquitto, MQTT gateway and a device
#               simulator, on the embedded SQLite under var/ (DEMO=no: no sample, no simulator)
#   make test   run the whole test suite on SQLite and on a throwaway PostgreSQL
VENV    ?= .venv
PYTHON  ?= python3
BIN      = $(VENV)/bin
STAMP    = $(VENV)/.installed-stamp
HOST    ?= 127.0.0.1
PORT    ?= 8000
DEMO    ?= yes

.PHONY: install system-packages run test bench clean

install: $(STAMP)

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

system-packages:
	bash deploy/ensure-packages.sh postgresql mosquitto golang-go golang-golang-x-mod-dev chromium wrk

run: install
	@if [ "$(DEMO)" = no ]; then $(BIN)/python deploy/devstack.py --host $(HOST) --port $(PORT) --no-demo; \
	else $(BIN)/python deploy/devstack.py --host $(HOST) --port $(PORT); fi

test: install system-packages
	$(BIN)/pytest

bench: install system-packages
	$(BIN)/python bench/ledger_bench.py --quick
	$(BIN)/python bench/api_bench.py --quick
	$(BIN)/python bench/gateway_bench.py --quick
	$(BIN)/python bench/audit_bench.py --quick

clean:
	rm -rf $(VENV) var build *.egg-info
