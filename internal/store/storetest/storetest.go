// Package storetest is the conformance suite for store.Store, the executable
// form of the contract documented in package store. It owns no store of its
// own: every implementation runs it from its tests,
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, storetest.Opener{
//			Open: func(t *testing.T) store.Store { return openFresh(t) },
//			Reopen: func(t *testing.T, s store.Store) store.Store { return openAgain(t, s) },
//		})
//	}
//
// The suite uses fixed times built with time.UnixMilli, so implementations
// may keep millisecond precision; times are compared in UTC at that
// precision. It never sleeps and never reads the wall clock.
package storetest

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/magpie-im/magpie/internal/store"
)

// test is one conformance check; it receives a fresh, empty store.
type test struct {
	name string
	run  func(t *testing.T, s store.Store)
}

// Opener opens the stores the suite runs on.
type Opener struct {
	// Open returns a new, empty store each time it is called (once per
	// subtest), closed with t.Cleanup.
	Open func(t *testing.T) store.Store
	// Reopen returns a second, independent handle on the data of s, as
	// another process would open it, closed with t.Cleanup.
	Reopen func(t *testing.T, s store.Store) store.Store
}

// Run runs the conformance suite.
func Run(t *testing.T, o Opener) {
	open := o.Open
	groups := []struct {
		name  string
		tests []test
	}{
		{"Store", storeTests},
		{"Meta", metaTests},
		{"Tenants", tenantTests},
		{"Members", memberTests},
		{"Sessions", sessionTests},
		{"Apps", appTests},
		{"Secrets", secretTests},
		{"Users", userTests},
		{"UserLifecycle", lifecycleTests},
		{"Idempotency", idempotencyTests},
		{"Nonces", nonceTests},
		{"Messages", messageTests},
		{"ClientMsgIDs", clientIDTests},
		{"Conversations", conversationTests},
		{"Cursors", cursorTests},
		{"Outbox", outboxTests},
		{"Push", pushTests},
		{"Webhooks", webhookTests},
		{"Support", supportTests},
		{"AgentRepair", agentRepairTests},
		{"SupportOutbox", supportOutboxTests},
		{"Groups", groupTests},
		{"Contacts", contactTests},
		{"Rich", richTests},
		{"Usage", usageTests},
		{"Search", searchTests},
		{"Rooms", roomTests},
		{"Files", fileTests},
		{"Tenancy", tenancyTests},
		{"Concurrency", concurrencyTests},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			for _, tc := range g.tests {
				t.Run(tc.name, func(t *testing.T) {
					tc.run(t, open(t))
				})
			}
		})
	}
	t.Run("TwoHandles", func(t *testing.T) {
		for _, tc := range twoHandleTests {
			t.Run(tc.name, func(t *testing.T) {
				s := open(t)
				tc.run(t, s, o.Reopen(t, s))
			})
		}
	})
}

// base is the suite's fixed clock origin: 2023-11-14T22:13:20Z.
var base = time.UnixMilli(1_700_000_000_000).UTC()

// at returns base plus the given number of seconds.
func at(sec int64) time.Time { return base.Add(time.Duration(sec) * time.Second) }

// must fails the test now if err is not nil.
func must(t *testing.T, err error, call string, args ...any) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", fmt.Sprintf(call, args...), err)
	}
}

// wantErr reports an error unless errors.Is(err, want).
func wantErr(t *testing.T, err, want error, call string, args ...any) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Errorf("%s = %v, want %v", fmt.Sprintf(call, args...), err, want)
	}
}

// ids returns the ids of records, in order.
func ids[T any](recs []T, id func(T) string) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = id(r)
	}
	return out
}

