// Command harness-examples is a team's own harness command: the simulate command's run, matrix,
// replay and list (package harness/cli) with the example services registered (ordersvc,
// ordersvc-bug and watermill), for real servers.
//
//	go run ./examples/cmd/harness-examples matrix --backend real --producer ordersvc --consumer ordersvc --workload orders --seeds 3
//	go run ./examples/cmd/harness-examples run --backend real --producer ordersvc-bug --consumer ordersvc-bug --workload orders --fault ambiguous-commit
//	go run ./examples/cmd/harness-examples matrix --backend real --producer watermill --consumer watermill --workload orders --seeds 3
package main

import (
	"context"
	"os"
	"os/signal"

	_ "github.com/deliveryharness/harness/examples/ordersvc"     // registers ordersvc and ordersvc-bug
	_ "github.com/deliveryharness/harness/examples/watermillsvc" // registers watermill
	"github.com/deliveryharness/harness/harness/cli"
	"github.com/deliveryharness/harness/harness/real"
	"github.com/deliveryharness/harness/reports"
)

func main() {
	// The services are registered by the imports above, before the worker hook: the real
	// backend's workers are this binary re-executed.
	if real.IsWorker() {
		real.WorkerMain()
	}
	reports.ReplayCommand = "go run ./examples/cmd/harness-examples"
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := cli.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
