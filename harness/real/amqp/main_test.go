package amqp

import "github.com/deliveryharness/harness/harness/real/realtest"

// The package's tests share realtest's helpers under short names.
var (
	testRunID = realtest.RunID
	testCtx   = realtest.Context
)
