package client

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that no test leaves a goroutine behind, for the tests of
// both package client and package client_test, which share this binary.
func TestMain(m *testing.M) {
	// The WebSocket library of the gateway (nbio) starts two idle pool
	// goroutines when its package is initialised, once per process.
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/lesismal/nbio/taskpool.New.func3"))
}
