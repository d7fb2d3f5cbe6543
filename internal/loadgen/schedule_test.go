package loadgen

import (
	"math/rand/v2"
	"testing"
	"time"
)

func TestScheduleRandomPhase(t *testing.T) {
	start := time.Unix(1000, 0)
	rng := rand.New(rand.NewPCG(3, 4))
	period := 100 * time.Millisecond
	phases := map[time.Duration]bool{}
	for range 50 {
		s := NewSchedule(start, start.Add(time.Second), period, rng)
		if s.Phase < 0 || s.Phase >= period {
			t.Fatalf("phase %v outside [0, %v)", s.Phase, period)
		}
		phases[s.Phase] = true
		if s.Total() != 10 {
			t.Fatalf("total %d, want 10 messages in 1 s at one per 100 ms", s.Total())
		}
		if !s.At(9).Before(s.End) || s.At(10).Before(s.End) {
			t.Fatalf("message 9 at %v, 10 at %v, end %v", s.At(9), s.At(10), s.End)
		}
	}
	if len(phases) < 40 {
		t.Fatalf("only %d distinct phases in 50 schedules", len(phases))
	}
}

func TestScheduleCatchesUp(t *testing.T) {
	start := time.Unix(1000, 0)
	s := Schedule{Start: start, Phase: 30 * time.Millisecond, Period: 100 * time.Millisecond, End: start.Add(time.Second)}
	cases := []struct {
		at   time.Duration
		want int
	}{
		{0, 0}, {29 * time.Millisecond, 0}, {30 * time.Millisecond, 1}, {129 * time.Millisecond, 1},
		// A sender that wakes up 350 ms late has 4 messages due at once.
		{480 * time.Millisecond, 5}, {10 * time.Second, 10},
	}
	for _, c := range cases {
		if got := s.Due(start.Add(c.at)); got != c.want {
			t.Errorf("Due(+%v) = %d, want %d", c.at, got, c.want)
		}
	}
	// Messages keep their due times when sent late: latency is measured
	// from them.
	if got := s.At(3); got != start.Add(330*time.Millisecond) {
		t.Errorf("At(3) = %v", got)
	}
	if (Schedule{Start: start, Period: 0, End: start.Add(time.Second)}).Total() != 0 {
		t.Error("a zero period schedules messages")
	}
}

// TestClientMsgIDsSortInSendOrder checks that a user's ids sort, as
// strings, in the order of (step, index), and parse back.
func TestClientMsgIDsSortInSendOrder(t *testing.T) {
	prev := ""
	for _, c := range []struct{ step, idx int }{{0, 0}, {0, 1}, {0, 9}, {0, 10}, {0, 99}, {0, 100}, {0, 123456}, {1, 0}, {2, 5}, {10, 0}, {10, 11}, {123, 4}} {
		id := clientMsgID(c.step, c.idx)
		if id <= prev {
			t.Errorf("clientMsgID(%d, %d) = %q sorts before %q", c.step, c.idx, id, prev)
		}
		prev = id
		if st, k, ok := parseClientMsgID(id); !ok || st != c.step || k != c.idx {
			t.Errorf("parseClientMsgID(%q) = %d, %d, %v, want %d, %d", id, st, k, ok, c.step, c.idx)
		}
	}
	for _, bad := range []string{"", "7", "a-1", "1-b", "-1-2", "1--2"} {
		if _, _, ok := parseClientMsgID(bad); ok {
			t.Errorf("parseClientMsgID(%q) ok, want not", bad)
		}
	}
}
