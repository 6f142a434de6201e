# Two promises: `make demo` and `make test` work on a fresh Debian machine with Python 3.11.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test install test-deps bench lock clean web

$(STAMP): pyproject.toml requirements.lock requirements-test.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -r requirements.lock -r requirements-test.lock
	$(BIN)/pip install -q --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

# Runs the main job on the bundled example Maildir (no server needed), then shows the queue.
# Re-running it changes nothing: every message is already stored.
demo: $(STAMP)
	$(BIN)/abuse-intake --config config.example.toml poll
	$(BIN)/abuse-intake --config config.example.toml cases list --status all
	$(BIN)/abuse-intake --config config.example.toml outbox list

# The web console on the demo store: polls the bundled mailbox, creates the user "demo"
# (lead) with a fresh password printed here, and serves http://127.0.0.1:8080/.
web: $(STAMP)
	$(BIN)/abuse-intake --config config.example.toml poll
	@$(BIN)/python -m abuse_intake.web.demo config.example.toml
	$(BIN)/abuse-intake --config config.example.toml web

# Dovecot is the real IMAP server the integration tests start on loopback.
test-deps:
	@command -v dovecot >/dev/null 2>&1 || { \
	  echo "installing dovecot-imapd (needed by the IMAP tests)"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dovecot-imapd) >/dev/null; }
	@# Chromium from Debian is the real browser of the web console's tests (never `playwright install`).
	@test -x /usr/bin/chromium || { \
	  echo "installing chromium (needed by the web console's browser tests)"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver) >/dev/null; }

# Byte-compile the package first: the tests start the CLI as a process hundreds of
# times, and with PYTHONDONTWRITEBYTECODE set (as on these machines) each start
# would otherwise recompile every module it imports (~0.1 s a process).
test: $(STAMP) test-deps
	PYTHONDONTWRITEBYTECODE= $(BIN)/python -m compileall -q src >/dev/null
	$(BIN)/python -m pytest -q

bench: $(STAMP) test-deps
	$(BIN)/python -m bench.run

# Re-pin exact versions after changing dependencies in pyproject.toml.
lock:
	rm -rf /tmp/abuse-intake-lock && $(PYTHON) -m venv /tmp/abuse-intake-lock
	/tmp/abuse-intake-lock/bin/pip install -q . && /tmp/abuse-intake-lock/bin/pip freeze --exclude abuse-intake > requirements.lock

clean:
	rm -rf $(VENV) data .pytest_cache
