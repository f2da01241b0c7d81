# orderflow: the two commands are `make run` and `make test`; both install what they need.
PYTHON ?= python3
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
export UV_PYTHON := $(PYTHON)
export UV_PYTHON_DOWNLOADS := never
export UV_LINK_MODE := copy
RUN := $(UV) run --frozen --no-sync

.PHONY: run test install lint typecheck unit e2e build deploy clean contracts contracts-generate openapi-generate chaos redrive redrive-dlq reconcile token bench trace

## run: start the whole system locally (API on http://127.0.0.1:8000, local AWS on :4566)
run: install
	$(RUN) python -m orderflow_local

## test: everything CI runs: lint, types, contract and unit tests of every service, end-to-end tests
test: install lint typecheck contracts unit e2e

install: .venv/.synced

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

# checkov has an environment of its own: it pins boto3, networkx and others to releases the workspace
# does not use. Every package is pinned with its hashes (infra/checkov/requirements.txt).
CHECKOV := $(TOOLS)/checkov/bin/checkov
$(CHECKOV): infra/checkov/requirements.txt
	$(PYTHON) -m venv $(TOOLS)/checkov
	$(TOOLS)/checkov/bin/pip install --quiet --disable-pip-version-check --require-hashes --no-deps \
		-r infra/checkov/requirements.txt
	touch $@

# The SAM CLI has an environment of its own too (why: infra/samcli/requirements.in), every package
# pinned with its hashes (infra/samcli/requirements.txt). uv installs it in seconds where pip takes
# half a minute; a changed pin rebuilds the environment from nothing.
SAM := $(TOOLS)/samcli/bin/sam
$(SAM): infra/samcli/requirements.txt | $(UV)
	rm -rf $(TOOLS)/samcli
	$(UV) venv --quiet $(TOOLS)/samcli
	$(UV) pip install --quiet --python $(TOOLS)/samcli/bin/python --require-hashes --no-deps --compile-bytecode \
		-r infra/samcli/requirements.txt
	touch $@

# Bytecode is compiled ahead, for the dependencies and the workspace's own code, as it is in the
# bundles: every fresh interpreter (each local Lambda function, each test run) loads it instead of
# compiling each module it imports, even where PYTHONDONTWRITEBYTECODE keeps Python from caching it.
.venv/.synced: $(UV) uv.lock pyproject.toml shared/pyproject.toml devtools/pyproject.toml infra/pyproject.toml \
		services/*/pyproject.toml
	$(UV) sync --frozen --all-packages --compile-bytecode
	$(RUN) python -m compileall -q shared/src devtools/src infra/src $(wildcard services/*/src)
	touch $@

## lint: ruff; cfn-lint (with the house and serverless rules), statelint and checkov on every template;
## `sam validate --lint` and `sam build` of every stack
lint: install $(CHECKOV) $(SAM)
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) python -m orderflow_iac.check
	$(RUN) python -m orderflow_iac.sam check
	$(RUN) python -m orderflow_devtools.registry check
	$(RUN) python -m orderflow_iac.openapi check
	$(RUN) python -m orderflow_devtools.compatibility

SERVICES := orders inventory payments invoicing notifications

typecheck: install
	$(RUN) mypy --strict shared/src
	$(RUN) mypy --strict devtools/src
	for service in $(SERVICES); do MYPYPATH=shared/src:services/$$service/src $(RUN) mypy --strict -p $$service || exit 1; done
	$(RUN) mypy infra/src
	$(RUN) mypy --strict examples/order_follower

unit: install
	$(RUN) pytest shared devtools services infra/tests -q -m "not contract"  # contract tests run in `contracts`

# The whole suite: a grant of a function's role that no call used fails it unless its template
# justifies it (tests/conftest.py; a partial run by hand only reports unused grants).
e2e: install
	ORDERFLOW_FAIL_UNUSED_GRANTS=1 $(RUN) pytest tests -q

clean:
	rm -rf .venv $(TOOLS)

## build: a deployable bundle of one service, e.g. `make build SERVICE=orders` -> build/orders/
build: install
	$(RUN) python -m orderflow_iac.build $(SERVICE)

