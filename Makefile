# The front door: `make demo` runs the whole catalogue on the simulator; `make test` runs the tests.
GO ?= go

.PHONY: demo test test-real services clean bench bench-real lint verify

demo:
	$(GO) run ./cmd/simulate

# The real-server packages run for several minutes each on 2 cores: past go test's default 10-minute
# limit per package when the machine is loaded.
test:
	$(GO) test -timeout 30m ./...

# The real-server tests, required to run (a missing server, or a PostgreSQL without
# wal_level=logical, fails them instead of skipping them).
test-real:
	HARNESS_REQUIRE_INFRA=1 $(GO) test -timeout 30m ./harness/real/... ./harness/cli/ ./scenarios/scenariotest/

# Starts the local PostgreSQL and RabbitMQ if they are down, and sets wal_level=logical on the
# local PostgreSQL (a restart) for log tailing. It changes a server's configuration: run it only
# on a server the harness may reconfigure.
services:
	bash .ci/services

# Drops what killed runs left on the servers (schemas, replication slots, queues); live runs are
# left alone.
clean:
	$(GO) run ./cmd/simulate clean

# The simulator's benchmarks: one scenario, and the whole default matrix.
bench:
	$(GO) test ./scenarios/ -run '^$$' -bench . -benchmem -count 1

# The strategies on the real servers, each beside the raw ceilings measured first in the same run
# (metrics named of-<ceiling>) and, where the machine's drift would decide a ratio, measured again
# beside it (of-<ceiling>-paired, LogTailingPaired), and the Watermill peer beside our pipeline.
# About 5 minutes. Needs the servers (make services); a missing one fails the run instead of
# skipping it.
bench-real:
	HARNESS_REQUIRE_INFRA=1 $(GO) test ./harness/real/ -run '^$$' -bench . -benchtime 1x -count 1 -timeout 30m

lint:
	@test -z "$$(gofmt -l .)" || { gofmt -l .; echo "gofmt would change the files above"; exit 1; }
	$(GO) vet ./...

verify: lint
	cp go.mod /tmp/go.mod.verify && cp go.sum /tmp/go.sum.verify
	$(GO) mod tidy
	diff -q go.mod /tmp/go.mod.verify && diff -q go.sum /tmp/go.sum.verify