// pageAll walks a cursor-paginated list with page size limit and returns
// every id in the order returned. list returns the ids of one page.
func pageAll(t *testing.T, name string, limit int, list func(after string, limit int) ([]string, error)) []string {
	t.Helper()
	var all []string
	after := ""
	for range 1000 {
		page, err := list(after, limit)
		if err != nil {
			t.Fatalf("%s(after=%q, limit=%d): %v", name, after, limit, err)
		}
		if len(page) > limit {
			t.Fatalf("%s(after=%q, limit=%d) returned %d records", name, after, limit, len(page))
		}
		all = append(all, page...)
		if len(page) < limit {
			return all
		}
		after = page[len(page)-1]
	}
	t.Fatalf("%s(limit=%d): pagination does not end", name, limit)
	return nil
}

// checkPaging pages through list with several page sizes and checks that
// every page walk returns want (sorted ids) exactly once, in order.
func checkPaging(t *testing.T, name string, want []string, list func(after string, limit int) ([]string, error)) {
	t.Helper()
	for _, limit := range []int{1, 2, 3, max(len(want), 1), len(want) + 1} {
		got := pageAll(t, name, limit, list)
		if !slices.Equal(got, want) {
			t.Errorf("%s pages of %d = %q, want %q", name, limit, got, want)
		}
	}
}

// Normalisation: times to UTC at millisecond precision, empty maps and
// slices to nil, so that records compare with reflect.DeepEqual.

func normTime(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.Truncate(time.Millisecond).UTC()
}

func nilIfEmpty[S ~[]E, E any](s S) S {
	if len(s) == 0 {
		return nil
	}
	return s
}

func normTenant(x store.Tenant) store.Tenant {
	x.CreatedAt = normTime(x.CreatedAt)
	return x
}

func normMember(x store.Member) store.Member {
	x.CreatedAt = normTime(x.CreatedAt)
	return x
}

func normSession(x store.Session) store.Session {
	x.CreatedAt, x.ExpiresAt = normTime(x.CreatedAt), normTime(x.ExpiresAt)
	return x
}

func normApp(x store.App) store.App {
	x.CreatedAt, x.UpdatedAt = normTime(x.CreatedAt), normTime(x.UpdatedAt)
	x.Settings.AllowedOrigins = nilIfEmpty(x.Settings.AllowedOrigins)
	return x
}

func normSecret(x store.Secret) store.Secret {
	x.CreatedAt, x.RevokedAt = normTime(x.CreatedAt), normTime(x.RevokedAt)
	x.Sealed = nilIfEmpty(x.Sealed)
	return x
}

func normUser(x store.User) store.User {
	x.CreatedAt, x.UpdatedAt = normTime(x.CreatedAt), normTime(x.UpdatedAt)
	x.TokensValidAfter = normTime(x.TokensValidAfter)
	if len(x.Metadata) == 0 {
		x.Metadata = nil
	}
	return x
}

func normIdempotency(x store.Idempotency) store.Idempotency {
	x.CreatedAt = normTime(x.CreatedAt)
	x.Body = nilIfEmpty(x.Body)
	return x
}

func normMessage(x store.Message) store.Message {
	x.CreatedAt, x.RecalledAt, x.EditedAt = normTime(x.CreatedAt), normTime(x.RecalledAt), normTime(x.EditedAt)
	x.Body, x.Push, x.Mentions = nilIfEmpty(x.Body), nilIfEmpty(x.Push), nilIfEmpty(x.Mentions)
	return x
}

func normConversation(x store.Conversation) store.Conversation {
	x.CreatedAt, x.UpdatedAt = normTime(x.CreatedAt), normTime(x.UpdatedAt)
	x.Members = nilIfEmpty(x.Members)
	return x
}

func normUserConversation(x store.UserConversation) store.UserConversation {
	x.UpdatedAt = normTime(x.UpdatedAt)
	x.Members = nilIfEmpty(x.Members)
	return x
}

// same reports whether got and want are equal after normalisation.
func same[T any](got, want T, norm func(T) T) bool {
	return reflect.DeepEqual(norm(got), norm(want))
}

// sameAll is same for slices.
func sameAll[T any](got, want []T, norm func(T) T) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if !same(got[i], want[i], norm) {
			return false
		}
	}
	return true
}
