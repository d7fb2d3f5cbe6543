package nbiolog

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/lesismal/nbio/logging"
)

// nbio's warnings and errors reach the logger given to Use, in its format;
// its debug and info lines are dropped.
func TestLinesGoToTheLoggerGiven(t *testing.T) {
	var out bytes.Buffer
	Use(slog.New(slog.NewTextHandler(&out, nil)))
	t.Cleanup(func() { Use(nil) })
	logging.Debug("debug %d", 1)
	logging.Info("info %d", 2)
	logging.Warn("accept: %s", "too many open files")
	logging.Error("poller %d stopped", 3)
	got := out.String()
	for _, want := range []string{
		`level=WARN msg="nbio event loop" detail="accept: too many open files"`,
		`level=ERROR msg="nbio event loop" detail="poller 3 stopped"`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output %q lacks %q", got, want)
		}
	}
	if strings.Contains(got, "debug 1") || strings.Contains(got, "info 2") {
		t.Errorf("output %q has nbio's debug or info lines", got)
	}
}
