# The entry points users type. `make help` lists them.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
VENV_STAMP := $(VENV)/.installed-$(shell sha256sum tools/python/requirements.txt | cut -c1-16)
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
# Terraform warns when the configured CLI config file is missing; an empty one silences it.
export TF_CLI_CONFIG_FILE := $(CURDIR)/terraform/.terraformrc
TARGET_DIR := $(or $(CARGO_TARGET_DIR),target)

.PHONY: help
help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

.PHONY: tools
tools: $(VENV_STAMP) ## install the pinned Python tools (moto, cargo-lambda) into .venv

$(VENV_STAMP): tools/python/requirements.txt
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --no-input -r tools/python/requirements.txt
	touch $@

.PHONY: test
test: tools ## fmt check, clippy -D warnings, and every test (unit, emulator integration, end-to-end)
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --locked -- -D warnings
	# The end-to-end test runs the real function binaries.
	cargo build --workspace --bins --locked
	cargo test --workspace --locked

.PHONY: demo
demo: tools ## run the whole pipeline on this machine and show one stitched trace per webhook
	cargo build --locked --bins -p webhook-api -p webhook-worker -p local-stack
	LOCAL_STACK_BIN_DIR=$(TARGET_DIR)/debug $(TARGET_DIR)/debug/local-stack demo
