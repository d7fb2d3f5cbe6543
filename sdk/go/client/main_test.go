package client

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that no test leaves a goroutine behind, for the tests of
// both package client and package client_test, which share this binary.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
