package real

import (
	"context"
	"fmt"

	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/service"
)

// runService runs a scenario of a team's service (service mode).
func (b *Backend) runService(ctx context.Context, sc history.Scenario, s *service.Strategy) (*history.History, error) {
	return nil, fmt.Errorf("real: service %s: service mode is not built yet", s.Name())
}
