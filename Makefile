# fwledger — see README.md. `make run` starts a log; `make test` runs every test.

GO       ?= go
BIN      := $(CURDIR)/bin
DATA     ?= ./data
ORIGIN   ?= example.com/fwlog
ADDR     ?= 127.0.0.1:8080
FUZZTIME ?= 30s

.PHONY: all build run demo test test-trillian screenshots bench-explorer test-race bench bench-revocation bench-device bench-audit bench-trillian fuzz testdata vet softhsm trillian-up trillian-down clean

all: build

## build: compile fwlog and fwctl into ./bin
build:
	$(GO) build -o $(BIN)/ ./cmd/...

## run: start fwlog on $(ADDR) with SQLite under $(DATA); keys are generated on first start.
## Releases signed by $(KEYS)/release*.pub or $(KEYS)/dev-release.pub are accepted, with provenance
## signed by $(KEYS)/ci*.pub, $(KEYS)/builder*.pub or $(KEYS)/dev-builder.pub. $(KEYS) (default
## local/keys, git-ignored) is where the README walkthrough writes its keys.
KEYS     ?= local/keys
RELEASE_KEYS = $(sort $(wildcard $(KEYS)/release*.pub) $(KEYS)/dev-release.pub)
BUILDER_KEYS = $(sort $(wildcard $(KEYS)/ci*.pub $(KEYS)/builder*.pub) $(KEYS)/dev-builder.pub)
run: build
	@mkdir -p $(KEYS)
	@test -f $(KEYS)/dev-release.pub || $(BIN)/fwctl keygen --name example.com/dev-release --out $(KEYS)/dev-release >/dev/null
	@test -f $(KEYS)/dev-builder.pub || $(BIN)/fwctl keygen --name example.com/dev-builder --out $(KEYS)/dev-builder >/dev/null
	$(BIN)/fwlog serve --data $(DATA) --origin $(ORIGIN) --addr $(ADDR) --log-format text \
		$(foreach k,$(RELEASE_KEYS),--release-keys $(k)) $(foreach k,$(BUILDER_KEYS),--builder-keys $(k))

## demo: the whole story on loopback with fresh keys (in ./demo): fwlog and three fwwitness, a
## release with provenance, a device (fwdevice) that installs, upgrades (once by a delta), and
## refuses five attacks, each with its reason; Ctrl-C stops all
demo:
	./scripts/demo.sh

## test: vet, then every test (unit, HTTP, crash loops, fuzz seed corpora, the explorer in
## headless Chromium). It first builds the reference witness (scripts/omniwitness.sh) for the
## witness interop test, makes the SoftHSM2 token of the PKCS#11 tests (make softhsm), whose
## environment it exports, and installs Debian's chromium if missing (scripts/chromium.sh).
test: vet softhsm
	. ./local/softhsm/env && FWLEDGER_OMNIWITNESS="$$(./scripts/omniwitness.sh)" FWLEDGER_CHROMIUM="$$(./scripts/chromium.sh)" \
		$(GO) test -count=1 ./...
	$(GO) test -count=1 -race -short ./log/... ./client/... ./provenance/... ./witness/... ./revocation/... ./handover/... ./device/... ./report/... ./audit/...

## test-trillian: the Trillian backend against real Trillian and MariaDB (make trillian-up first,
## which installs and starts them): the storage conformance suite, the publisher lease and race,
## a bad root, two fwlog frontends under a SIGKILL loop, the reference witness, and the ledger,
## witness, auditor, device and explorer tests on a Trillian-backed log (FWLEDGER_BACKEND=trillian)
TRILLIAN_PKGS ?= ./log/... ./ledger/... ./witness/... ./audit/... ./device/... ./client/... ./report/... ./explorer/...
test-trillian: trillian-up
	. ./local/trillian/env && FWLEDGER_BACKEND=trillian FWLEDGER_CHROMIUM="$$(./scripts/chromium.sh)" $(GO) test -count=1 $(TRILLIAN_PKGS)
	. ./local/trillian/env && FWLEDGER_BACKEND=trillian FWLEDGER_OMNIWITNESS="$$(./scripts/omniwitness.sh)" \
		$(GO) test -count=1 -run 'TestTrillian|TestReferenceWitness' ./cmd/fwlog/

vet:
	$(GO) vet ./...

## bench-explorer: the explorer's pages at 10^6 entries (latency per kind), and the append rate
## with and without explorer traffic in one run; writes its section of docs/BENCHMARKS.md
bench-explorer:
	./scripts/bench-explorer.sh

## screenshots: the explorer's pages in headless Chromium, written to docs/explorer-*.png
## (the README shows the home and entry pages)
screenshots:
	FWLEDGER_CHROMIUM="$$(./scripts/chromium.sh)" FWLEDGER_SCREENSHOTS=$(CURDIR)/docs $(GO) test -count=1 -run 'TestBrowser$$' ./explorer/

## softhsm: install SoftHSM2 (apt) if it is missing and make the token of the PKCS#11 tests
## under local/softhsm (git-ignored, never system-wide); prints the environment the tests
## need (also in local/softhsm/env). Running it again changes nothing.
softhsm:
	./scripts/softhsm.sh

## trillian-up: a private MariaDB (installed with apt if missing) and Trillian v1.8.0 on
## 127.0.0.1, state under local/trillian, binaries built once under .cache; creates a LOG
## and a PREORDERED_LOG tree and prints the environment (also in local/trillian/env).
## Idempotent. trillian-down stops exactly what it started, by PID.
trillian-up:
	./scripts/trillian.sh up

trillian-down:
	./scripts/trillian.sh down

## bench: Go benchmarks and the HTTP load benchmark; writes docs/BENCHMARKS.md.
## BASE=<commit> also runs the same loads against that commit, built in a git worktree
bench:
	./scripts/bench.sh

## bench-revocation: the append rate with revocation checks against BASE (a commit before them),
## in one session; writes its section of docs/BENCHMARKS.md
bench-revocation:
	./scripts/bench-revocation.sh $(or $(BASE),f8938ef)

## bench-device: the device's numbers (update check, image hashing against sha256sum, a 1 GiB
## install's peak RSS, the binary's size); writes its section of docs/BENCHMARKS.md
bench-device:
	./scripts/bench-device.sh

## bench-audit: the auditor's catch-up rate and peak RSS at each of SIZES entries, beside the
## log's append rate, on clean logs (no alert expected); writes its section of docs/BENCHMARKS.md
bench-audit:
	./scripts/bench-audit.sh

## bench-trillian: Trillian alone (QueueLeaf and AddSequencedLeaves) beside fwlog's setups, the same
## load for each, on the Trillian of trillian-up; writes its section of docs/BENCHMARKS.md
bench-trillian:
	./scripts/bench-trillian.sh

## fuzz: run every fuzz target for $(FUZZTIME)
fuzz:
	FUZZTIME=$(FUZZTIME) ./scripts/fuzz.sh

## testdata: regenerate testdata/ (keys, statements, bundles, vectors, seed corpora)
testdata:
	$(GO) run ./cmd/internal/gentestdata

clean:
	rm -rf $(BIN)
