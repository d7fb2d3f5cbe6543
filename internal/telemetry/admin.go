package telemetry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

// Check is a dependency the admin listener's /readyz checks: Check returns
// nil when it is reachable.
type Check struct {
	Name  string
	Check func(ctx context.Context) error
}

// AdminConfig configures the admin listener.
type AdminConfig struct {
	// Addr is the listen address; port 0 picks a free port. Required.
	Addr string
	// Metrics is served at /metrics; nil serves 404 there.
	Metrics *Metrics
	// Ready lists the dependencies /readyz checks, in order.
	Ready []Check
	// Pprof serves net/http/pprof under /debug/pprof/. False serves 404
	// there: profiles are expensive and reveal the code.
	Pprof bool
	// Logger receives a warning per dependency found unreachable. Nil
	// discards them.
	Logger *slog.Logger
}

// Admin is a running admin listener: /metrics, /healthz, /readyz and,
// with AdminConfig.Pprof, /debug/pprof/. It belongs on a private address:
// it has no authentication.
type Admin struct {
	// URL is the listener's base URL, such as http://127.0.0.1:9090.
	URL string

	srv *http.Server
	ln  net.Listener
}

// Listen opens the admin listener; Serve serves it.
func Listen(cfg AdminConfig) (*Admin, error) {
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("listen admin: %w", err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Admin{
		URL: "http://" + ln.Addr().String(),
		ln:  ln,
		srv: &http.Server{Handler: AdminHandler(cfg), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute,
			ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)},
	}, nil
}

// Serve serves until Shutdown; it returns nil after Shutdown.
func (a *Admin) Serve() error {
	if err := a.srv.Serve(a.ln); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve admin: %w", err)
	}
	return nil
}

// Shutdown stops the listener gracefully within ctx's deadline.
func (a *Admin) Shutdown(ctx context.Context) error { return a.srv.Shutdown(ctx) }

// AdminHandler returns the admin listener's handler.
func AdminHandler(cfg AdminConfig) http.Handler {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", cfg.Metrics.Handler())
	health := HealthHandler(cfg.Ready, cfg.Metrics, log)
	mux.Handle("GET /healthz", health)
	mux.Handle("GET /readyz", health)
	if cfg.Pprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return mux
}

// HealthHandler serves /healthz (the process is up) and /readyz (every
// dependency of checks answers; the body names each one's state, and m's
// magpie_ready records it). A nil logger discards the warnings.
func HealthHandler(checks []Check, m *Metrics, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(rw http.ResponseWriter, _ *http.Request) {
		replyJSON(rw, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(rw http.ResponseWriter, r *http.Request) {
		code, body := readiness(r.Context(), checks, m, log)
		replyJSON(rw, code, body)
	})
	return mux
}

// readyBody is the JSON of /readyz: the overall status and each
// dependency's ("ok" or "unavailable"). Errors are logged, not shown.
type readyBody struct {
	Status       string            `json:"status"`
	Dependencies map[string]string `json:"dependencies"`
}

// readiness checks every dependency (each within 2 s), records magpie_ready
// and returns the status code and body of /readyz.
func readiness(ctx context.Context, checks []Check, m *Metrics, log *slog.Logger) (int, readyBody) {
	body := readyBody{Status: "ready", Dependencies: make(map[string]string, len(checks))}
	code := http.StatusOK
	for _, c := range checks {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := c.Check(cctx)
		cancel()
		m.Ready(c.Name, err == nil)
		if err != nil {
			log.WarnContext(ctx, "dependency not ready", "dependency", c.Name, "err", err)
			body.Dependencies[c.Name] = "unavailable"
			body.Status, code = "unavailable", http.StatusServiceUnavailable
			continue
		}
		body.Dependencies[c.Name] = "ok"
	}
	return code, body
}

func replyJSON(rw http.ResponseWriter, code int, v any) {
	rw.Header().Set("Content-Type", "application/json")
	rw.WriteHeader(code)
	_ = json.NewEncoder(rw).Encode(v) // the client may be gone
}