## deploy: build and deploy one stack to an environment with the SAM CLI, never asking (docs/deploy.md):
## `make deploy SERVICE=orders ENV=dev [PARAMS="InvoicesBucketName=..."] [DRY_RUN=1]`; SERVICE=infra
## deploys the shared infrastructure, first. DRY_RUN=1 prints the commands and runs nothing.
## ENV=local redeploys one service into the running `make run` [SOURCE=<the service's folder>].
DRY := $(filter-out 0,$(DRY_RUN))
deploy: install $(if $(or $(DRY),$(filter local,$(ENV))),,$(SAM))
	@$(RUN) python -m orderflow_iac.deploy "$(SERVICE)" "$(ENV)" $(if $(DRY),--dry-run) $(if $(PARAMS),--parameters '$(PARAMS)') $(if $(SOURCE),--source '$(SOURCE)')

## contracts: the event contract tests (tests marked `contract`), of every service or of one:
## `make contracts SERVICE=inventory` (its consumer and producer sides; the catalogue-wide checks
## run only without SERVICE)
CONTRACT_TESTS = $(if $(SERVICE),services/$(SERVICE)/tests/contract,devtools/tests services)
contracts: install
	$(RUN) python -m orderflow_devtools.compatibility
	$(RUN) pytest $(CONTRACT_TESTS) -q -m contract

## contracts-generate: rewrite the event schemas, samples, docs/events.md and the schema registry
## block of infra/template.yaml from the contract models (lint fails until this is run and committed)
contracts-generate: install
	$(RUN) python -m orderflow_devtools.registry generate

## openapi-generate: rewrite docs/openapi.json, the public API's OpenAPI document, from the API
## handlers' own resolvers (lint fails until this is run and committed after an API change)
openapi-generate: install
	$(RUN) python -m orderflow_iac.openapi generate

## token: print a bearer token for the running local API (the user is created in the local pool when new):
## `make -s token ROLE=operator`, `make -s token ROLE=customer CUSTOMER=<id> EMAIL=<address>`
token: install
	@test -n "$(ROLE)" || { echo "usage: make -s token ROLE=operator|customer [CUSTOMER=<id> EMAIL=<address>]" >&2; exit 2; }
	@$(RUN) python -m orderflow_local.tokens --role $(ROLE) $(if $(CUSTOMER),--customer "$(CUSTOMER)") $(if $(EMAIL),--email "$(EMAIL)")

## redrive: resume a stalled order's execution from its failed step on the running local system:
## `make redrive ORDER=<orderId>` (RedriveExecution, as an operator would run it on AWS)
redrive: install
	@test -n "$(ORDER)" || { echo "usage: make redrive ORDER=<orderId>" >&2; exit 2; }
	$(RUN) python -m orderflow_local.operator redrive $(ORDER)

## redrive-dlq: send a dead-letter queue's messages back to the queue they came from, on the running local
## system: `make redrive-dlq QUEUE=<DLQ name>` (on AWS: aws sqs start-message-move-task --source-arn <DLQ ARN>)
redrive-dlq: install
	@test -n "$(QUEUE)" || { echo "usage: make redrive-dlq QUEUE=<dead-letter queue name>" >&2; exit 2; }
	$(RUN) python -m orderflow_local.operator redrive-dlq $(QUEUE)

## reconcile: run the payments reconciler now on the running local system (it runs every 5 minutes anyway)
reconcile: install
	$(RUN) python -m orderflow_local.operator reconcile

## trace: print one order's trace on the running local system as a tree with durations:
## `make trace ORDER=<orderId>` (the segments the functions sent to the local X-Ray collector)
trace: install
	@test -n "$(ORDER)" || { echo "usage: make trace ORDER=<orderId>" >&2; exit 2; }
	@$(RUN) python -m orderflow_local.xray_collector $(ORDER)

## chaos: seeded fault-injection scenarios over the real local stack, each checked against G1-G6
## (docs/reliability.md); `make chaos SEED=7 SCENARIO=duplicates` reruns one. About 15 minutes.
chaos: install
	$(RUN) python -m orderflow_local.chaos $(if $(SEED),--seed $(SEED)) $(if $(SCENARIO),--scenario $(SCENARIO))

## bench: orderflow at concurrency 1, 5 and 20 against a bare-saga floor on the same moto: throughput,
## latency, stages, CPU and AWS calls per order, cost per million orders, handler cold starts. Writes
## docs/figures/bench.json and bench-latency.png (docs/performance.md). About 10 minutes;
## `make bench ORDERS=50 LEVELS=1,5` for a quicker look.
bench: install
	$(RUN) python -m orderflow_local.bench $(if $(ORDERS),--orders $(ORDERS)) $(if $(LEVELS),--levels $(LEVELS))
