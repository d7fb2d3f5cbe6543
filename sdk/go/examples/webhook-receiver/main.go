// Command webhook-receiver is an example backend for Magpie's webhooks: it
// verifies every delivery with the server SDK, processes each event once
// (deduplicating retries and replays by webhook-id), and answers the
// pre-send hook: it rejects messages that contain "forbidden", drops
// those that contain "spam" and turns "shout:" messages into upper case.
//
//	MAGPIE_WEBHOOK_SECRET=whsec_... MAGPIE_PRESEND_SECRET=whsec_... go run ./sdk/go/examples/webhook-receiver -addr 127.0.0.1:9000
//
// then register http://127.0.0.1:9000/events as a post-event endpoint and
// http://127.0.0.1:9000/pre-send as the pre-send hook (embedded mode
// allows loopback URLs; see docs/webhooks.md).
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"log"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/magpie-im/magpie/sdk/go/webhook"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9000", "address to listen on")
	flag.Parse()
	mux := http.NewServeMux()
	if s := os.Getenv("MAGPIE_WEBHOOK_SECRET"); s != "" {
		v, err := webhook.NewVerifier(s)
		if err != nil {
			log.Fatalf("MAGPIE_WEBHOOK_SECRET: %v", err)
		}
		mux.Handle("POST /events", events(v, newSeen(2*webhook.DefaultTolerance)))
	}
	if s := os.Getenv("MAGPIE_PRESEND_SECRET"); s != "" {
		v, err := webhook.NewVerifier(s)
		if err != nil {
			log.Fatalf("MAGPIE_PRESEND_SECRET: %v", err)
		}
		mux.Handle("POST /pre-send", preSend(v))
	}
	log.Printf("listening on http://%s", *addr)
	srv := &http.Server{Addr: *addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	log.Fatal(srv.ListenAndServe())
}

// events handles post events: verify, dedupe, act, answer 204.
func events(v *webhook.Verifier, seen *seen) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := v.VerifyRequest(r, 1<<20)
		if err != nil {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		if !seen.first(r.Header.Get(webhook.HeaderID)) {
			w.WriteHeader(http.StatusNoContent) // a retry or replay we already handled
			return
		}
		ev, err := webhook.ParseEvent(body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		switch ev.Type {
		case webhook.EventMessageCreated:
			m, err := ev.Message()
			if err == nil {
				log.Printf("message %s#%d from %s: %q", m.ConvID, m.Seq, m.SenderID, m.Content)
			}
		case webhook.EventUserOnline, webhook.EventUserOffline:
			p, err := ev.Presence()
			if err == nil {
				log.Printf("%s: %s", ev.Type, p.UserID)
			}
		default:
			log.Printf("event %s %s", ev.Type, ev.ID)
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

// preSend answers the pre-send hook.
func preSend(v *webhook.Verifier) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := v.VerifyRequest(r, 1<<20)
		if err != nil {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		ev, err := webhook.ParseEvent(body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		m, err := ev.PreSend()
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		verdict := webhook.Allow()
		switch {
		case strings.Contains(m.Content, "forbidden"):
			verdict = webhook.Reject("forbidden_word", "this word is not allowed here")
		case strings.Contains(m.Content, "spam"):
			verdict = webhook.Drop()
		case strings.HasPrefix(m.Content, "shout:"):
			verdict = webhook.Modify(strings.ToUpper(strings.TrimPrefix(m.Content, "shout:")))
		}
		w.Header().Set("Content-Type", "application/json")
		if err := json.NewEncoder(w).Encode(verdict); err != nil && !errors.Is(err, http.ErrHandlerTimeout) {
			log.Printf("answer pre-send: %v", err)
		}
	})
}

// seen remembers webhook-ids for ttl: in production, use a shared store
// (Redis SET NX EX) so that every replica sees them.
type seen struct {
	ttl time.Duration
	mu  sync.Mutex
	ids map[string]time.Time
}

func newSeen(ttl time.Duration) *seen { return &seen{ttl: ttl, ids: make(map[string]time.Time)} }

// first reports whether id is new, and remembers it.
func (s *seen) first(id string) bool {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, at := range s.ids {
		if now.Sub(at) > s.ttl {
			delete(s.ids, k)
		}
	}
	if _, ok := s.ids[id]; ok {
		return false
	}
	s.ids[id] = now
	return true
}
