package real

import "github.com/deliveryharness/harness/harness/real/infra"

// Infra names the servers a run uses and where they came from; package infra finds them.
type Infra = infra.Infra
