# Avtomatika for Go. `make run` serves blueprints/ on the embedded memory
# store; `make test` runs every test with the race detector.
GO       ?= go
BIN      := bin/avtomatika
ADDR     ?= :8080
FUZZTIME ?= 10s

.PHONY: run test lint bench build fuzz vet fmt clean

build:
	$(GO) build -o $(BIN) ./cmd/avtomatika

run: build
	$(BIN) serve --blueprints blueprints --addr $(ADDR)

test:
	$(GO) vet ./...
	$(GO) test -race -timeout 9m ./...
	$(GO) run ./cmd/avtomatika lint blueprints
	$(GO) run ./cmd/avtomatika test blueprints

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
