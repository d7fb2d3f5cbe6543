package bus

import "slices"

// KillConnection closes the TCP socket under the live connection, as a
// network failure would, and reports whether there was one.
func (r *RabbitMQ) KillConnection() bool {
	r.mu.Lock()
	s := r.sess
	r.mu.Unlock()
	if s == nil || s.sock == nil {
		return false
	}
	s.sock.Close()
	return true
}

// SetDialHook makes every later connection attempt call f first; an error
// from f fails the attempt. Nil removes the hook.
func (r *RabbitMQ) SetDialHook(f func() error) {
	if f == nil {
		r.dialHook.Store(nil)
		return
	}
	r.dialHook.Store(&f)
}

// Connected reports whether the bus has a live connection.
func (r *RabbitMQ) Connected() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.sess != nil
}

// Declared returns the queues and exchanges the bus declared, sorted.
func (r *RabbitMQ) Declared() (queues, exchanges []string) {
	r.topo.mu.Lock()
	defer r.topo.mu.Unlock()
	for q := range r.topo.queues {
		queues = append(queues, q)
	}
	for e := range r.topo.exchanges {
		exchanges = append(exchanges, e)
	}
	slices.Sort(queues)
	slices.Sort(exchanges)
	return queues, exchanges
}
