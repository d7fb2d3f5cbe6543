package main

import (
	"os/exec"
	"syscall"
)

// dieWithTest makes cmd receive SIGKILL when the test process dies, so
// that a test binary killed from outside leaves no gateway or worker
// behind.
func dieWithTest(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
