# Avtomatika for Go. `make run` serves blueprints/ on the embedded memory
# store; `make test` runs every test with the race detector.
GO       ?= go
BIN      := bin/avtomatika
ADDR     ?= :8080
FUZZTIME ?= 10s

.PHONY: run test lint bench build fuzz vet fmt clean deps

build:
	$(GO) build -o $(BIN) ./cmd/avtomatika

run: build
	$(BIN) serve --blueprints blueprints --addr $(ADDR)

test:
	$(GO) vet ./...
	$(GO) test -race -timeout 9m ./...
	$(GO) run ./cmd/avtomatika lint blueprints

lint:
	$(GO) vet ./...
	$(GO) run ./cmd/avtomatika lint blueprints

# bench: the harness (medians of 3 runs after a warm-up, memory and Redis)
# and the Go benchmarks. Needs a Redis at $$REDIS_URL (default 127.0.0.1:6379).
bench: build
	$(BIN) bench --store memory --runs 3
	$(BIN) bench --store redis --runs 3
	$(GO) test -run '^$$' -bench . -benchmem -count 3 ./lang/... ./runtime/... ./sdk/...

fuzz:
	@for t in $$($(GO) test -list '^Fuzz' ./lang/ | grep ^Fuzz); do \
		$(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) ./lang/ || exit 1; done

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
