# Everything a fresh Debian machine needs: system packages, a virtualenv, the project.
VENV ?= .venv
PY := $(VENV)/bin/python
SYSTEM_PACKAGES := docker-registry apache2-utils skopeo
AZURITE := .cache/node/node_modules/.bin/azurite-blob

.PHONY: demo test setup system venv bench lint

demo: setup            ## the main job: a push → pull round trip through an oci: layout, no server
	$(PY) scripts/demo.py

test: setup            ## the whole test suite
	$(PY) -m pytest -q

setup: system venv

system:
	@missing=""; \
	command -v docker-registry >/dev/null || missing="$$missing docker-registry"; \
	command -v htpasswd >/dev/null || missing="$$missing apache2-utils"; \
	command -v skopeo >/dev/null || missing="$$missing skopeo"; \
	command -v npm >/dev/null || missing="$$missing nodejs npm"; \
	if [ -n "$$missing" ]; then \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

venv: $(VENV)/.installed $(AZURITE)

$(AZURITE):            ## Azure Blob emulator for the external-store tests (npm, git-ignored)
	npm install --prefix .cache/node --no-audit --no-fund --loglevel=error azurite

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[test]'
	touch $@

bench: setup
	$(PY) bench/run.py

lint: venv
	$(VENV)/bin/ruff check mops plumbing porcelain tests
