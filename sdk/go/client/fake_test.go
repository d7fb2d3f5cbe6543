package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"google.golang.org/protobuf/proto"

	"github.com/magpie-im/magpie/sdk/go/wire"
	magpiev1 "github.com/magpie-im/magpie/sdk/proto/magpie/v1"
)

// fakeServer is a small in-process implementation of the gateway's client
// protocol, for edge cases the real server does not produce on demand:
// holes in seqs, scripted errors, unanswered requests. Tokens are user ids.
type fakeServer struct {
	t   *testing.T
	srv *httptest.Server
	hb  time.Duration

	mu     sync.Mutex                     // guards the fields below
	convs  map[string][]*magpiev1.Message // by conv id; index seq-1; nil is a seq that does not exist
	conns  []*fakeConn
	sent   map[string]*magpiev1.SendAck // by sender + client msg id
	acks   []*magpiev1.Cursor           // every DeliverAck cursor received, in order
	frames []string                     // body names of the frames received after login
	logins int
	// login, if set, may refuse a login with a close code.
	login func(token string) wire.CloseCode
	// hook, if set, sees every frame after login first; it returns true
	// when it handled the frame.
	hook func(fc *fakeConn, f *magpiev1.Frame) bool
	// byHeaders: log in from the upgrade request's headers, as the
	// gateway does, when they carry a bearer token; headers records each
	// such request's headers.
	byHeaders bool
	headers   []http.Header
}

type fakeConn struct {
	s       *fakeServer
	ws      *websocket.Conn
	codec   wire.Codec
	user    string
	session string
}

func newFakeServer(t *testing.T) *fakeServer {
	s := &fakeServer{t: t, hb: time.Minute, convs: make(map[string][]*magpiev1.Message), sent: make(map[string]*magpiev1.SendAck)}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.close)
	return s
}

func (s *fakeServer) close() {
	s.mu.Lock()
	conns := slices.Clone(s.conns)
	s.mu.Unlock()
	for _, fc := range conns {
		fc.ws.CloseNow()
	}
	s.srv.Close()
}

func (s *fakeServer) set(fn func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fn()
}

func (s *fakeServer) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	tok, bearer := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	byHeaders := s.byHeaders && bearer
	if byHeaders {
		s.headers = append(s.headers, r.Header.Clone())
		w.Header().Set("Magpie-Login", "headers")
	}
	s.mu.Unlock()
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: wire.Subprotocols()})
	if err != nil {
		return
	}
	defer ws.CloseNow()
	codec, _ := wire.CodecFor(ws.Subprotocol())
	fc := &fakeConn{s: s, ws: ws, codec: codec}
	f := &magpiev1.Frame{Body: &magpiev1.Frame_Login{Login: &magpiev1.Login{Token: tok}}}
	if !byHeaders {
		f, err = fc.read(r.Context())
		if err != nil || f.GetLogin() == nil {
			return
		}
	}
	fc.user = f.GetLogin().GetToken()
	s.mu.Lock()
	login := s.login
	s.mu.Unlock()
	if login != nil {
		if code := login(fc.user); code != 0 {
			fc.closeWith(code)
			return
		}
	}
	s.mu.Lock()
	s.logins++
	fc.session = fmt.Sprintf("ses_%d", s.logins)
	s.conns = append(s.conns, fc)
	s.mu.Unlock()
	fc.write(&magpiev1.Frame{Id: f.GetId(), Body: &magpiev1.Frame_LoginResult{LoginResult: &magpiev1.LoginResult{
		UserId: fc.user, SessionId: fc.session, HeartbeatIntervalMs: s.hb.Milliseconds(), MaxMessageBytes: 1000,
	}}})
	for {
		f, err := fc.read(r.Context())
		if err != nil {
			s.drop(fc)
			return
		}
		s.handle(fc, f)
	}
}

func (s *fakeServer) drop(fc *fakeConn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.conns = slices.DeleteFunc(s.conns, func(o *fakeConn) bool { return o == fc })
}

func (fc *fakeConn) read(ctx context.Context) (*magpiev1.Frame, error) {
	_, data, err := fc.ws.Read(ctx)
	if err != nil {
		return nil, err
	}
	return wire.Decode(fc.codec, data, 0)
}

