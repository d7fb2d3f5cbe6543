package messaging

import (
	"fmt"
	"strings"
	"testing"
)

func TestValidConvID(t *testing.T) {
	tests := []struct {
		conv string
		want bool
	}{
		{P2PConvID("bob", "alice"), true},
		{P2PConvID("alice", "bob"), true},
		{P2PConvID("alice", "alice"), true},
		{"p:alice:bob", true},
		{"p:bob:alice", false}, // not canonical
		{"p:alice", false},
		{"p:alice:", false},
		{"p:al ice:bob", false},
		{"p:a:b:c", false},
		{"p:..:bob", false},
		{SystemConvID("carol"), true},
		{"s:", false},
		{"g:team", true},
		{GroupConvID("team-1"), true},
		{"g:", false},
		{"g:a:b", false},
		{"g:" + strings.Repeat("x", 65), false},
		{"", false},
	}
	for _, tt := range tests {
		if got := ValidConvID(tt.conv); got != tt.want {
			t.Errorf("ValidConvID(%q) = %v, want %v", tt.conv, got, tt.want)
		}
	}
}

func TestMembersOfNewConversations(t *testing.T) {
	for _, tt := range []struct {
		sender, to string
		want       string
	}{
		{"bob", "alice", "[alice bob]"},
		{"alice", "alice", "[alice]"},
		{"", "carol", "[carol]"}, // a system message
	} {
		if got := fmt.Sprint(newMembers(tt.sender, tt.to)); got != tt.want {
			t.Errorf("newMembers(%q, %q) = %s, want %s", tt.sender, tt.to, got, tt.want)
		}
	}
	if got := fmt.Sprint(others([]string{"alice", "bob"}, "alice")); got != "[bob]" {
		t.Errorf("others = %s, want [bob]", got)
	}
	if got := others([]string{"alice"}, "alice"); len(got) != 0 {
		t.Errorf("others of a self conversation = %v, want none", got)
	}
}

func FuzzValidConvID(f *testing.F) {
	for _, s := range []string{"p:alice:bob", "s:carol", "p::", "p:a:a", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, conv string) {
		if !ValidConvID(conv) {
			return
		}
		// A valid id is canonical: it is rebuilt exactly from its parts.
		var rebuilt string
		if u, ok := strings.CutPrefix(conv, systemPrefix); ok {
			rebuilt = SystemConvID(u)
		} else {
			a, b, _ := strings.Cut(conv[len(p2pPrefix):], ":")
			rebuilt = P2PConvID(b, a)
		}
		if rebuilt != conv {
			t.Fatalf("ValidConvID(%q) but it rebuilds as %q", conv, rebuilt)
		}
	})
}
