package infra

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
)

// The NATS server: HARNESS_NATS_URL, else the local default, whatever else discovery found; a
// server that does not answer is ErrNoNATS in one line without the password.
func TestNATSURL(t *testing.T) {
	t.Setenv(EnvNATSURL, "")
	if got := natsURL(); got != LocalNATSURL {
		t.Errorf("unset: %q, want %q", got, LocalNATSURL)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	_ = ln.Close()
	raw := "nats://harness:natssecret@" + dead
	t.Setenv(EnvNATSURL, raw)
	if got := natsURL(); got != raw {
		t.Errorf("set: %q, want %q", got, raw)
	}
	err = RequireNATS(context.Background(), Infra{NATSURL: raw})
	if !errors.Is(err, ErrNoNATS) {
		t.Fatalf("a server that does not answer: %v, want ErrNoNATS", err)
	}
	if msg := err.Error(); strings.Contains(msg, "natssecret") || strings.Contains(msg, "\n") || !strings.Contains(msg, EnvNATSURL) {
		t.Errorf("error %q: want one line naming %s, without the password", msg, EnvNATSURL)
	}
}
