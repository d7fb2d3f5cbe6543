// Command ferretdb runs FerretDB, a MongoDB-wire-compatible server, on an
// SQLite directory, for the tests of Magpie's MongoDB store. It is built in
// its own module so that Magpie's product module never links FerretDB.
//
// It listens on 127.0.0.1 at a free port (or -addr), keeps its data in a
// temporary directory (or -dir), prints its mongodb:// URI as the first line
// of standard output once it accepts connections, and runs until standard
// input closes or it receives SIGTERM or SIGINT. A temporary directory is
// removed on exit.
//
// One write at a time: FerretDB 1.x applies an update as a read followed by
// a write, so two concurrent updates of one document can lose one of them,
// where MongoDB applies every single-document update atomically (and the
// store relies on that, as on the atomicity of findAndModify). So clients
// do not talk to FerretDB directly: a proxy in front of it forwards one
// writing command at a time, each with its reply, which gives every write
// the atomicity MongoDB gives a single-document write. Commands that only
// read (find, aggregate, count, distinct and the listings) run concurrently
// with each other, never with a write: SQLite serves concurrent readers,
// and a read sees each write whole.
//
// Some commands take no lock at all, for a write may wait inside FerretDB
// for what only they can give back. An open cursor holds one of FerretDB's
// SQLite connections (100 at most) until it is drained or killed: with
// every connection held, a write that waits for one while holding the lock
// would hold back every getMore and killCursors, and they it, for ever. A
// driver that opens a connection for that getMore first sends its
// handshake (hello or isMaster, the first as OP_QUERY), which must not wait
// for the write either. So getMore, killCursors, the handshake and the
// commands that read no data (ping, buildInfo, ...) go through unlocked: a
// getMore reads on from the snapshot its find opened.
//
// Build it with the ferretdb_no_postgresql tag to leave out the PostgreSQL
// backend it does not use:
//
//	go build -tags ferretdb_no_postgresql -o ferretdb .
package main

import (
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "ferretdb:", err)
		os.Exit(1)
	}
}

