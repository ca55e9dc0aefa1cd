package infra

import (
	"context"
	"testing"
)

// For the package's external tests (which use realtest, and so cannot be internal).

// UnsetEnv clears the URL variables for the test.
func UnsetEnv(t *testing.T) { infraUnsetEnv(t) }

// DeadLocal points the local URLs at ports where nothing answers, for the test.
func DeadLocal(t *testing.T) { infraDeadLocal(t) }

// Starter is a containers step that records its calls and its Close.
type Starter = infraStarter

// Start is the step, for WithContainers.
func (s *Starter) Start(ctx context.Context) (Infra, error) { return s.start(ctx) }

// Started and Closed count the step's runs and the Close calls of what it started.
func (s *Starter) Started() int { return s.started }
func (s *Starter) Closed() int  { return s.closed }
