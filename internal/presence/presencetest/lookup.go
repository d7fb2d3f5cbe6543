package presencetest

import (
	"fmt"
	"testing"

	"github.com/magpie-im/magpie/internal/presence"
)

var lookupTests = []test{
	{"Batch", testBatchLookup},
	{"Empty", func(t *testing.T, e env) {
		for _, users := range [][]string{nil, {}, {"nobody"}, {"", "u\x00"}} {
			if got := lookup(t, e.p, users...); len(got) != 0 {
				t.Errorf("Lookup(%q) = %v, want no entries", users, got)
			}
		}
	}},
}

// testBatchLookup registers many users with one to three devices on two
// nodes and looks them all up at once, with unknown and repeated ids.
func testBatchLookup(t *testing.T, e env) {
	const users = 700
	up(t, e.p, long, "n1")
	up(t, e.q, long, "n2")
	want := map[string][]presence.Session{}
	var ids []string
	for u := range users {
		user := fmt.Sprintf("u%03d", u)
		ids = append(ids, user, "ghost"+user)
		for d := range u%3 + 1 {
			h, node := e.p, "n1"
			if d%2 == 1 {
				h, node = e.q, "n2"
			}
			s := sess(user, fmt.Sprintf("d%d", d), fmt.Sprintf("s%d-%d", u, d), node, int64(d))
			register(t, h, s, 3, presence.KickOldest)
			want[user] = append(want[user], s)
		}
	}
	ids = append(ids, "u001", "u002") // repeated
	for _, h := range []presence.Presence{e.p, e.q} {
		got := lookup(t, h, ids...)
		if len(got) != users {
			t.Errorf("Lookup(%d ids) = %d users, want %d", len(ids), len(got), users)
		}
		for user, ss := range want {
			if !equal(got[user], ss) {
				t.Errorf("Lookup(...)[%s] = %s, want %s", user, show(got[user]), show(ss))
			}
		}
	}
}
