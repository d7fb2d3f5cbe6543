package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// The tests that run the real binary share one build of it: a build per
// test cost a minute of CI under -race.
var built struct {
	once sync.Once
	dir  string
	bin  string
	err  error
	out  []byte
}

// magpieBinary returns the path of this command built once for the test
// binary's run; the test fails if the build did.
func magpieBinary(t testing.TB) string {
	t.Helper()
	built.once.Do(func() {
		built.dir, built.err = os.MkdirTemp("", "magpie-bin-")
		if built.err != nil {
			return
		}
		built.bin = filepath.Join(built.dir, "magpie")
		built.out, built.err = exec.Command("go", "build", "-o", built.bin, ".").CombinedOutput()
	})
	if built.err != nil {
		t.Fatalf("go build: %v\n%s", built.err, built.out)
	}
	return built.bin
}

// removeBinary deletes the shared build; TestMain calls it.
func removeBinary() {
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
}
