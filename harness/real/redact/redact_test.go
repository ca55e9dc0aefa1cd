package redact

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestURL(t *testing.T) {
	for _, tc := range []struct {
		name, raw, want string
	}{
		{"postgres with password", "postgres://u:s3cret@db:5432/x?sslmode=disable", "postgres://u:xxxxx@db:5432/x?sslmode=disable"},
		{"amqp with password", "amqp://guest:s3cret@127.0.0.1:5672/", "amqp://guest:xxxxx@127.0.0.1:5672/"},
		{"password in the query", "postgres://u@db/x?password=s3cret&sslmode=disable", "postgres://u@db/x?password=xxxxx&sslmode=disable"},
		{"without password", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"},
		{"without user", "amqp://127.0.0.1:5672/", "amqp://127.0.0.1:5672/"},
		{"keyword/value with password", "host=db user=u password='s3 cret' dbname=x", "host=db user=u password=xxxxx dbname=x"},
		{"keyword/value without password", "host=db user=u dbname=x", "host=db user=u dbname=x"},
		{"unparsable", "postgres://u:s3cret@db:port/x", "(unparsable URL)"},
		{"unparsable without scheme", "u:s3cret@db/x", "(unparsable URL)"},
		{"control character", "amqp://u:s3cret@mq\n/", "(unparsable URL)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := URL(tc.raw)
			if got != tc.want {
				t.Errorf("URL(%q) = %q, want %q", tc.raw, got, tc.want)
			}
			if strings.Contains(got, "s3cret") || strings.Contains(got, "s3 cret") {
				t.Errorf("URL(%q) shows the password: %q", tc.raw, got)
			}
		})
	}
}

func TestError(t *testing.T) {
	if Error(nil, "s3cret") != nil {
		t.Fatal("Error(nil) is not nil")
	}
	cause := errors.New("login  u:s3cret\n refused")
	err := Error(fmt.Errorf("dial: %w", cause), "", "s3cret")
	if got, want := err.Error(), "dial: login u:xxxxx refused"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if !errors.Is(err, cause) {
		t.Error("the redacted error does not unwrap to its cause")
	}
}

func TestTextAndHost(t *testing.T) {
	got := Text("dial\n postgres://u:s3cret@db:5432/x failed;  amqp://g:s3cret@mq/ too")
	if want := "dial postgres://u:xxxxx@db:5432/x failed; amqp://g:xxxxx@mq/ too"; got != want {
		t.Errorf("Text = %q, want %q", got, want)
	}
	if got := Host("postgres://u:s3cret@db:5432/x"); got != "db:5432" {
		t.Errorf("Host = %q, want db:5432", got)
	}
	if got := Host("host=db password=s3cret"); strings.Contains(got, "s3cret") {
		t.Errorf("Host shows the password: %q", got)
	}
}
