# Two commands do all set-up on a fresh machine:
#   make run    serve the platform on http://127.0.0.1:8000 (embedded SQLite under var/;
#               DEMO=no skips loading the sample trade)
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
	bash deploy/ensure-packages.sh postgresql mosquitto golang-go golang-golang-x-mod-dev chromium

run: install
	$(BIN)/tradezone db upgrade
	@if [ "$(DEMO)" != no ]; then $(BIN)/tradezone demo load; fi
	@echo
	@echo "Tradezone API:   http://$(HOST):$(PORT)/api/v1/docs  (OpenAPI: /api/v1/openapi.json)"
	@echo "Ledger:          curl http://$(HOST):$(PORT)/api/v1/ledger/checkpoint"
	@echo "Sample tokens:   var/demo-tokens.json (the README walks through the sample trade)"
	@echo "New org:         $(BIN)/tradezone org create 'Zone Regulator' --role regulator"
	@echo
	$(BIN)/tradezone serve --host $(HOST) --port $(PORT)

test: install system-packages
	$(BIN)/pytest

bench: install system-packages
	$(BIN)/python bench/ledger_bench.py --quick

clean:
	rm -rf $(VENV) var build *.egg-info
