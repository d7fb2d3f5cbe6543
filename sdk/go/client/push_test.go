package client

import (
	"context"
	"slices"
	"sync"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/magpie-im/magpie/sdk/go/wire"
	magpiev1 "github.com/magpie-im/magpie/sdk/proto/magpie/v1"
)

func TestSendRetransmissionsKeepPushOptions(t *testing.T) {
	s := newFakeServer(t)
	var mu sync.Mutex
	var got []*magpiev1.PushOptions
	s.set(func() {
		s.hook = func(fc *fakeConn, f *magpiev1.Frame) bool {
			if f.GetSend() == nil {
				return false
			}
			mu.Lock()
			defer mu.Unlock()
			got = append(got, f.GetSend().GetPush())
			if len(got) <= 2 {
				fc.write(wire.ErrorFrame(f.GetId(), wire.CodeUnavailable, "try again"))
				return true
			}
			return false
		}
	})
	alice := s.client(t, "alice", nil)
	opts := PushOptions{Title: "t", CollapseID: "c", Data: map[string]string{"k": "v"}}
	if _, err := alice.Send(context.Background(), "bob", "text", "hi", WithPush(opts)); err != nil {
		t.Fatal(err)
	}
	want := &magpiev1.PushOptions{Title: "t", CollapseId: "c", Data: map[string]string{"k": "v"}}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 3 {
		t.Fatalf("%d transmissions, want 3", len(got))
	}
	for i, p := range got {
		if !proto.Equal(p, want) {
			t.Errorf("transmission %d: push %v, want %v", i+1, p, want)
		}
	}
}

func TestRegistrationSentOncePerLogin(t *testing.T) {
	s := newFakeServer(t)
	var mu sync.Mutex
	var tokens []string
	s.set(func() {
		s.hook = func(fc *fakeConn, f *magpiev1.Frame) bool {
			switch {
			case f.GetRegisterDevice() != nil:
				mu.Lock()
				tokens = append(tokens, f.GetRegisterDevice().GetToken())
				mu.Unlock()
				if f.GetRegisterDevice().GetToken() == "bad" {
					fc.write(wire.ErrorFrame(f.GetId(), wire.CodeInvalidArgument, "token: bad"))
					return true
				}
			case f.GetUnregisterDevice() == nil:
				return false
			}
			fc.write(okFrame(f.GetId()))
			return true
		}
	})
	alice := s.client(t, "alice", nil)
	ctx := context.Background()
	sent := func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), tokens...)
	}
	if err := alice.RegisterDevice(ctx, Device{Platform: "android", Provider: "fcm", Token: "one"}); err != nil {
		t.Fatal(err)
	}
	if err := alice.RegisterDevice(ctx, Device{Platform: "android", Provider: "fcm", Token: "bad"}); err == nil {
		t.Fatal("RegisterDevice(bad) = nil, want the server's refusal")
	}
	s.kick("alice", wire.CloseServerShutdown)
	eventually(t, "the registration after the second login", func() bool { return len(sent()) == 3 })
	if err := alice.UnregisterDevice(ctx); err != nil {
		t.Fatal(err)
	}
	s.kick("alice", wire.CloseServerShutdown)
	eventually(t, "a third login", func() bool { return s.loginCount() == 3 })
	// Not a proof of absence: a registration sent at the third login
	// would most likely be in by the time a later request is answered.
	if _, err := alice.Conversations(ctx); err != nil {
		t.Fatal(err)
	}
	if got, want := sent(), []string{"one", "bad", "one"}; !slices.Equal(got, want) {
		t.Errorf("registrations sent %q, want %q: once per login, the refused one not again", got, want)
	}
}
