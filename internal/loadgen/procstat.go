package loadgen

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTicks is USER_HZ, the unit of /proc/PID/stat's times: 100 on every
// Linux architecture Go supports.
const clockTicks = 100

// ParseStatCPU returns utime+stime, in clock ticks, from the text of
// /proc/PID/stat. The command name (field 2) may hold spaces and
// parentheses, so fields are counted from the last ')'.
func ParseStatCPU(data []byte) (int64, error) {
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, fmt.Errorf("stat: no command field")
	}
	f := strings.Fields(string(data[i+1:]))
	// After the command: state(3) ppid(4) ... utime(14) stime(15).
	if len(f) < 13 {
		return 0, fmt.Errorf("stat: %d fields after the command, want at least 13", len(f))
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	s, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("stat: bad utime/stime %q %q", f[11], f[12])
	}
	return u + s, nil
}

// ParseStatusRSS returns VmRSS, in KiB, from the text of /proc/PID/status.
func ParseStatusRSS(data []byte) (int64, error) {
	for line := range strings.SplitSeq(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			v = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB"))
			return strconv.ParseInt(v, 10, 64)
		}
	}
	return 0, fmt.Errorf("status: no VmRSS line")
}

// ProcSample is one reading of a process's CPU time and resident memory.
type ProcSample struct {
	At     time.Time
	CPU    time.Duration // user + system
	RSSKiB int64
}

// ProcReader reads a process's samples from a /proc tree (Root is "/proc"
// unless a test points it elsewhere).
type ProcReader struct {
	Root string
	PID  int
}

// Sample reads the process's CPU time and RSS now.
func (p ProcReader) Sample() (ProcSample, error) {
	root := p.Root
	if root == "" {
		root = "/proc"
	}
	stat, err := os.ReadFile(fmt.Sprintf("%s/%d/stat", root, p.PID))
	if err != nil {
		return ProcSample{}, err
	}
	status, err := os.ReadFile(fmt.Sprintf("%s/%d/status", root, p.PID))
	if err != nil {
		return ProcSample{}, err
	}
	ticks, err := ParseStatCPU(stat)
	if err != nil {
		return ProcSample{}, err
	}
	rss, err := ParseStatusRSS(status)
	if err != nil {
		return ProcSample{}, err
	}
	return ProcSample{At: time.Now(), CPU: time.Duration(ticks) * time.Second / clockTicks, RSSKiB: rss}, nil
}

// CPUPercent is the CPU the process used between two samples, in percent
// of one core.
func CPUPercent(a, b ProcSample) float64 {
	wall := b.At.Sub(a.At)
	if wall <= 0 {
		return 0
	}
	return 100 * float64(b.CPU-a.CPU) / float64(wall)
}