func (fc *fakeConn) write(f *magpiev1.Frame) {
	b, err := fc.codec.Marshal(f)
	if err != nil {
		fc.s.t.Errorf("fake server: marshal: %v", err)
		return
	}
	typ := websocket.MessageText
	if fc.codec.Binary() {
		typ = websocket.MessageBinary
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = fc.ws.Write(ctx, typ, b)
}

// closeWith sends a Close frame and closes the WebSocket with code.
func (fc *fakeConn) closeWith(code wire.CloseCode) {
	fc.write(&magpiev1.Frame{Body: &magpiev1.Frame_Close{Close: &magpiev1.Close{Code: int32(code), Reason: code.String()}}})
	_ = fc.ws.Close(websocket.StatusCode(code), code.String())
}

func (s *fakeServer) handle(fc *fakeConn, f *magpiev1.Frame) {
	s.mu.Lock()
	s.frames = append(s.frames, wire.BodyName(f))
	hook := s.hook
	s.mu.Unlock()
	if hook != nil && hook(fc, f) {
		return
	}
	id := f.GetId()
	switch b := f.GetBody().(type) {
	case *magpiev1.Frame_Ping:
		fc.write(&magpiev1.Frame{Id: id, Body: &magpiev1.Frame_Pong{Pong: &magpiev1.Pong{}}})
	case *magpiev1.Frame_Send:
		s.send(fc, id, b.Send)
	case *magpiev1.Frame_DeliverAck:
		s.set(func() { s.acks = append(s.acks, b.DeliverAck.GetCursors()...) })
		fc.write(okFrame(id))
	case *magpiev1.Frame_Read:
		fc.write(okFrame(id))
	case *magpiev1.Frame_SyncConversations:
		fc.write(&magpiev1.Frame{Id: id, Body: &magpiev1.Frame_ConversationPage{ConversationPage: s.conversationPage(fc.user, b.SyncConversations)}})
	case *magpiev1.Frame_SyncMessages:
		fc.write(&magpiev1.Frame{Id: id, Body: &magpiev1.Frame_MessagePage{MessagePage: s.messagePage(b.SyncMessages)}})
	default:
		fc.write(wire.ErrorFrame(id, wire.CodeInvalidFrame, "unexpected frame"))
	}
}

func okFrame(id uint64) *magpiev1.Frame {
	return &magpiev1.Frame{Id: id, Body: &magpiev1.Frame_Ok{Ok: &magpiev1.Ok{}}}
}

func convOf(a, b string) string {
	if b < a {
		a, b = b, a
	}
	return "p:" + a + ":" + b
}

func membersOf(conv string) []string {
	return strings.Split(strings.TrimPrefix(conv, "p:"), ":")
}

// send stores a message, acknowledges it and pushes it to the members'
// other connections.
func (s *fakeServer) send(fc *fakeConn, id uint64, m *magpiev1.Send) {
	ack, msg := s.store(fc.user, m)
	fc.write(&magpiev1.Frame{Id: id, Body: &magpiev1.Frame_SendAck{SendAck: ack}})
	if msg != nil {
		s.push(msg, fc)
	}
}

// store stores a message from user, or finds the one stored with the same
// client msg id; it returns the acknowledgement, and the message if new.
func (s *fakeServer) store(user string, m *magpiev1.Send) (*magpiev1.SendAck, *magpiev1.Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := user + "/" + m.GetClientMsgId()
	if ack := s.sent[key]; ack != nil {
		dup := proto.Clone(ack).(*magpiev1.SendAck)
		dup.Duplicate = true
		return dup, nil
	}
	conv := convOf(user, m.GetToUserId())
	msg := &magpiev1.Message{
		ConvId: conv, Seq: int64(len(s.convs[conv]) + 1), SenderId: user, ClientMsgId: m.GetClientMsgId(),
		Type: m.GetType(), Content: m.GetContent(), CreatedAtMs: 1000,
	}
	s.convs[conv] = append(s.convs[conv], msg)
	ack := &magpiev1.SendAck{ClientMsgId: m.GetClientMsgId(), ConvId: conv, Seq: msg.Seq, ServerTimeMs: 1000}
	s.sent[key] = ack
	return ack, msg
}

// push sends a Deliver of msg to every connection of its members but
// except.
func (s *fakeServer) push(msg *magpiev1.Message, except *fakeConn) {
	s.mu.Lock()
	var to []*fakeConn
	for _, c := range s.conns {
		if c != except && slices.Contains(membersOf(msg.GetConvId()), c.user) {
			to = append(to, c)
		}
	}
	s.mu.Unlock()
	for _, c := range to {
		c.write(&magpiev1.Frame{Body: &magpiev1.Frame_Deliver{Deliver: &magpiev1.Deliver{Messages: []*magpiev1.Message{msg}}}})
	}
}

// pushReceipt sends a Receipt to every connection of user.
func (s *fakeServer) pushReceipt(user string, r *magpiev1.Receipt) {
	for _, c := range s.connsOf(user) {
		c.write(&magpiev1.Frame{Body: &magpiev1.Frame_Receipt{Receipt: r}})
	}
}

// connsOf returns the connections of user.
func (s *fakeServer) connsOf(user string) []*fakeConn {
	s.mu.Lock()
	defer s.mu.Unlock()
	var conns []*fakeConn
	for _, c := range s.conns {
		if c.user == user {
			conns = append(conns, c)
		}
	}
	return conns
}

// put stores messages of conv from sender at the given seqs without
// pushing them; seqs left out do not exist.
func (s *fakeServer) put(from, to string, seqs ...int64) []*magpiev1.Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	conv := convOf(from, to)
	var out []*magpiev1.Message
	for _, seq := range seqs {
		for int64(len(s.convs[conv])) < seq {
			s.convs[conv] = append(s.convs[conv], nil)
		}
		m := &magpiev1.Message{
			ConvId: conv, Seq: seq, SenderId: from, ClientMsgId: fmt.Sprintf("c%d", seq), Type: "text",
			Content: fmt.Sprintf("m%d", seq), CreatedAtMs: 1000 + seq,
		}
		s.convs[conv][seq-1] = m
		out = append(out, m)
	}
	return out
}

