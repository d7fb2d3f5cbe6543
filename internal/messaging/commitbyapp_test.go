package messaging

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// TestCommitByApp: one store call per app, results in input order; an
// app whose call fails, or answers for fewer items than it got, fails
// alone.
func TestCommitByApp(t *testing.T) {
	boom := errors.New("disk full")
	var calls []string
	call := func(app string, ins []int) ([]string, error) {
		calls = append(calls, fmt.Sprint(app, ins))
		switch app {
		case "bad":
			return nil, boom
		case "short":
			return []string{"x"}, nil
		}
		outs := make([]string, len(ins))
		for i, v := range ins {
			outs[i] = fmt.Sprint(app, v)
		}
		return outs, nil
	}
	split := func(it string) (string, int) {
		app, n, _ := strings.Cut(it, ":")
		var v int
		fmt.Sscan(n, &v)
		return app, v
	}
	for _, c := range []struct {
		items []string
		calls string
		outs  string
		errs  string
	}{
		{[]string{"A:1", "A:2"}, "[A[1 2]]", "[A1 A2]", "[<nil> <nil>]"},
		{[]string{"bad:1", "bad:2"}, "[bad[1 2]]", "[ ]", "[disk full disk full]"},
		{[]string{"short:1", "short:2"}, "[short[1 2]]", "[ ]", "[store answered 1 of 2 items store answered 1 of 2 items]"},
		{[]string{"A:1", "bad:2", "B:3", "A:4"}, "[A[1 4] bad[2] B[3]]", "[A1  B3 A4]", "[<nil> disk full <nil> <nil>]"},
		{[]string{"A:1", "short:2", "short:3"}, "[A[1] short[2 3]]", "[A1  ]", "[<nil> store answered 1 of 2 items store answered 1 of 2 items]"},
	} {
		calls = nil
		outs, errs := commitByApp(c.items, split, call)
		if got := fmt.Sprint(calls); got != c.calls {
			t.Errorf("%v: calls %s, want %s", c.items, got, c.calls)
		}
		if got := fmt.Sprint(outs); got != c.outs {
			t.Errorf("%v: outs %s, want %s", c.items, got, c.outs)
		}
		if got := fmt.Sprint(errs); got != c.errs {
			t.Errorf("%v: errs %s, want %s", c.items, got, c.errs)
		}
	}
}
