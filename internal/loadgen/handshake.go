package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/magpie-im/magpie/sdk/go/wire"
	magpiev1 "github.com/magpie-im/magpie/sdk/proto/magpie/v1"
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
	req, key := upgradeRequest(u, subprotocol, header)
	if _, err := io.WriteString(nc, req); err != nil {
		return nil, false, fmt.Errorf("write upgrade request: %w", err)
	}
	br := bufio.NewReaderSize(nc, 1024)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		return nil, false, fmt.Errorf("read upgrade response: %w", err)
	}
	defer res.Body.Close() // none after a 101: the socket's bytes stay in br
	byHeaders, err := checkUpgrade(res, key, subprotocol)
	if err != nil {
		return nil, false, err
	}
	rest, _ := br.Peek(br.Buffered())
	return append([]byte(nil), rest...), byHeaders, nil
}

// upgradeRequest is the upgrade request for u, with header (CRLF-terminated
// lines, or empty), and the key its response must answer.
func upgradeRequest(u *url.URL, subprotocol, header string) (req, key string) {
	var nonce [16]byte
	_, _ = rand.Read(nonce[:])
	key = base64.StdEncoding.EncodeToString(nonce[:])
	req = "GET " + u.RequestURI() + " HTTP/1.1\r\nHost: " + u.Host +
		"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " + key +
		"\r\nSec-WebSocket-Protocol: " + subprotocol + "\r\nUser-Agent: magpie-bench/1\r\n" + header + "\r\n"
	return req, key
}

// checkUpgrade checks the response to an upgrade request sent with key and
// returns whether it announced a login by headers. A refusal is an
// upgradeError with up to 256 bytes of the body.
func checkUpgrade(res *http.Response, key, subprotocol string) (byHeaders bool, err error) {
	if res.StatusCode != http.StatusSwitchingProtocols {
		body, _ := io.ReadAll(io.LimitReader(res.Body, 256))
		return false, &upgradeError{status: res.StatusCode, body: strings.TrimSpace(string(body))}
	}
	sum := sha1.Sum([]byte(key + acceptGUID))
	switch {
	case !strings.EqualFold(res.Header.Get("Upgrade"), "websocket"):
		return false, fmt.Errorf("upgrade response: Upgrade %q", res.Header.Get("Upgrade"))
	case res.Header.Get("Sec-WebSocket-Accept") != base64.StdEncoding.EncodeToString(sum[:]):
		return false, fmt.Errorf("upgrade response: wrong Sec-WebSocket-Accept")
	case res.Header.Get("Sec-WebSocket-Protocol") != subprotocol:
		return false, fmt.Errorf("upgrade response: subprotocol %q, want %q", res.Header.Get("Sec-WebSocket-Protocol"), subprotocol)
	case res.Header.Get("Sec-WebSocket-Extensions") != "":
		return false, fmt.Errorf("upgrade response: unrequested extensions %q", res.Header.Get("Sec-WebSocket-Extensions"))
	}
	return res.Header.Get("Magpie-Login") == "headers", nil
}

// maxResponseHead bounds the upgrade response's head on the tool's loop.
const maxResponseHead = 16 << 10

// handshake is an upgrade and login in progress on the tool's own loop:
// the loop parses the response and then the login's reply as they
// arrive (Conn.handshakeStep) and hands the outcome to loginOnLoop.
type handshake struct {
	key, subprotocol string
	tok, device      string
	headDone         bool
	reply            *magpiev1.Frame
	err              error
	result           chan struct{} // closed when reply or err is set
}

// loginOnLoop dials d's target on its loop, writes the upgrade request
// with header and waits, within ctx, for the loop to have parsed the
// upgrade and the LoginResult.
func loginOnLoop(ctx context.Context, d *Dialer, user, tok, device, header string) (*Conn, error) {
	req, key := upgradeRequest(d.wsURL, wire.SubprotocolProto, header)
	c := newConn(d, user)
	hs := &handshake{key: key, subprotocol: wire.SubprotocolProto, tok: tok, device: device, result: make(chan struct{})}
	c.hs = hs // before the loop can read: the response comes after the request
	c.lastWrite.Store(time.Now().UnixNano())
	sk, err := d.dialOnLoop(c, []byte(req))
	if err != nil {
		return nil, &LoginError{Err: err}
	}
	select {
	case <-hs.result:
	case <-c.done: // closed first, unless the loop set the outcome and then closed it
		select {
		case <-hs.result:
		default:
			return nil, upgradeLoginError(c.endErr)
		}
	case <-ctx.Done():
		_ = sk.CloseWithError(ctx.Err())
		return nil, loginError(ctx.Err())
	}
	if hs.err != nil {
		_ = sk.CloseWithError(hs.err)
		var ue *upgradeError
		if errors.As(hs.err, &ue) {
			return nil, upgradeLoginError(hs.err)
		}
		return nil, loginError(hs.err)
	}
	c.Heartbeat = time.Duration(hs.reply.GetLoginResult().GetHeartbeatIntervalMs()) * time.Millisecond
	return c, nil
}

// handshakeStep parses what the loop read of the handshake: the
// response's head once it is whole, then the login's reply. An error
// ends the handshake (the loop closes the socket). c.rmu is held.
func (c *Conn) handshakeStep() error {
	hs := c.hs
	if !hs.headDone {
		i := bytes.Index(c.pending, []byte("\r\n\r\n"))
		if i < 0 {
			if len(c.pending) > maxResponseHead {
				return c.endHandshake(errors.New("upgrade response: head too long"))
			}
			return nil
		}
		res, err := http.ReadResponse(bufio.NewReaderSize(bytes.NewReader(c.pending), len(c.pending)), nil)
		if err != nil {
			return c.endHandshake(fmt.Errorf("read upgrade response: %w", err))
		}
		byHeaders, err := checkUpgrade(res, hs.key, hs.subprotocol)
		_ = res.Body.Close() // bytes already read: nothing to release
		if err != nil {
			return c.endHandshake(err)
		}
		c.pending = c.pending[:copy(c.pending, c.pending[i+4:])]
		hs.headDone = true
		if !byHeaders {
			if err := c.Write(context.Background(), loginFrame(hs.tok, hs.device)); err != nil {
				return c.endHandshake(err)
			}
		}
	}
	var reply *magpiev1.Frame
	var rerr error
	stopped, err := c.parse(nil, time.Now(), func(data []byte, _ time.Time) bool {
		reply, rerr = loginReply(data)
		return false
	})
	switch {
	case err != nil:
		return c.endHandshake(err)
	case rerr != nil:
		return c.endHandshake(rerr)
	case stopped:
		hs.reply = reply
		c.hs = nil
		close(hs.result)
	}
	return nil
}

// endHandshake ends the handshake with err and returns it. c.rmu is held.
func (c *Conn) endHandshake(err error) error {
	c.hs.err = err
	close(c.hs.result)
	c.hs = nil
	return err
}
