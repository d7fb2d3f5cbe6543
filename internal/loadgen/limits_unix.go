//go:build unix

package loadgen

import (
	"fmt"
	"syscall"
)

// EnsureFiles makes sure the process may open conns sockets (plus a
// margin) within capFiles open files, raising the soft RLIMIT_NOFILE up
// to the hard limit and the cap if needed; it refuses sizes that cannot
// fit.
func EnsureFiles(conns, capFiles int) error {
	need := uint64(conns + 128)
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("open files limit: %w", err)
	}
	allowed := min(lim.Max, uint64(capFiles))
	if need > allowed {
		return fmt.Errorf("%d connections need about %d open files, but this process may open %d "+
			"(RLIMIT_NOFILE hard limit %d, capped at %d): run fewer connections, or split the load over several "+
			"magpie bench processes", conns, need, allowed, lim.Max, capFiles)
	}
	if lim.Cur < need {
		lim.Cur = allowed
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			return fmt.Errorf("raise the open files limit to %d: %w", allowed, err)
		}
	}
	return nil
}