func (s *fakeServer) conversationPage(user string, r *magpiev1.SyncConversations) *magpiev1.ConversationPage {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ids := r.GetConvIds(); len(ids) > 0 {
		page := &magpiev1.ConversationPage{}
		for _, id := range ids {
			if slices.Contains(membersOf(id), user) {
				page.Conversations = append(page.Conversations, &magpiev1.ConversationState{
					ConvId: id, Members: membersOf(id), MaxSeq: int64(len(s.convs[id])),
				})
			}
		}
		return page
	}
	var ids []string
	for id := range s.convs {
		if slices.Contains(membersOf(id), user) && id > r.GetCursor() {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	page := &magpiev1.ConversationPage{}
	if len(ids) > 1 { // one per page, to exercise paging
		ids = ids[:1]
		page.NextCursor = ids[0]
	}
	for _, id := range ids {
		page.Conversations = append(page.Conversations, &magpiev1.ConversationState{
			ConvId: id, Members: membersOf(id), MaxSeq: int64(len(s.convs[id])),
		})
	}
	return page
}

func (s *fakeServer) messagePage(r *magpiev1.SyncMessages) *magpiev1.MessagePage {
	s.mu.Lock()
	defer s.mu.Unlock()
	page := &magpiev1.MessagePage{ConvId: r.GetConvId()}
	limit := int(r.GetLimit())
	all := slices.Clone(s.convs[r.GetConvId()])
	if r.GetDesc() {
		slices.Reverse(all)
	}
	for _, m := range all {
		if m == nil || m.Seq < r.GetFromSeq() || r.GetToSeq() > 0 && m.Seq > r.GetToSeq() {
			continue
		}
		if len(page.Messages) == limit {
			page.HasMore = true
			break
		}
		page.Messages = append(page.Messages, m)
	}
	return page
}

// kick closes every connection of user with code.
func (s *fakeServer) kick(user string, code wire.CloseCode) {
	for _, c := range s.connsOf(user) {
		c.closeWith(code)
	}
}

// ackedUpTo returns the highest DeliverAck cursor received for conv.
func (s *fakeServer) ackedUpTo(conv string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var seq int64
	for _, c := range s.acks {
		if c.GetConvId() == conv {
			seq = max(seq, c.GetSeq())
		}
	}
	return seq
}

// loginCount returns how many logins succeeded.
func (s *fakeServer) loginCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.logins
}

// count returns how many frames of a body name were received.
func (s *fakeServer) count(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, f := range s.frames {
		if f == name {
			n++
		}
	}
	return n
}

// --- test helpers shared by the in-package tests ---

// testClient returns a client for user on the fake server, running until
// the test ends.
func (s *fakeServer) client(t *testing.T, user string, tweak func(*Config)) *Client {
	t.Helper()
	cfg := Config{
		URL: s.srv.URL, DeviceID: user + "-dev",
		TokenProvider: func(context.Context) (string, error) { return user, nil },
		BackoffMin:    time.Millisecond, BackoffMax: 20 * time.Millisecond,
		RequestTimeout: 5 * time.Second, AckDelay: time.Millisecond,
	}
	if tweak != nil {
		tweak(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	runClient(t, c)
	return c
}

// runClient runs c until the test ends, and checks that Run returned nil.
func runClient(t *testing.T, c *Client) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- c.Run(context.Background()) }()
	t.Cleanup(func() {
		c.Close()
		if err := <-done; err != nil && !errors.Is(err, ErrClosed) {
			var ce *CloseError
			if !errors.As(err, &ce) {
				t.Errorf("Run = %v", err)
			}
		}
	})
}

// waitFor returns the next event of type T, skipping others.
func waitFor[T Event](t *testing.T, c *Client) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		ev, err := c.Next(ctx)
		if err != nil {
			var zero T
			t.Fatalf("waiting for %T: %v", zero, err)
		}
		if v, ok := ev.(T); ok {
			return v
		}
	}
}

// messages returns the next n messages.
func messages(t *testing.T, c *Client, n int) []Message {
	t.Helper()
	out := make([]Message, n)
	for i := range out {
		out[i] = waitFor[Message](t, c)
	}
	return out
}

// seqs returns the seqs of msgs.
func seqs(msgs []Message) []int64 {
	out := make([]int64, len(msgs))
	for i, m := range msgs {
		out[i] = m.Seq
	}
	return out
}

// eventually polls cond until it holds, or fails the test after 10 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
