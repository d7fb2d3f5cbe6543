package loadgen

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// upgradeTransport is the http.RoundTripper of the WebSocket dials: it
// dials a fresh TCP connection (from the dialer's source address) for each
// upgrade request, writes the request, reads the response head and hands
// the connection back as the response body, which coder/websocket then
// uses as the WebSocket. It does what net/http's Transport would do for a
// one-shot upgrade without its connection pool, its reader and writer
// goroutines and their channels: at thousands of logins per second, that
// machinery cost the load generator more CPU than the server spent on the
// login, on the same cores.
type upgradeTransport struct {
	dialer *net.Dialer
}

// RoundTrip implements http.RoundTripper for upgrade requests only.
func (t *upgradeTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	port := req.URL.Port()
	if port == "" {
		port = map[bool]string{true: "443", false: "80"}[req.URL.Scheme == "https"]
	}
	nc, err := t.dialer.DialContext(ctx, "tcp", net.JoinHostPort(req.URL.Hostname(), port))
	if err != nil {
		return nil, err
	}
	// The handshake is bounded by the request's deadline (Login sets one).
	if dl, ok := ctx.Deadline(); ok {
		_ = nc.SetDeadline(dl)
	}
	if req.URL.Scheme == "https" {
		tc := tls.Client(nc, &tls.Config{ServerName: req.URL.Hostname(), MinVersion: tls.VersionTLS12})
		if err := tc.HandshakeContext(ctx); err != nil {
			_ = nc.Close()
			return nil, fmt.Errorf("tls handshake: %w", err)
		}
		nc = tc
	}
	res, err := t.handshake(req, nc)
	if err == nil && res.StatusCode == http.StatusSwitchingProtocols {
		err = nc.SetDeadline(time.Time{})
	}
	if err != nil {
		_ = nc.Close()
		return nil, err
	}
	return res, nil
}

func (t *upgradeTransport) handshake(req *http.Request, nc net.Conn) (*http.Response, error) {
	bw := bufio.NewWriterSize(nc, 512)
	if err := req.Write(bw); err != nil {
		return nil, fmt.Errorf("write upgrade request: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return nil, fmt.Errorf("write upgrade request: %w", err)
	}
	br := bufio.NewReaderSize(nc, 1024)
	res, err := http.ReadResponse(br, req)
	if err != nil {
		return nil, fmt.Errorf("read upgrade response: %w", err)
	}
	if res.StatusCode != http.StatusSwitchingProtocols {
		// A refusal: its body is read from br; closing it closes the socket.
		res.Body = struct {
			io.Reader
			io.Closer
		}{res.Body, nc}
		return res, nil
	}
	// The WebSocket's bytes come after the head: what br holds already
	// (nothing, as the server speaks only after the Login frame), then the
	// socket.
	var r io.Reader = nc
	if br.Buffered() > 0 {
		r = io.MultiReader(io.LimitReader(br, int64(br.Buffered())), nc)
	}
	res.Body = &upgradedConn{Reader: r, Conn: nc}
	return res, nil
}

// upgradedConn is an upgraded connection as a response body: reads go
// through whatever the response's reader had buffered first.
type upgradedConn struct {
	io.Reader
	net.Conn
}

func (c *upgradedConn) Read(p []byte) (int, error) { return c.Reader.Read(p) }
