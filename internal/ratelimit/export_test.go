package ratelimit

// Tracked returns how many keys m holds a bucket for.
func Tracked(m *Memory) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.full)
}
