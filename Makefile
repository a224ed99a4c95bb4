# Avtomatika for Go. `make run` serves blueprints/ on the embedded memory
# store; `make test` runs every test with the race detector.
GO       ?= go
BIN      := bin/avtomatika
ADDR     ?= :8080
FUZZTIME ?= 10s

.PHONY: run test lint bench build fuzz vet fmt clean mutate faults deps

build:
	$(GO) build -o $(BIN) ./cmd/avtomatika

run: build
	$(BIN) serve --blueprints blueprints --addr $(ADDR)

# test: every package's tests with the race detector. The shipped
# blueprints are checked inside them: cmd/avtomatika's scripts run
# `avtomatika lint` and `avtomatika test --min-coverage 100` on a copy of
# blueprints/ (testdata/script/lint_clean.txtar, test_formats.txtar), and
# the examples run end to end. The tests skip go test's own vet pass
# (`make lint` runs the full vet with the same race build, so CI's lint
# and tests compile once) and link without DWARF (stack traces keep their
# file:line). GORACE drops the race runtime's one-second pause at each
# process exit (tests run the binary many times).
#
# internal/testline prints a line as each package ends (go test alone
# prints them in the order of the command line, and nothing while it
# compiles) and a progress line after 30 s without one. go test starts
# the packages named first first: sdk/worker/s3offload, last by name,
# needs the AWS SDK, whose compile would otherwise end the run alone.
RACE_ENV := GORACE=atexit_sleep_ms=0

test:
	@echo "== tests with the race detector: every package, a line as each ends (a few minutes on two cores;"
	@echo "   blueprints/ linted and its tests run, the docs' checks, the examples end to end, Redis tests"
	@echo "   on their own redis-server, PostgreSQL and SQLite history, the console in headless Chromium)"
	$(RACE_ENV) $(GO) run -race ./internal/testline -- \
		$(GO) test -json -race -vet=off -ldflags=-w -timeout 9m ./sdk/worker/s3offload ./...
	@echo "== ok"

# lint: go vet on every package and its tests (with the race build, so
# the packages compiled for it are the tests' own) and the blueprint lint.
lint:
	@echo "== go vet (race-instrumented build, shared with make test)"
	$(GO) vet -race ./...
	@echo "== lint blueprints/"
	$(RACE_ENV) $(GO) run -race ./cmd/avtomatika lint blueprints

# bench: the harness (medians of 3 runs after a warm-up, memory and Redis)
# and the Go benchmarks. Needs a Redis at $$REDIS_URL (default 127.0.0.1:6379).
bench: build
	$(BIN) bench --store memory --runs 3
	$(BIN) bench --store redis --runs 3
	$(GO) test -run '^$$' -bench . -benchmem -count 3 ./lang/... ./runtime/... ./sdk/...

# faults: the fault suite (internal/faults) with 300 jobs a scenario: two
# instances on one Redis, kill -9 of an instance, of a worker mid-task and
# of Redis (AOF everysec, always). `make test` runs it with 40.
faults:
	$(GO) test -count=1 -v -run 'TestFaults|TestProbes' ./internal/faults -args -jobs 300

fuzz:
	@for t in $$($(GO) test -list '^Fuzz' ./lang/ | grep ^Fuzz); do \
		$(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) ./lang/ || exit 1; done

# mutate: mutation testing with gremlins (not part of `make test` or CI:
# every mutant rebuilds its package and reruns its tests, which takes a
# long while: see docs/mutation.md). Efficacy is killed / (killed + lived)
# per package; ./runtime/store covers the memory store and everything
# under it (the Redis store too). Narrow the run with
# MUTATE_PKGS=runtime/dispatch. Vet is off and DWARF is left out of the
# test binaries (MUTATE_GOFLAGS): the link is most of each mutant's time.
GREMLINS       ?= $(GO) run github.com/go-gremlins/gremlins/cmd/gremlins@v0.6.0
MUTATE_PKGS    ?= runtime/dispatch runtime/core lang runtime/store
MUTATE_FLAGS   ?= --workers 2 --timeout-coefficient 5
MUTATE_GOFLAGS ?= -vet=off -ldflags=-w

mutate:
	@for p in $(MUTATE_PKGS); do \
		echo "== $$p"; \
		GOFLAGS="$$GOFLAGS $(MUTATE_GOFLAGS)" $(GREMLINS) unleash $(MUTATE_FLAGS) ./$$p || exit 1; \
	done

vet:
	$(GO) vet ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf bin

# deps: what the tests need beyond Go, installed when missing. The
# console's browser tests drive Debian's chromium (apt-get, as root or
# through sudo); outside CI they skip without it, in CI they fail.
deps:
	@if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then \
		echo "chromium: $$(command -v chromium || command -v chromium-browser)"; \
	else \
		SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
		$$SUDO apt-get update && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y chromium; \
	fi
