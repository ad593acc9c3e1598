# flowpbx — `make run` starts the demo PBX, `make test` runs the whole suite.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
DATA   ?= data
# `make run` listens on loopback only: the demo's passwords are published
SIP_LISTEN  ?= 127.0.0.1:5060
HTTP_LISTEN ?= 127.0.0.1:8000

.PHONY: install sysdeps run test lint typecheck clean web bench screenshots

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: $(BIN)/python pyproject.toml requirements.lock
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements.lock
	$(BIN)/pip install -q --no-deps -e .
	touch $@

install: $(VENV)/.installed

sysdeps:
	bash scripts/install-system-deps.sh

# SIP over TLS: FLOWPBX_TLS_CERT/KEY when set, else a self-signed pair made once in the data dir
TLS_CERT := $(or $(FLOWPBX_TLS_CERT),$(DATA)/tls/cert.pem)
TLS_KEY := $(or $(FLOWPBX_TLS_KEY),$(DATA)/tls/key.pem)

run: install web
	FLOWPBX_DATA_DIR=$(DATA) $(BIN)/flowpbx db upgrade
	FLOWPBX_DATA_DIR=$(DATA) $(BIN)/flowpbx demo
	FLOWPBX_DATA_DIR=$(DATA) FLOWPBX_SIP_LISTEN=$(SIP_LISTEN) \
		$(BIN)/flowpbx tls-cert --cert $(TLS_CERT) --key $(TLS_KEY)
	FLOWPBX_DATA_DIR=$(DATA) FLOWPBX_SIP_LISTEN=$(SIP_LISTEN) FLOWPBX_HTTP_LISTEN=$(HTTP_LISTEN) \
		FLOWPBX_TLS_CERT=$(TLS_CERT) FLOWPBX_TLS_KEY=$(TLS_KEY) $(BIN)/flowpbx serve

# The web UI (web/): rebuilt only when its sources or the flow schema are newer than the build.
WEB_SRC := $(shell find web/src web/scripts web/index.html web/package.json web/package-lock.json \
	web/vite.config.ts web/tsconfig.json -type f 2>/dev/null) src/flowpbx/flow/model.py

web: web/dist/index.html

web/dist/index.html: $(WEB_SRC) | $(VENV)/.installed
	$(BIN)/python web/scripts/export_schema.py
	cd web && npm ci --no-audit --no-fund && npm run build
	touch $@

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

test: install sysdeps lint typecheck web
	$(BIN)/pytest -q -n 3 --dist loadfile

# The Chromium tests save their screenshots in build/screenshots/ (git-ignored); this runs them
# and refreshes the ones the README shows in docs/screenshots/.
screenshots: install sysdeps web
	rm -rf build/screenshots
	$(BIN)/pytest -q -n 2 --dist loadfile tests/web
	mkdir -p docs/screenshots
	cp build/screenshots/*.png docs/screenshots/

# On demand only, never part of `make test`: call setups/s and media capacity beside the
# references (benchmarks/RESULTS.md). Sippy B2BUA lives in its own venv outside the tree.
SIPPY_VENV ?= /tmp/venv-sippy
bench: install sysdeps
	command -v rtpengine >/dev/null || apt-get install -y --no-install-recommends rtpengine-daemon
	command -v kamailio >/dev/null || apt-get install -y --no-install-recommends kamailio
	test -x $(SIPPY_VENV)/bin/b2bua_simple || \
		($(PYTHON) -m venv $(SIPPY_VENV) && $(SIPPY_VENV)/bin/pip install -q sippy==2.5.0)
	$(BIN)/python benchmarks/cps.py --sippy $(SIPPY_VENV)/bin/b2bua_simple
	$(BIN)/python benchmarks/cps.py --targets play_kamailio --rates 400,500,600,700
	$(BIN)/python benchmarks/media.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
