# The front door: `make demo` runs the whole catalogue on the simulator; `make test` runs the tests.
GO ?= go

.PHONY: demo test bench lint verify

demo:
	$(GO) run ./cmd/simulate

test:
	$(GO) test ./...

bench:
	$(GO) test ./scenarios/ -run '^$$' -bench . -benchmem -count 1

lint:
	@test -z "$$(gofmt -l .)" || { gofmt -l .; echo "gofmt would change the files above"; exit 1; }
	$(GO) vet ./...

verify: lint
	cp go.mod /tmp/go.mod.verify && cp go.sum /tmp/go.sum.verify
	$(GO) mod tidy
	diff -q go.mod /tmp/go.mod.verify && diff -q go.sum /tmp/go.sum.verify
