//go:build !linux

package loadgen

import "errors"

// haveLoop is whether the tool has its own event loop here (Linux only);
// elsewhere sockets are dialed by net.Dialer and read by nbio.
const haveLoop = false

type loop struct{}

func (*loop) stop() {}

func (d *Dialer) dialOnLoop(*Conn, []byte) (socket, error) { return nil, errors.ErrUnsupported }

func newLoop() (*loop, error) { return nil, errors.ErrUnsupported }
