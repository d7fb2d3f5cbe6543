package loadgen

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// acceptGUID is RFC 6455's key suffix of Sec-WebSocket-Accept.
const acceptGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// upgradeError is an upgrade the server refused with an HTTP status.
type upgradeError struct {
	status int
	body   string
}

func (e *upgradeError) Error() string {
	return fmt.Sprintf("expected HTTP 101 but got %d: %q", e.status, e.body)
}

// dialUpgrade dials a fresh TCP connection with nd (from the dialer's
// source address), upgrades it to a WebSocket speaking subprotocol at
// rawURL (ws or wss), with header (CRLF-terminated lines, or empty) added
// to the request, and returns it with the bytes read past the response
// head, and whether the response announced a login by headers
// (Magpie-Login: headers).
// It does what net/http's Transport would do for a one-shot upgrade without
// its connection pool, its reader and writer goroutines and their
// channels: at thousands of logins per second, that machinery cost the
// load generator more CPU than the server spent on the login, on the same
// cores. The handshake is bounded by ctx's deadline.
func dialUpgrade(ctx context.Context, nd *net.Dialer, rawURL, subprotocol, header string) (net.Conn, []byte, bool, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, nil, false, err
	}
	secure := u.Scheme == "wss" || u.Scheme == "https"
	port := u.Port()
	if port == "" {
		port = map[bool]string{true: "443", false: "80"}[secure]
	}
	nc, err := nd.DialContext(ctx, "tcp", net.JoinHostPort(u.Hostname(), port))
	if err != nil {
		return nil, nil, false, err
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = nc.SetDeadline(dl)
	}
	if secure {
		tc := tls.Client(nc, &tls.Config{ServerName: u.Hostname(), MinVersion: tls.VersionTLS12})
		if err := tc.HandshakeContext(ctx); err != nil {
			_ = nc.Close()
			return nil, nil, false, fmt.Errorf("tls handshake: %w", err)
		}
		nc = tc
	}
	rest, byHeaders, err := upgrade(nc, u, subprotocol, header)
	if err == nil {
		err = nc.SetDeadline(time.Time{})
	}
	if err != nil {
		_ = nc.Close()
		return nil, nil, false, err
	}
	return nc, rest, byHeaders, nil
}

// upgrade writes the upgrade request for u, with header, on nc, checks the
// response and returns the bytes read past its head and whether it
// announced a login by headers.
func upgrade(nc net.Conn, u *url.URL, subprotocol, header string) ([]byte, bool, error) {
	var nonce [16]byte
	_, _ = rand.Read(nonce[:])
	key := base64.StdEncoding.EncodeToString(nonce[:])
	req := "GET " + u.RequestURI() + " HTTP/1.1\r\nHost: " + u.Host +
		"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " + key +
		"\r\nSec-WebSocket-Protocol: " + subprotocol + "\r\nUser-Agent: magpie-bench/1\r\n" + header + "\r\n"
	if _, err := io.WriteString(nc, req); err != nil {
		return nil, false, fmt.Errorf("write upgrade request: %w", err)
	}
	br := bufio.NewReaderSize(nc, 1024)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		return nil, false, fmt.Errorf("read upgrade response: %w", err)
	}
	defer res.Body.Close() // none after a 101: the socket's bytes stay in br
	if res.StatusCode != http.StatusSwitchingProtocols {
		body, _ := io.ReadAll(io.LimitReader(res.Body, 256))
		return nil, false, &upgradeError{status: res.StatusCode, body: strings.TrimSpace(string(body))}
	}
	sum := sha1.Sum([]byte(key + acceptGUID))
	switch {
	case !strings.EqualFold(res.Header.Get("Upgrade"), "websocket"):
		return nil, false, fmt.Errorf("upgrade response: Upgrade %q", res.Header.Get("Upgrade"))
	case res.Header.Get("Sec-WebSocket-Accept") != base64.StdEncoding.EncodeToString(sum[:]):
		return nil, false, fmt.Errorf("upgrade response: wrong Sec-WebSocket-Accept")
	case res.Header.Get("Sec-WebSocket-Protocol") != subprotocol:
		return nil, false, fmt.Errorf("upgrade response: subprotocol %q, want %q", res.Header.Get("Sec-WebSocket-Protocol"), subprotocol)
	case res.Header.Get("Sec-WebSocket-Extensions") != "":
		return nil, false, fmt.Errorf("upgrade response: unrequested extensions %q", res.Header.Get("Sec-WebSocket-Extensions"))
	}
	rest, _ := br.Peek(br.Buffered())
	return append([]byte(nil), rest...), res.Header.Get("Magpie-Login") == "headers", nil
}