func run() error {
	addr := flag.String("addr", "127.0.0.1:0", "TCP address to listen on; port 0 picks a free port")
	dir := flag.String("dir", "", "SQLite data directory; empty means a new temporary directory, removed on exit")
	verbose := flag.Bool("v", false, "log at info level (default: warnings and errors only)")
	flag.Parse()

	if *dir == "" {
		tmp, err := os.MkdirTemp("", "magpie-ferretdb-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		*dir = tmp
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	f, err := ferretdb.New(&ferretdb.Config{
		Listener: ferretdb.ListenerConfig{TCP: "127.0.0.1:0"},
		Logger:   logger,
		Handler:  "sqlite",
		// Test data: no fsync on commit.
		SQLiteURL: "file:" + *dir + "/?_pragma=synchronous(off)",
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	go func() {
		// The parent holds our standard input open while it needs us.
		_, _ = io.Copy(io.Discard, os.Stdin)
		stop()
	}()

	var wg sync.WaitGroup
	wg.Go(func() { _ = f.Run(ctx) })
	// MongoDBURI waits until FerretDB's listener is ready.
	upstream, err := url.Parse(f.MongoDBURI())
	if err != nil {
		stop()
		wg.Wait()
		return err
	}
	p := &proxy{upstream: upstream.Host}
	wg.Go(func() { p.serve(ctx, ln) })
	fmt.Printf("mongodb://%s/\n", ln.Addr())
	<-ctx.Done()
	ln.Close()
	wg.Wait()
	return nil
}

// proxy forwards MongoDB wire protocol commands to upstream: writes one at
// a time, reads concurrently.
type proxy struct {
	upstream string
	mu       sync.RWMutex // held from forwarding a command until its reply is read: shared by reads; see unlocked
}

// readCommands are the commands that read data and change nothing.
var readCommands = map[string]bool{
	"find": true, "aggregate": true, "count": true, "distinct": true,
	"listIndexes": true, "listCollections": true, "listDatabases": true,
}

// unlockedCommands take no lock (see the package documentation).
var unlockedCommands = map[string]bool{
	"getMore": true, "killCursors": true, "ping": true,
	"hello": true, "isMaster": true, "ismaster": true, "buildInfo": true, "buildinfo": true,
	"getParameter": true, "serverStatus": true, "connectionStatus": true, "endSessions": true,
}

// unlocked reports whether msg goes upstream without the lock: an
// unlockedCommands command, or an OP_QUERY, which drivers send only for the
// handshake on a new connection.
func unlocked(msg []byte) bool {
	const opQuery = 2004
	return unlockedCommands[commandName(msg)] || len(msg) >= 16 && binary.LittleEndian.Uint32(msg[12:16]) == opQuery
}

// commandName returns the name of an OP_MSG command (the first key of its
// body section), or "" for anything else.
func commandName(msg []byte) string {
	const opMsg = 2013
	// header (16), flagBits (4), section kind 0 (1), document length (4),
	// element type (1), then the element name as a C string.
	const at = 16 + 4 + 1 + 4 + 1
	if len(msg) <= at || binary.LittleEndian.Uint32(msg[12:16]) != opMsg || msg[20] != 0 {
		return ""
	}
	end := at
	for end < len(msg) && msg[end] != 0 {
		end++
	}
	return string(msg[at:end])
}

// serve accepts clients until ctx is done, then closes their connections
// and waits for their handlers.
func (p *proxy) serve(ctx context.Context, ln net.Listener) {
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		c, err := ln.Accept()
		if err != nil {
			return // closed
		}
		wg.Go(func() {
			stop := context.AfterFunc(ctx, func() { c.Close() })
			defer stop()
			defer c.Close()
			_ = p.relay(c)
		})
	}
}

// relay forwards the commands of one client over a connection of its own
// to upstream.
func (p *proxy) relay(client net.Conn) error {
	up, err := net.Dial("tcp", p.upstream)
	if err != nil {
		return err
	}
	defer up.Close()
	for {
		req, err := readMessage(client)
		if err != nil {
			return err
		}
		reply, err := p.roundTrip(up, req)
		if err != nil {
			return err
		}
		if reply != nil {
			if _, err := client.Write(reply); err != nil {
				return err
			}
		}
	}
}

// roundTrip sends one command upstream and returns its reply, or nil for a
// command that expects none (OP_MSG with moreToCome).
func (p *proxy) roundTrip(up net.Conn, req []byte) ([]byte, error) {
	switch {
	case unlocked(req):
	case readCommands[commandName(req)]:
		p.mu.RLock()
		defer p.mu.RUnlock()
	default:
		p.mu.Lock()
		defer p.mu.Unlock()
	}
	if _, err := up.Write(req); err != nil {
		return nil, err
	}
	if moreToCome(req) {
		return nil, nil
	}
	reply, err := readMessage(up)
	if err != nil {
		return nil, err
	}
	if moreToCome(reply) {
		return nil, errors.New("upstream streams replies (moreToCome), which the proxy does not relay")
	}
	return reply, nil
}

// readMessage reads one wire protocol message: a little-endian int32 length
// (header included), then the rest.
func readMessage(r io.Reader) ([]byte, error) {
	var size [4]byte
	if _, err := io.ReadFull(r, size[:]); err != nil {
		return nil, err
	}
	n := binary.LittleEndian.Uint32(size[:])
	if n < 16 || n > 64<<20 {
		return nil, fmt.Errorf("message of %d bytes", n)
	}
	msg := make([]byte, n)
	copy(msg, size[:])
	if _, err := io.ReadFull(r, msg[4:]); err != nil {
		return nil, err
	}
	return msg, nil
}

// moreToCome reports whether msg is an OP_MSG with the moreToCome flag: the
// sender expects no reply (or, from a server, sends more).
func moreToCome(msg []byte) bool {
	const opMsg, flagMoreToCome = 2013, 1 << 1
	return len(msg) >= 20 && binary.LittleEndian.Uint32(msg[12:16]) == opMsg &&
		binary.LittleEndian.Uint32(msg[16:20])&flagMoreToCome != 0
}
