package messaging

// Watched returns how many pushes the delivery watch is waiting on.
func (s *Service) Watched() int { return s.watch.size() }

// SyncFanOut waits until the fan-out stage has delivered every batch
// committed so far.
func (s *Service) SyncFanOut() {
	done := make(chan struct{})
	select {
	case s.fan <- fanBatch{flush: done}:
		<-done
	case <-s.fanDone:
	}
}
