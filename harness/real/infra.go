package real

import "github.com/deliveryharness/harness/harness/real/infra"

// Infra names the servers a run uses and where they came from (package infra finds them); it is
// infra.Infra under the backend's name, what NewBackend takes.
type Infra = infra.Infra
