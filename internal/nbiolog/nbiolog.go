// Package nbiolog sends the nbio event loops' log lines (the gateway's
// WebSocket engine, the load generator's) to slog: warnings and errors
// go to the logger given to Use, debug and info lines are dropped. nbio's
// own logger prints everything to standard output, where `magpie bench
// --json` writes its result.
package nbiolog

import (
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/lesismal/nbio/logging"
)

var (
	once sync.Once
	to   atomic.Pointer[slog.Logger]
)

// Use installs the adapter as nbio's process-wide logger, and makes log
// (slog's default one if nil) the logger its lines go to: nbio has one
// logger per process, so the last call chooses. Call it before starting
// an nbio engine.
func Use(log *slog.Logger) {
	if log == nil {
		log = slog.Default()
	}
	to.Store(log)
	once.Do(func() { logging.SetLogger(adapter{}) })
}

type adapter struct{}

func (adapter) Debug(string, ...any) {}
func (adapter) Info(string, ...any)  {}
func (adapter) Warn(format string, v ...any) {
	to.Load().Warn("nbio event loop", "detail", fmt.Sprintf(format, v...))
}

func (adapter) Error(format string, v ...any) {
	to.Load().Error("nbio event loop", "detail", fmt.Sprintf(format, v...))
}
