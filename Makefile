# The entry points users type. `make help` lists them.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
# Two pinned virtualenvs: the local stack's tools (moto, cargo-lambda), and the static checks
# (checkov, zizmor, actionlint), whose pins must not steer the emulator's versions.
VENV ?= .venv
CHECKS_VENV ?= .venv-checks
VENV_STAMP := $(VENV)/.installed-$(shell sha256sum tools/python/requirements.txt | cut -c1-16)
CHECKS_STAMP := $(CHECKS_VENV)/.installed-$(shell sha256sum tools/python/checks-requirements.txt | cut -c1-16)
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
# Terraform warns when the configured CLI config file is missing; an empty one silences it.
export TF_CLI_CONFIG_FILE := $(CURDIR)/terraform/.terraformrc
TARGET_DIR := $(or $(CARGO_TARGET_DIR),target)

.PHONY: help
help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

.PHONY: tools
tools: $(VENV_STAMP) $(CHECKS_STAMP) ## install the pinned Python tools into .venv and .venv-checks

$(VENV_STAMP): tools/python/requirements.txt
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --no-input -r tools/python/requirements.txt
	touch $@

$(CHECKS_STAMP): tools/python/checks-requirements.txt
	rm -rf $(CHECKS_VENV)
	$(PYTHON) -m venv $(CHECKS_VENV)
	$(CHECKS_VENV)/bin/pip install --quiet --no-input -r tools/python/checks-requirements.txt
	touch $@

.PHONY: test
test: tools check-terraform ## fmt check, clippy -D warnings, every test, and the Terraform checks
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --locked -- -D warnings
	# The end-to-end test runs the real function binaries.
	cargo build --workspace --bins --locked
	cargo test --workspace --locked

.PHONY: check-terraform
check-terraform: $(CHECKS_STAMP) ## terraform fmt -check and checkov (the HCL rules run in cargo test)
	@if command -v terraform >/dev/null; then \
		terraform fmt -check -recursive terraform; \
	elif [ "$${CI:-}" = "true" ]; then \
		echo "terraform is not installed; CI must run terraform fmt -check" >&2; exit 1; \
	else \
		echo "terraform not on PATH: skipping terraform fmt -check (CI runs it)"; \
	fi
	$(CHECKS_VENV)/bin/checkov --directory terraform --framework terraform --quiet --compact --skip-download

.PHONY: docs
docs: ## regenerate the inputs/outputs reference in each Terraform module README
	cargo run --quiet --locked -p terraform-config --bin module-reference -- terraform/modules/*

.PHONY: demo
demo: tools ## run the whole pipeline on this machine and show one stitched trace per webhook
	cargo build --locked --bins -p webhook-api -p webhook-worker -p local-stack
	LOCAL_STACK_BIN_DIR=$(TARGET_DIR)/debug $(TARGET_DIR)/debug/local-stack demo
