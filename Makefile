# One command sets up and runs each job on a fresh clone.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test bench lint clean tools-for-tests record-llm

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/dunning demo

# the TLS tests make a throwaway certificate with the openssl command; the IMAP tests
# (and the inbox bench) run a real Dovecot, from the dovecot-imapd package, and the
# PostgreSQL tests a real PostgreSQL server, from the postgresql package
tools-for-tests:
	@command -v openssl >/dev/null || { apt-get update -qq && apt-get install -y -qq openssl; }
	@if ! command -v dovecot >/dev/null && ! test -x /usr/sbin/dovecot; then \
	  if [ "$$(id -u)" = 0 ]; then sudo=; \
	  elif command -v sudo >/dev/null; then sudo=sudo; \
	  else echo "The IMAP tests need Dovecot: as root, run" \
	    "apt-get install -y --no-install-recommends dovecot-imapd" >&2; exit 1; fi; \
	  $$sudo apt-get update -qq && \
	  $$sudo apt-get install -y -qq --no-install-recommends dovecot-imapd; \
	fi
	@if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 && ! command -v postgres >/dev/null; then \
	  if [ "$$(id -u)" = 0 ]; then sudo=; \
	  elif command -v sudo >/dev/null; then sudo=sudo; \
	  else echo "The PostgreSQL tests need its server: as root, run" \
	    "apt-get install -y postgresql" >&2; exit 1; fi; \
	  $$sudo apt-get update -qq && $$sudo apt-get install -y -qq postgresql; \
	fi

test: $(STAMP) tools-for-tests
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest

bench: $(STAMP) tools-for-tests
	$(BIN)/python bench/run_bench.py
	$(BIN)/python bench/inbox_bench.py
	$(BIN)/python bench/eval_bench.py
	$(BIN)/python bench/llm_bench.py
	$(BIN)/python bench/workers_bench.py

# the LLM answers the tests replay, recorded from the local llama.cpp server (~35 min)
record-llm: $(STAMP)
	$(BIN)/python -m evals.record_local

lint: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) dunning-demo .pytest_cache
