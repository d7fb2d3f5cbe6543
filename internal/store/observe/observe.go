// Package observe owns the observation of store operations: Wrap decorates a
// store.Store, whatever its engine, so that every call of the Store and
// AppStore contracts records its duration in
// magpie_store_operation_duration_seconds{op} and, if it failed, counts in
// magpie_store_errors_total{op}, with op the method's name; and, while
// tracing is on, runs in a client span "store <Method>", a child of the
// caller's span (a call made outside any span gets none).
//
// A failure is an error that is not an answer of the contract
// (store.ErrNotFound, store.ErrConflict, store.ErrLimit) and not the
// caller's cancellation (context.Canceled). A deadline that expired during
// the call counts as a failure: the store did not answer in time.
//
// With tracing off a call costs two clock reads and the metric record: no
// span is prepared. Ping, Close, App and AppID are passed through without
// being recorded.
//
// Concurrency: a wrapped store is as safe for concurrent use as the store
// it wraps (every store.Store is).
package observe

import (
	"context"
	"errors"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/magpie-im/magpie/internal/store"
	"github.com/magpie-im/magpie/internal/telemetry"
)

// noBatch is the batch size of a call that is not a batch.
const noBatch = -1

// call is one store operation in progress, from begin to end.
type call struct {
	m     *telemetry.Metrics
	op    string
	start time.Time
	span  trace.Span // nil while tracing is off
}

// begin starts operation op (the method's name) of app appID (empty for an
// operator-level call) on batch items (noBatch for a single call). It
// returns the context to pass to the engine: with tracing on, it holds the
// operation's span.
func begin(ctx context.Context, m *telemetry.Metrics, op, appID string, batch int) (context.Context, call) {
	c := call{m: m, op: op}
	// Only as a child: a call no span asked for (a background sweep, a
	// nonce batch) would otherwise start a trace of its own, one per call.
	if telemetry.TracingOn() && trace.SpanContextFromContext(ctx).IsValid() {
		attrs := make([]attribute.KeyValue, 1, 3)
		attrs[0] = attribute.String("db.operation.name", op)
		if appID != "" {
			attrs = append(attrs, attribute.String("magpie.app_id", appID))
		}
		if batch != noBatch {
			attrs = append(attrs, attribute.Int("db.operation.batch.size", batch))
		}
		ctx, c.span = telemetry.StartSpan(ctx, "store "+op,
			trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
	}
	c.start = time.Now()
	return ctx, c
}

// end records the operation, which returned err, and returns err.
func (c call) end(ctx context.Context, err error) error {
	d := time.Since(c.start)
	f := failed(ctx, err)
	c.m.StoreOp(c.op, d, f)
	if c.span != nil {
		if f {
			c.span.SetStatus(codes.Error, err.Error())
		}
		c.span.End()
	}
	return err
}

// failed reports whether err, returned by a call made with ctx, is a
// failure of the store rather than an answer or the caller's
// cancellation.
func failed(ctx context.Context, err error) bool {
	switch {
	case err == nil,
		errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrConflict), errors.Is(err, store.ErrLimit),
		errors.Is(err, context.Canceled), errors.Is(ctx.Err(), context.Canceled):
		return false
	}
	return true
}

// Store is a store.Store whose calls are observed. Create it with Wrap.
type Store struct {
	st store.Store
	m  *telemetry.Metrics
}

var (
	_ store.Store    = (*Store)(nil)
	_ store.AppStore = (*appStore)(nil)
)

// Wrap returns st with every call observed: recorded in m (nil m records
// nothing) and traced while tracing is on.
func Wrap(st store.Store, m *telemetry.Metrics) *Store {
	return &Store{st: st, m: m}
}

// Unwrap returns the wrapped store.
func (s *Store) Unwrap() store.Store { return s.st }

// begin starts operation op, which is not app-scoped (appID empty) or
// addresses the app appID.
func (s *Store) begin(ctx context.Context, op, appID string) (context.Context, call) {
	return begin(ctx, s.m, op, appID, noBatch)
}

// Ping passes the call through, unobserved.
func (s *Store) Ping(ctx context.Context) error { return s.st.Ping(ctx) }

// Close passes the call through, unobserved.
func (s *Store) Close() error { return s.st.Close() }

// App returns the observed handle of app appID.
func (s *Store) App(appID string) store.AppStore {
	return &appStore{as: s.st.App(appID), m: s.m, appID: appID}
}

// GetMeta implements store.Store.
func (s *Store) GetMeta(ctx context.Context, key string) (string, error) {
	ctx, c := s.begin(ctx, "GetMeta", "")
	v, err := s.st.GetMeta(ctx, key)
	return v, c.end(ctx, err)
}

