package messaging

// Watched returns how many pushes the delivery watch is waiting on.
func (s *Service) Watched() int { return s.watch.size() }
