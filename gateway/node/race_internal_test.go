//go:build race

package node

// raceEnabled: the race detector is on. Its sync.Pool drops a quarter of
// what is put back, at random, so allocation counts that rely on a pool
// are checked without it (make test).
const raceEnabled = true