// PutMeta implements store.Store.
func (s *Store) PutMeta(ctx context.Context, key, value string) error {
	ctx, c := s.begin(ctx, "PutMeta", "")
	return c.end(ctx, s.st.PutMeta(ctx, key, value))
}

// CreateTenant implements store.Store.
func (s *Store) CreateTenant(ctx context.Context, t store.Tenant) error {
	ctx, c := s.begin(ctx, "CreateTenant", "")
	return c.end(ctx, s.st.CreateTenant(ctx, t))
}

// GetTenant implements store.Store.
func (s *Store) GetTenant(ctx context.Context, id string) (store.Tenant, error) {
	ctx, c := s.begin(ctx, "GetTenant", "")
	t, err := s.st.GetTenant(ctx, id)
	return t, c.end(ctx, err)
}

// ListTenants implements store.Store.
func (s *Store) ListTenants(ctx context.Context, after string, limit int) ([]store.Tenant, error) {
	ctx, c := s.begin(ctx, "ListTenants", "")
	ts, err := s.st.ListTenants(ctx, after, limit)
	return ts, c.end(ctx, err)
}

// CreateMember implements store.Store.
func (s *Store) CreateMember(ctx context.Context, m store.Member) error {
	ctx, c := s.begin(ctx, "CreateMember", "")
	return c.end(ctx, s.st.CreateMember(ctx, m))
}

// GetMember implements store.Store.
func (s *Store) GetMember(ctx context.Context, id string) (store.Member, error) {
	ctx, c := s.begin(ctx, "GetMember", "")
	m, err := s.st.GetMember(ctx, id)
	return m, c.end(ctx, err)
}

// ListMembersByEmail implements store.Store.
func (s *Store) ListMembersByEmail(ctx context.Context, email string, limit int) ([]store.Member, error) {
	ctx, c := s.begin(ctx, "ListMembersByEmail", "")
	ms, err := s.st.ListMembersByEmail(ctx, email, limit)
	return ms, c.end(ctx, err)
}

// ListMembers implements store.Store.
func (s *Store) ListMembers(ctx context.Context, tenantID string) ([]store.Member, error) {
	ctx, c := s.begin(ctx, "ListMembers", "")
	ms, err := s.st.ListMembers(ctx, tenantID)
	return ms, c.end(ctx, err)
}

// UpdateMember implements store.Store.
func (s *Store) UpdateMember(ctx context.Context, m store.Member) error {
	ctx, c := s.begin(ctx, "UpdateMember", "")
	return c.end(ctx, s.st.UpdateMember(ctx, m))
}

// DeleteMember implements store.Store.
func (s *Store) DeleteMember(ctx context.Context, id string) error {
	ctx, c := s.begin(ctx, "DeleteMember", "")
	return c.end(ctx, s.st.DeleteMember(ctx, id))
}

// DeleteMemberSessions implements store.Store.
func (s *Store) DeleteMemberSessions(ctx context.Context, memberID, exceptTokenHash string) (int64, error) {
	ctx, c := s.begin(ctx, "DeleteMemberSessions", "")
	n, err := s.st.DeleteMemberSessions(ctx, memberID, exceptTokenHash)
	return n, c.end(ctx, err)
}

// CreateSession implements store.Store.
func (s *Store) CreateSession(ctx context.Context, sess store.Session) error {
	ctx, c := s.begin(ctx, "CreateSession", "")
	return c.end(ctx, s.st.CreateSession(ctx, sess))
}

// GetSession implements store.Store.
func (s *Store) GetSession(ctx context.Context, tokenHash string, now time.Time) (store.Session, error) {
	ctx, c := s.begin(ctx, "GetSession", "")
	sess, err := s.st.GetSession(ctx, tokenHash, now)
	return sess, c.end(ctx, err)
}

// DeleteSession implements store.Store.
func (s *Store) DeleteSession(ctx context.Context, tokenHash string) error {
	ctx, c := s.begin(ctx, "DeleteSession", "")
	return c.end(ctx, s.st.DeleteSession(ctx, tokenHash))
}

// CreateApp implements store.Store.
func (s *Store) CreateApp(ctx context.Context, a store.App) error {
	ctx, c := s.begin(ctx, "CreateApp", a.ID)
	return c.end(ctx, s.st.CreateApp(ctx, a))
}

// GetApp implements store.Store.
func (s *Store) GetApp(ctx context.Context, id string) (store.App, error) {
	ctx, c := s.begin(ctx, "GetApp", id)
	a, err := s.st.GetApp(ctx, id)
	return a, c.end(ctx, err)
}

