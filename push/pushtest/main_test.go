package pushtest_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if a goroutine outlives them: every
// Sender and mock must be closed.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
