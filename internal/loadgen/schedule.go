package loadgen

import (
	"math/rand/v2"
	"time"
)

// Schedule is one sender's fixed timetable: message i is due at
// Start + Phase + i*Period. A sender that falls behind sends what is due
// at once (catch-up), so overload shows as latency, measured from the due
// time, not as a silently lower rate.
type Schedule struct {
	Start  time.Time
	Phase  time.Duration
	Period time.Duration
	// End: no message is due at or after it.
	End time.Time
}

// NewSchedule returns a schedule of one message per period from start to
// end with a random phase in [0, period).
func NewSchedule(start, end time.Time, period time.Duration, rng *rand.Rand) Schedule {
	var phase time.Duration
	if period > 0 {
		phase = time.Duration(rng.Int64N(int64(period)))
	}
	return Schedule{Start: start, Phase: phase, Period: period, End: end}
}

// At is when message i is due.
func (s Schedule) At(i int) time.Time {
	return s.Start.Add(s.Phase + time.Duration(i)*s.Period)
}

// Total is the number of messages the schedule holds.
func (s Schedule) Total() int {
	if s.Period <= 0 {
		return 0
	}
	first := s.Start.Add(s.Phase)
	if !first.Before(s.End) {
		return 0
	}
	return int((s.End.Sub(first)-1)/s.Period) + 1
}

// Due is the number of messages due by now (at or before it).
func (s Schedule) Due(now time.Time) int {
	if s.Period <= 0 || now.Before(s.Start.Add(s.Phase)) {
		return 0
	}
	n := int(now.Sub(s.Start.Add(s.Phase))/s.Period) + 1
	return min(n, s.Total())
}
