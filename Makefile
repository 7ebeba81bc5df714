# `make run` and `make test` do all the set-up: virtual environment, requirements,
# and the system packages the tests need (installed when missing and root).

VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 5000

.PHONY: run serve sip test lint format audio font bench system-packages postgres clean

$(STAMP): requirements.txt softphone/pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $(STAMP)

# Debian packages, installed when missing and root: espeak-ng renders prompts and speaks
# them in recorded calls; chromium runs the web dialer's browser tests; graphviz draws the
# flow map as SVG; ffmpeg decodes MP3 for the softphone's --record; baresip and sip-tester
# (sipp) dial `softphone sip` in its tests, kamailio puts two of them behind its dispatcher;
# nginx stands in front of gunicorn as `make serve` runs it (the slow-client tests).
# Without them the tests that need them skip, saying why.
TEST_PACKAGES := espeak-ng chromium graphviz ffmpeg baresip sip-tester kamailio nginx
define install_missing
	@if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null; then \
	  missing=""; \
	  for package in $(1); do dpkg -s $$package >/dev/null 2>&1 || missing="$$missing $$package"; done; \
	  if [ -n "$$missing" ]; then \
	    echo "Installing:$$missing"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null) \
	      || echo "Could not install$$missing; the tests that need them will skip."; \
	  fi; \
	fi
endef

system-packages:
	$(call install_missing,$(TEST_PACKAGES))

# The lockout, concurrency and timeout tests run on SQLite and on PostgreSQL. When root and
# nothing listens on 127.0.0.1:5432, Debian's postgresql is installed if missing and its
# cluster started; a cluster made here (a throwaway test server) trusts the postgres user on
# 127.0.0.1, which the tests connect as (IVR_TEST_POSTGRES_URL names another server).
# Without root those tests skip, saying why.
postgres:
	@if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null \
	  && ! python3 -c "import socket; socket.create_connection(('127.0.0.1', 5432), 2)" 2>/dev/null; then \
	  fresh=""; \
	  if ! command -v pg_lsclusters >/dev/null; then \
	    echo "Installing: postgresql"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null) \
	      && fresh=1 || echo "Could not install postgresql; its tests will skip."; \
	  fi; \
	  if command -v pg_lsclusters >/dev/null; then \
	    if [ -z "$$(pg_lsclusters -h)" ]; then \
	      pg_createcluster "$$(ls /usr/lib/postgresql | sort -V | tail -1)" main -p 5432 >/dev/null && fresh=1; \
	    fi; \
	    set -- $$(pg_lsclusters -h | head -1); \
	    if [ -n "$$fresh" ]; then \
	      sed -i '1i host all postgres 127.0.0.1/32 trust' "/etc/postgresql/$$1/$$2/pg_hba.conf"; \
	    fi; \
	    pg_ctlcluster "$$1" "$$2" start || echo "Could not start PostgreSQL $$1/$$2; its tests will skip."; \
	  fi; \
	fi

run: $(STAMP)
	$(VENV)/bin/flask --app app accounts seed --if-empty
	@echo "Dial from a browser:  http://$(HOST):$(PORT)/"
	@echo "Or from a terminal:   $(VENV)/bin/softphone http://$(HOST):$(PORT)/voice"
	@echo "Twilio's Voice URL:   http://$(HOST):$(PORT)/voice (POST)"
	$(VENV)/bin/flask --app app run --host $(HOST) --port $(PORT)

test: $(STAMP) system-packages postgres
	$(PY) -m pytest

# Re-render prompts/*.toml to audio/ (only what changed; FORCE=1 for everything).
audio: $(STAMP)
	$(call install_missing,espeak-ng)
	$(VENV)/bin/flask --app app audio render $(if $(FORCE),--force,)

# Rebuild the web dialer's Chinese font subset (ivr/static/fonts/, committed) from Debian's
# fonts-wqy-microhei (Apache-2.0), after a prompt or the page gains characters. The package is
# unpacked in a scratch folder, not installed, so the machine keeps no CJK font of its own.
FONT_PACKAGE := fonts-wqy-microhei
font: $(STAMP)
	rm -rf .font-build && mkdir -p .font-build
	cd .font-build && (apt-get download $(FONT_PACKAGE) || (apt-get update -qq && apt-get download $(FONT_PACKAGE)))
	dpkg-deb -x .font-build/$(FONT_PACKAGE)_*.deb .font-build/root
	$(PY) -m ivr.web_font .font-build/root/usr/share/fonts/truetype/wqy/wqy-microhei.ttc
	(cat .font-build/root/usr/share/doc/$(FONT_PACKAGE)/copyright; echo; \
	  echo "Files: wqy-microhei-subset.woff2 (a subset made by ivr/web_font.py, under the same licence)"; \
	  echo; cat /usr/share/common-licenses/Apache-2.0) > ivr/static/fonts/LICENSE-wqy-microhei.txt
	rm -rf .font-build

bench: $(STAMP)
	$(call install_missing,wrk)
	$(PY) bench/webhooks.py
	$(PY) bench/audio_bench.py
	$(PY) bench/time_to_balance.py
	$(PY) bench/scenarios.py

# Serve the line for real on HOST:PORT: nginx in front (ivr/nginx.conf.in: it reads every
# request whole, so a slow client costs no thread of the app), gunicorn behind it on a unix
# socket in instance/serve/ (gunicorn.conf.py: the app imported once, a worker per core
# forked from it with 16 threads each, an access log with numbers masked). nginx is
# installed when missing and root. Set SECRET_KEY, TWILIO_AUTH_TOKEN and IVR_PUBLIC_URL first.
serve: $(STAMP)
	$(call install_missing,nginx)
	$(VENV)/bin/flask --app app accounts seed --if-empty
	$(PY) -m ivr.serving --host $(HOST) --port $(PORT)

# Answer real SIP phones (issue #19): `softphone sip` in front of this hotline, in-process, on
# HOST:SIP_PORT over UDP and TCP (HOST=0.0.0.0 for phones on the LAN). Dial sip:12333@HOST:5060
# (the user part is the dialled number: 0991-12333 picks Urumqi's line).
SIP_PORT ?= 5060
sip: $(STAMP)
	$(call install_missing,espeak-ng)
	$(VENV)/bin/flask --app app accounts seed --if-empty
	$(VENV)/bin/softphone sip --listen $(HOST):$(SIP_PORT) $(SIP_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean:
	rm -rf $(VENV) instance .pytest_cache .ruff_cache .font-build
