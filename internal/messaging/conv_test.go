package messaging

import (
	"fmt"
	"testing"
)

func TestMembers(t *testing.T) {
	tests := []struct {
		conv string
		want []string
	}{
		{P2PConvID("bob", "alice"), []string{"alice", "bob"}},
		{P2PConvID("alice", "bob"), []string{"alice", "bob"}},
		{P2PConvID("alice", "alice"), []string{"alice"}},
		{"p:alice:bob", []string{"alice", "bob"}},
		{"p:bob:alice", nil}, // not canonical
		{"p:alice", nil},
		{"p:alice:", nil},
		{"p:al ice:bob", nil},
		{"p:a:b:c", nil},
		{SystemConvID("carol"), []string{"carol"}},
		{"s:", nil},
		{"g:team", nil},
		{"", nil},
	}
	for _, tt := range tests {
		if got := Members(tt.conv); fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("Members(%q) = %q, want %q", tt.conv, got, tt.want)
		}
	}
	if !IsMember("p:alice:bob", "bob") || IsMember("p:alice:bob", "carol") {
		t.Error("IsMember is wrong")
	}
	if got := Peers("p:alice:bob", "alice"); fmt.Sprint(got) != "[bob]" {
		t.Errorf("Peers = %v, want [bob]", got)
	}
	if got := Peers("p:alice:alice", "alice"); len(got) != 0 {
		t.Errorf("Peers of a self conversation = %v, want none", got)
	}
}

func FuzzMembers(f *testing.F) {
	for _, s := range []string{"p:alice:bob", "s:carol", "p::", "p:a:a", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, conv string) {
		ms := Members(conv)
		if ms == nil {
			return
		}
		// A valid id is canonical: it is rebuilt exactly from its members.
		var rebuilt string
		switch {
		case conv[0] == 's':
			rebuilt = SystemConvID(ms[0])
		case len(ms) == 1:
			rebuilt = P2PConvID(ms[0], ms[0])
		default:
			rebuilt = P2PConvID(ms[1], ms[0])
		}
		if rebuilt != conv {
			t.Fatalf("Members(%q) = %q, which rebuilds %q", conv, ms, rebuilt)
		}
	})
}
