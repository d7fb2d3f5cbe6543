package messaging

import (
	"context"

	"github.com/magpie-im/magpie/internal/store"
)

// Watched returns how many pushes the delivery watch is waiting on.
func (s *Service) Watched() int { return s.watch.size() }

// SyncFanOut waits until the fan-out stage has delivered every batch
// committed so far.
func (s *Service) SyncFanOut() {
	done := make(chan struct{})
	select {
	case s.fan <- fanBatch{flush: done}:
		<-done
	case <-s.fanDone:
	}
}

// Resend is a key of LookupResends.
type Resend = resendKey

// ResendKey is a key of LookupResends: a send of app by sender with a
// client message id.
func ResendKey(app, sender, clientMsgID string) Resend {
	return resendKey{appID: app, key: store.ClientMsgKey{SenderID: sender, ClientMsgID: clientMsgID}}
}

// LookupResends runs one batch of the resend lookups.
func (s *Service) LookupResends(ctx context.Context, keys []Resend) ([]bool, []error) {
	return s.lookupResends(ctx, keys)
}
