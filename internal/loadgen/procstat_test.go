package loadgen

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func timeAt(nanos int64) time.Time { return time.Unix(0, nanos) }

func TestProcSampleFromAFakeProc(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "4242")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// A command name with spaces and a parenthesis; utime 250, stime 50.
	stat := "4242 (magpie (dev) x) S 1 4242 4242 0 -1 4194560 5000 0 0 0 250 50 0 0 20 0 12 0 100 1000000 2000 18446744073709551615\n"
	status := "Name:\tmagpie\nVmPeak:\t  900000 kB\nVmRSS:\t   61948 kB\nThreads:\t12\n"
	if err := os.WriteFile(filepath.Join(dir, "stat"), []byte(stat), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "status"), []byte(status), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := ProcReader{Root: root, PID: 4242}.Sample()
	if err != nil {
		t.Fatal(err)
	}
	if s.CPU != 3*time.Second || s.RSSKiB != 61948 {
		t.Fatalf("sample = %+v, want 3 s of CPU and 61948 KiB", s)
	}
	a := ProcSample{At: timeAt(0), CPU: time.Second}
	b := ProcSample{At: timeAt(int64(2 * time.Second)), CPU: 2500 * time.Millisecond}
	if got := CPUPercent(a, b); got != 75 {
		t.Fatalf("CPUPercent = %v, want 75", got)
	}
	if _, err := ParseStatCPU([]byte("12 (x) S 1 2")); err == nil {
		t.Fatal("a short stat parsed")
	}
	if _, err := ParseStatusRSS([]byte("Name: x\n")); err == nil {
		t.Fatal("a status without VmRSS parsed")
	}
	if _, err := (ProcReader{Root: root, PID: 1}).Sample(); err == nil {
		t.Fatal("a missing process sampled")
	}
}

func TestEnsureFilesRefusesWhatCannotFit(t *testing.T) {
	if err := EnsureFiles(100, 20000); err != nil {
		t.Fatalf("100 connections: %v", err)
	}
	if err := EnsureFiles(30000, 20000); err == nil {
		t.Fatal("30,000 connections fit in 20,000 open files")
	}
}
