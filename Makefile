# Sluice: the README's two first commands are `make run` and `make test`.
GO ?= go
# Packages with concurrency run under the race detector; -race roughly
# doubles build time, so it is not spent on the pure-function packages twice.
TEST_FLAGS ?= -race -timeout 9m

.PHONY: run build test gotest test-deps vet compat bench fuzz scale

run:
	$(GO) run ./cmd/sluice serve

build:
	$(GO) build -o bin/sluice ./cmd/sluice

# test is what CI runs (.ci/run): static checks, every Go test (unit,
# integration with real clients, crash tests of the real binary), then the
# compatibility suite with kcat and kafka-python.
test: vet gotest compat

vet:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); \
	if [ -n "$$unformatted" ]; then echo "not gofmt-formatted:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...

# gotest first installs the Debian tools some tests need (iproute2 and
# iptables for the network-partition test), as root; elsewhere those tests
# skip. test/scale runs alone afterwards: it asserts the issue's time
# targets, which another package's test sharing the two cores would make
# it miss (creating 20,000 partitions took 23 s beside test/cluster, 9 s
# alone).
gotest: test-deps
	$(GO) test $(TEST_FLAGS) $$($(GO) list ./... | grep -v /test/scale)
	$(GO) test $(TEST_FLAGS) ./test/scale/

test-deps:
	bash scripts/test-deps.sh

compat:
	bash scripts/compat.sh

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./internal/...

fuzz:
	$(GO) test -run '^$$' -fuzz FuzzDecode -fuzztime 30s ./internal/server

# scale is issue 11's full-size test: the real binary under
# prlimit --nofile=20000 with 100,000 partitions (CI runs the same test
# with 20,000). It takes about ten minutes on two cores and prints the
# row of docs/performance.md's partitions table.
scale:
	SLUICE_SCALE_PARTITIONS=$${SLUICE_SCALE_PARTITIONS:-100000} $(GO) test -count=1 -timeout 40m -run 'TestPartitionsAtScale' -v ./test/scale/
