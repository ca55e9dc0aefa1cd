package component

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/deliveryharness/harness/strategies"
)

// ErrUndeclaredPoint: a strategy passed a fault point it does not declare (Points or
// RelayPoints). A crash fault can only name declared points, so one passed under another name
// (a typo) could never fire: the run is a harness error, never a verdict.
var ErrUndeclaredPoint = errors.New("component: a strategy passed a fault point it does not declare")

// Declared wraps a process's fault points so that a point its strategy does not declare is
// reported to fail, with an error that wraps ErrUndeclaredPoint and names the process, the point
// and the declared ones; fail must not return (the simulator unwinds the run, a worker exits).
func Declared(f strategies.Faults, proc string, declared []string, fail func(error)) strategies.Faults {
	return declaredFaults{inner: f, proc: proc, declared: declared, fail: fail}
}

type declaredFaults struct {
	inner    strategies.Faults
	proc     string
	declared []string
	fail     func(error)
}

func (d declaredFaults) Point(ctx context.Context, name string) {
	if !slices.Contains(d.declared, name) {
		d.fail(fmt.Errorf("%w: %s passed %q (declared: %s)", ErrUndeclaredPoint, d.proc, name, pointList(d.declared)))
	}
	d.inner.Point(ctx, name)
}

func pointList(points []string) string {
	if len(points) == 0 {
		return "none"
	}
	return strings.Join(points, ", ")
}
