package cephconn

import (
	"context"
	"errors"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A caller that gives up does not poison the shared connection attempt: the
// next caller gets the attempt's own outcome. Nothing listens on port 9.
func TestConnSurvivesACancelledFirstCaller(t *testing.T) {
	c := NewClient("cluster", Config{MonHost: "127.0.0.1:9", User: "admin", Key: "AQAAAAAAAAAAABAAAAAAAAAAAAAAAAAAAAAAAA==", Timeout: 2 * time.Second})
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Conn(cancelled); !errors.Is(err, context.Canceled) {
		t.Fatalf("first caller: %v, want context.Canceled", err)
	}
	start := time.Now()
	_, err := c.Conn(context.Background())
	if err == nil || errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "no answer from 127.0.0.1:9") {
		t.Fatalf("second caller: %v, want the monitor's silence", err)
	}
	if took := time.Since(start); took > 30*time.Second {
		t.Fatalf("connecting to a dead monitor took %s despite a 2s timeout", took)
	}
}

// Each errno a failed Connect returns for a wrong address, user or secret
// gets its own advice; others are passed on as they are.
func TestExplainConnect(t *testing.T) {
	cfg := Config{MonHost: "10.0.0.1", User: "backup", Timeout: 5 * time.Second}
	for _, tc := range []struct {
		err  error
		want string
	}{
		{syscall.ETIMEDOUT, "no answer from 10.0.0.1 within 5s"},
		{syscall.EPERM, "authentication as client.backup was refused"},
		{syscall.EACCES, "authentication as client.backup was refused"},
		{syscall.ENOENT, "no keyring or key found for client.backup"},
		{syscall.EIO, syscall.EIO.Error()},
	} {
		if got := explainConnect(cfg, tc.err); !strings.Contains(got, tc.want) {
			t.Errorf("explainConnect(%v) = %q, want it to contain %q", tc.err, got, tc.want)
		}
	}
}
