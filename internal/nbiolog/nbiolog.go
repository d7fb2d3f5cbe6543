// Package nbiolog sends the nbio event loops' log lines (the gateway's
// WebSocket engine, the load generator's) to slog: warnings and errors
// go to the default slog logger, debug and info lines are dropped. nbio's
// own logger prints everything to standard output, where `magpie bench
// --json` writes its result.
package nbiolog

import (
	"fmt"
	"log/slog"
	"sync"

	"github.com/lesismal/nbio/logging"
)

var once sync.Once

// Use installs the adapter as nbio's process-wide logger, once; call it
// before starting an nbio engine.
func Use() { once.Do(func() { logging.SetLogger(adapter{}) }) }

type adapter struct{}

func (adapter) Debug(string, ...any) {}
func (adapter) Info(string, ...any)  {}
func (adapter) Warn(format string, v ...any) {
	slog.Warn("nbio event loop", "detail", fmt.Sprintf(format, v...))
}

func (adapter) Error(format string, v ...any) {
	slog.Error("nbio event loop", "detail", fmt.Sprintf(format, v...))
}
