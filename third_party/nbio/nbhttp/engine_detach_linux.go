// Magpie's patch to nbio v1.6.8: see ../MAGPIE.md ("Third patch").

//go:build linux

package nbhttp

import "github.com/lesismal/nbio"

// DetachConn takes nbc, added with AddTransferredConn, out of the engine
// without closing its socket (see nbio.Conn.Detach), and returns the
// socket's descriptor, which the caller then owns.
//
//go:norace
func (engine *Engine) DetachConn(nbc *nbio.Conn) (int, error) {
	fd, err := nbc.Detach()
	if err != nil {
		return -1, err
	}
	if key, err := conn2Array(nbc); err == nil {
		engine.mux.Lock()
		delete(engine.conns, key)
		engine.mux.Unlock()
	}
	return fd, nil
}