// GetAppByKey implements store.Store.
func (s *Store) GetAppByKey(ctx context.Context, key string) (store.App, error) {
	ctx, c := s.begin(ctx, "GetAppByKey", "")
	a, err := s.st.GetAppByKey(ctx, key)
	return a, c.end(ctx, err)
}

// ListApps implements store.Store.
func (s *Store) ListApps(ctx context.Context, tenantID, after string, limit int) ([]store.App, error) {
	ctx, c := s.begin(ctx, "ListApps", "")
	as, err := s.st.ListApps(ctx, tenantID, after, limit)
	return as, c.end(ctx, err)
}

// UpdateApp implements store.Store.
func (s *Store) UpdateApp(ctx context.Context, a store.App) error {
	ctx, c := s.begin(ctx, "UpdateApp", a.ID)
	return c.end(ctx, s.st.UpdateApp(ctx, a))
}

// AddSecret implements store.Store.
func (s *Store) AddSecret(ctx context.Context, sec store.Secret, maxActive int) error {
	ctx, c := s.begin(ctx, "AddSecret", sec.AppID)
	return c.end(ctx, s.st.AddSecret(ctx, sec, maxActive))
}

// ListSecrets implements store.Store.
func (s *Store) ListSecrets(ctx context.Context, appID string) ([]store.Secret, error) {
	ctx, c := s.begin(ctx, "ListSecrets", appID)
	ss, err := s.st.ListSecrets(ctx, appID)
	return ss, c.end(ctx, err)
}

// RevokeSecret implements store.Store.
func (s *Store) RevokeSecret(ctx context.Context, appID, secretID string, at time.Time) error {
	ctx, c := s.begin(ctx, "RevokeSecret", appID)
	return c.end(ctx, s.st.RevokeSecret(ctx, appID, secretID, at))
}

// UseNonces implements store.Store.
func (s *Store) UseNonces(ctx context.Context, ns []store.Nonce) ([]bool, error) {
	ctx, c := begin(ctx, s.m, "UseNonces", "", len(ns))
	fresh, err := s.st.UseNonces(ctx, ns)
	return fresh, c.end(ctx, err)
}

// DeleteExpired implements store.Store.
func (s *Store) DeleteExpired(ctx context.Context, now, idempotencyBefore time.Time) (int64, error) {
	ctx, c := s.begin(ctx, "DeleteExpired", "")
	n, err := s.st.DeleteExpired(ctx, now, idempotencyBefore)
	return n, c.end(ctx, err)
}

// DeleteOutboxBefore implements store.Store.
func (s *Store) DeleteOutboxBefore(ctx context.Context, before time.Time) (int64, error) {
	ctx, c := s.begin(ctx, "DeleteOutboxBefore", "")
	n, err := s.st.DeleteOutboxBefore(ctx, before)
	return n, c.end(ctx, err)
}

// DeleteWebhookLogBefore implements store.Store.
func (s *Store) DeleteWebhookLogBefore(ctx context.Context, before time.Time) (int64, error) {
	ctx, c := s.begin(ctx, "DeleteWebhookLogBefore", "")
	n, err := s.st.DeleteWebhookLogBefore(ctx, before)
	return n, c.end(ctx, err)
}

// DeleteUsageBefore implements store.Store.
func (s *Store) DeleteUsageBefore(ctx context.Context, day string) (int64, error) {
	ctx, c := s.begin(ctx, "DeleteUsageBefore", "")
	n, err := s.st.DeleteUsageBefore(ctx, day)
	return n, c.end(ctx, err)
}

// PendingSupportEvents implements store.Store.
func (s *Store) PendingSupportEvents(ctx context.Context, kind string, before time.Time, limit int) ([]store.SupportEvent, error) {
	ctx, c := s.begin(ctx, "PendingSupportEvents", "")
	evs, err := s.st.PendingSupportEvents(ctx, kind, before, limit)
	return evs, c.end(ctx, err)
}

// WaitingSupportApps implements store.Store.
func (s *Store) WaitingSupportApps(ctx context.Context, after string, before time.Time, limit int) ([]string, error) {
	ctx, c := s.begin(ctx, "WaitingSupportApps", "")
	apps, err := s.st.WaitingSupportApps(ctx, after, before, limit)
	return apps, c.end(ctx, err)
}

// AgentLoads implements store.Store.
func (s *Store) AgentLoads(ctx context.Context, afterApp, afterUser string, limit int) ([]store.AgentLoad, error) {
	ctx, c := s.begin(ctx, "AgentLoads", "")
	ls, err := s.st.AgentLoads(ctx, afterApp, afterUser, limit)
	return ls, c.end(ctx, err)
}
