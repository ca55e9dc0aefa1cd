package component

import (
	"context"
	"errors"
	"strings"
	"testing"
)

type countPoints struct{ passed []string }

func (c *countPoints) Point(_ context.Context, name string) { c.passed = append(c.passed, name) }

func TestDeclared(t *testing.T) {
	for _, tc := range []struct {
		name, point string
		declared    []string
		want        string // the error's text, or "" for none
	}{
		{"declared", "consumer.after-effect", []string{"consumer.after-effect"}, ""},
		{"typo", "consumer.after-efect", []string{"consumer.after-effect", "consumer.before-commit"},
			`consumer-1 passed "consumer.after-efect" (declared: consumer.after-effect, consumer.before-commit)`},
		{"none declared", "consumer.after-effect", nil, `consumer-1 passed "consumer.after-effect" (declared: none)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inner := &countPoints{}
			var failed error
			f := Declared(inner, "consumer-1", tc.declared, func(err error) { failed = err })
			f.Point(context.Background(), tc.point)
			switch {
			case tc.want == "" && failed != nil:
				t.Fatalf("failed: %v", failed)
			case tc.want != "" && (!errors.Is(failed, ErrUndeclaredPoint) || !strings.HasSuffix(failed.Error(), tc.want)):
				t.Fatalf("failed with %v, want ErrUndeclaredPoint ending %q", failed, tc.want)
			case tc.want == "" && len(inner.passed) != 1:
				t.Fatalf("the point did not reach the backend: %v", inner.passed)
			}
		})
	}
}
