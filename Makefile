# kong-alb-eks: the two everyday commands are `make synth` and `make test`.
SHELL := bash
STACK ?= dev
CACHE ?= $(or $(KONG_ALB_EKS_CACHE),$(HOME)/.cache/kong-alb-eks)
TOOLS := $(CACHE)/bin
GOLANGCI_LINT_VERSION := v2.15.0
ACTIONLINT_VERSION := v1.7.12
export GOFLAGS := -buildvcs=false

.PHONY: synth synth-json test stress release-state lint tools pulumi-cli cluster

## synth: the offline preview of a stack (default dev): what `pulumi up` would create, no credentials.
synth:
	go run . synth --stack $(STACK)

synth-json:
	go run . synth --stack $(STACK) --format json

## pulumi-cli: build the Pulumi CLI the Automation API tests drive (cached under $(CACHE)).
pulumi-cli:
	@.ci/install-pulumi.sh >/dev/null

## cluster: build the local Kubernetes control plane and the real Kubernetes provider plugin
## the cluster tests run (cached under $(CACHE)).
cluster:
	@.ci/install-cluster.sh >/dev/null
	@.ci/install-kubernetes-provider.sh >/dev/null

## test: the whole test suite, offline. The stacks tests run the real Pulumi engine, the
## tests/localcluster, tests/standins and tests/wholeprogram a real Kubernetes control plane, the real
## Kubernetes provider and the real charts (the whole program, every shipped stack).
TEST_ENV = PATH="$$(.ci/install-pulumi.sh):$$PATH" KONG_ALB_EKS_CLUSTER_BIN="$$(.ci/install-cluster.sh)" \
	KONG_ALB_EKS_KUBERNETES_PROVIDER="$$(.ci/install-kubernetes-provider.sh)"
test: pulumi-cli cluster
	$(TEST_ENV) go test -timeout 30m ./...

## stress: the whole suite RUNS times (default 3) under contention: one CPU for the tests
## (-cpu 1), one package at a time (-p 1), and a background load this target starts and stops
## itself (two busy loops and a disk writer). A race that a quiet machine hides shows here.
RUNS ?= 3
stress: pulumi-cli cluster
	@load=(); trap 'kill "$${load[@]}" 2>/dev/null; rm -f "$${TMPDIR:-/tmp}/kong-alb-eks-stress.$$$$"' EXIT; \
	for _ in 1 2; do (while :; do :; done) & load+=($$!); done; \
	(while :; do dd if=/dev/zero of="$${TMPDIR:-/tmp}/kong-alb-eks-stress.$$$$" bs=1M count=256 conv=fsync status=none; done) & load+=($$!); \
	for run in $$(seq $(RUNS)); do \
		echo "== stress run $$run of $(RUNS)"; \
		$(TEST_ENV) go test -count=1 -cpu 1 -p 1 -timeout 60m ./... || exit 1; \
	done

## release-state: record the dev stack's state as deployed by this program (after its first up
## in tests/wholeprogram) as the fixture the next releases must upgrade without losing anything
## stateful (tests/wholeprogram/testdata/release). Run it when a release is cut.
release-state: pulumi-cli cluster
	$(TEST_ENV) go test -count=1 -timeout 20m ./tests/wholeprogram -run 'TestUpgradeFromTheRecordedRelease$$' -args -record-release

## tools: the pinned linters.
tools:
	@test -x $(TOOLS)/golangci-lint || GOBIN=$(TOOLS) go install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)
	@test -x $(TOOLS)/actionlint || GOBIN=$(TOOLS) go install github.com/rhysd/actionlint/cmd/actionlint@$(ACTIONLINT_VERSION)

## lint: formatting, vet, golangci-lint and the GitHub workflows.
lint: tools
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$unformatted" ]; then echo "gofmt would change:"; echo "$$unformatted"; exit 1; fi
	go vet ./...
	$(TOOLS)/golangci-lint run ./...
	$(TOOLS)/actionlint
