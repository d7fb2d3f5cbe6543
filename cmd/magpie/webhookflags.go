package main

import (
	"flag"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/magpie-im/magpie/webhook"
	"github.com/magpie-im/magpie/webhook/ssrf"
)

// webhookFlags say where webhook requests may connect and how long
// deliveries are retried.
type webhookFlags struct {
	allowLoopback, allowPrivate bool
	allowCIDR                   string
	retryWindow                 time.Duration
}

// register adds the flags; loopback is allowed by default in embedded
// mode (local development), refused in cluster mode.
func (w *webhookFlags) register(fs *flag.FlagSet, loopback bool) {
	fs.BoolVar(&w.allowLoopback, "webhook-allow-loopback", loopback, "let webhook URLs point at loopback addresses (127.0.0.0/8, ::1), over plain http too")
	fs.BoolVar(&w.allowPrivate, "webhook-allow-private", false, "let webhook URLs point at private networks (RFC 1918, unique-local, CGNAT)")
	fs.StringVar(&w.allowCIDR, "webhook-allow-cidr", "", "comma-separated networks webhook URLs may point at whatever their class, such as 10.20.0.0/16 (a metadata address only when listed exactly)")
	fs.DurationVar(&w.retryWindow, "webhook-retry-window", 24*time.Hour, "how long a failing webhook delivery is retried before it is dead-lettered")
}

// policy returns the flags as an ssrf.Policy.
func (w webhookFlags) policy() (ssrf.Policy, error) {
	p := ssrf.Policy{AllowLoopback: w.allowLoopback, AllowPrivate: w.allowPrivate}
	for _, s := range strings.Split(w.allowCIDR, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		pfx, err := netip.ParsePrefix(s)
		if err != nil {
			return p, fmt.Errorf("--webhook-allow-cidr: %w", err)
		}
		p.Allowed = append(p.Allowed, pfx)
	}
	if w.retryWindow < time.Minute || w.retryWindow > 72*time.Hour {
		return p, fmt.Errorf("--webhook-retry-window %v: from 1m to 72h (the webhook log keeps events 7 days)", w.retryWindow)
	}
	return p, nil
}

// options returns the flags as webhook.Options.
func (w webhookFlags) options() (webhook.Options, error) {
	p, err := w.policy()
	return webhook.Options{Policy: p, RetryWindow: w.retryWindow}, err
}
