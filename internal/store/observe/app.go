package observe

import (
	"context"
	"time"

	"github.com/magpie-im/magpie/internal/store"
	"github.com/magpie-im/magpie/internal/telemetry"
)

// appStore is a store.AppStore whose calls are observed, with the app id
// on their spans.
type appStore struct {
	as    store.AppStore
	m     *telemetry.Metrics
	appID string
}

// begin starts operation op on one record.
func (a *appStore) begin(ctx context.Context, op string) (context.Context, call) {
	return begin(ctx, a.m, op, a.appID, noBatch)
}

// beginBatch starts operation op on n records.
func (a *appStore) beginBatch(ctx context.Context, op string, n int) (context.Context, call) {
	return begin(ctx, a.m, op, a.appID, n)
}

func (a *appStore) AppID() string { return a.as.AppID() }

func (a *appStore) CreateUser(ctx context.Context, u store.User) error {
	ctx, c := a.begin(ctx, "CreateUser")
	return c.end(ctx, a.as.CreateUser(ctx, u))
}

func (a *appStore) CreateUsers(ctx context.Context, us []store.User) ([]error, error) {
	ctx, c := a.beginBatch(ctx, "CreateUsers", len(us))
	errs, err := a.as.CreateUsers(ctx, us)
	return errs, c.end(ctx, err)
}

func (a *appStore) GetUser(ctx context.Context, id string) (store.User, error) {
	ctx, c := a.begin(ctx, "GetUser")
	u, err := a.as.GetUser(ctx, id)
	return u, c.end(ctx, err)
}

func (a *appStore) UpdateUser(ctx context.Context, u store.User) error {
	ctx, c := a.begin(ctx, "UpdateUser")
	return c.end(ctx, a.as.UpdateUser(ctx, u))
}

func (a *appStore) DeleteUser(ctx context.Context, id string, d store.UserDeletion) error {
	ctx, c := a.begin(ctx, "DeleteUser")
	return c.end(ctx, a.as.DeleteUser(ctx, id, d))
}

func (a *appStore) ListUsers(ctx context.Context, after string, limit int) ([]store.User, error) {
	ctx, c := a.begin(ctx, "ListUsers")
	us, err := a.as.ListUsers(ctx, after, limit)
	return us, c.end(ctx, err)
}

func (a *appStore) SetUserBlocked(ctx context.Context, id string, blocked bool, at time.Time) error {
	ctx, c := a.begin(ctx, "SetUserBlocked")
	return c.end(ctx, a.as.SetUserBlocked(ctx, id, blocked, at))
}

func (a *appStore) RevokeTokens(ctx context.Context, id string, before time.Time) error {
	ctx, c := a.begin(ctx, "RevokeTokens")
	return c.end(ctx, a.as.RevokeTokens(ctx, id, before))
}

func (a *appStore) SetLastSeen(ctx context.Context, id string, at time.Time) error {
	ctx, c := a.begin(ctx, "SetLastSeen")
	return c.end(ctx, a.as.SetLastSeen(ctx, id, at))
}

func (a *appStore) PutIdempotency(ctx context.Context, r store.Idempotency) (store.Idempotency, bool, error) {
	ctx, c := a.begin(ctx, "PutIdempotency")
	got, created, err := a.as.PutIdempotency(ctx, r)
	return got, created, c.end(ctx, err)
}

func (a *appStore) GetIdempotency(ctx context.Context, key string) (store.Idempotency, error) {
	ctx, c := a.begin(ctx, "GetIdempotency")
	r, err := a.as.GetIdempotency(ctx, key)
	return r, c.end(ctx, err)
}

// MessageStore

func (a *appStore) AppendMessages(ctx context.Context, drafts []store.Draft) ([]store.Appended, error) {
	ctx, c := a.beginBatch(ctx, "AppendMessages", len(drafts))
	res, err := a.as.AppendMessages(ctx, drafts)
	return res, c.end(ctx, err)
}

func (a *appStore) ClientMsgIDsStored(ctx context.Context, keys []store.ClientMsgKey) ([]bool, error) {
	ctx, c := a.begin(ctx, "ClientMsgIDsStored")
	found, err := a.as.ClientMsgIDsStored(ctx, keys)
	return found, c.end(ctx, err)
}

func (a *appStore) GetMessageByClientID(ctx context.Context, senderID, clientMsgID string) (store.Message, error) {
	ctx, c := a.begin(ctx, "GetMessageByClientID")
	m, err := a.as.GetMessageByClientID(ctx, senderID, clientMsgID)
	return m, c.end(ctx, err)
}

func (a *appStore) SetConversationPrefs(ctx context.Context, userID, convID string, p store.ConvPrefs) (store.UserConversation, error) {
	ctx, c := a.begin(ctx, "SetConversationPrefs")
	uc, err := a.as.SetConversationPrefs(ctx, userID, convID, p)
	return uc, c.end(ctx, err)
}

func (a *appStore) GetMessage(ctx context.Context, convID string, seq int64) (store.Message, error) {
	ctx, c := a.begin(ctx, "GetMessage")
	m, err := a.as.GetMessage(ctx, convID, seq)
	return m, c.end(ctx, err)
}

func (a *appStore) ListMessages(ctx context.Context, convID string, r store.Range) ([]store.Message, error) {
	ctx, c := a.begin(ctx, "ListMessages")
	ms, err := a.as.ListMessages(ctx, convID, r)
	return ms, c.end(ctx, err)
}

func (a *appStore) RecallMessage(ctx context.Context, convID string, seq int64, at time.Time) (store.Message, error) {
	ctx, c := a.begin(ctx, "RecallMessage")
	m, err := a.as.RecallMessage(ctx, convID, seq, at)
	return m, c.end(ctx, err)
}

func (a *appStore) GetConversation(ctx context.Context, convID string) (store.Conversation, error) {
	ctx, c := a.begin(ctx, "GetConversation")
	conv, err := a.as.GetConversation(ctx, convID)
	return conv, c.end(ctx, err)
}

func (a *appStore) GetUserConversation(ctx context.Context, userID, convID string) (store.UserConversation, error) {
	ctx, c := a.begin(ctx, "GetUserConversation")
	uc, err := a.as.GetUserConversation(ctx, userID, convID)
	return uc, c.end(ctx, err)
}

func (a *appStore) ListUserConversations(ctx context.Context, userID, after string, limit int) ([]store.UserConversation, error) {
	ctx, c := a.begin(ctx, "ListUserConversations")
	ucs, err := a.as.ListUserConversations(ctx, userID, after, limit)
	return ucs, c.end(ctx, err)
}

func (a *appStore) AckDelivered(ctx context.Context, acks []store.DeliveryAck) ([]store.AckResult, error) {
	ctx, c := a.beginBatch(ctx, "AckDelivered", len(acks))
	res, err := a.as.AckDelivered(ctx, acks)
	return res, c.end(ctx, err)
}

func (a *appStore) GetDeviceCursors(ctx context.Context, userID, deviceID string) (map[string]int64, error) {
	ctx, c := a.begin(ctx, "GetDeviceCursors")
	cur, err := a.as.GetDeviceCursors(ctx, userID, deviceID)
	return cur, c.end(ctx, err)
}

func (a *appStore) MarkRead(ctx context.Context, userID, convID string, seq int64) (int64, bool, error) {
	ctx, c := a.begin(ctx, "MarkRead")
	read, moved, err := a.as.MarkRead(ctx, userID, convID, seq)
	return read, moved, c.end(ctx, err)
}

// OutboxStore

func (a *appStore) AddOutbox(ctx context.Context, e store.OutboxEntry) (bool, error) {
	ctx, c := a.begin(ctx, "AddOutbox")
	added, err := a.as.AddOutbox(ctx, e)
	return added, c.end(ctx, err)
}

func (a *appStore) ListOutbox(ctx context.Context, userID, after string, limit int) ([]store.OutboxEntry, error) {
	ctx, c := a.begin(ctx, "ListOutbox")
	es, err := a.as.ListOutbox(ctx, userID, after, limit)
	return es, c.end(ctx, err)
}

// PushStore

func (a *appStore) PutDevice(ctx context.Context, d store.Device, maxPerUser int) error {
	ctx, c := a.begin(ctx, "PutDevice")
	return c.end(ctx, a.as.PutDevice(ctx, d, maxPerUser))
}

func (a *appStore) GetDevice(ctx context.Context, userID, deviceID string) (store.Device, error) {
	ctx, c := a.begin(ctx, "GetDevice")
	d, err := a.as.GetDevice(ctx, userID, deviceID)
	return d, c.end(ctx, err)
}

func (a *appStore) ListDevices(ctx context.Context, userID string) ([]store.Device, error) {
	ctx, c := a.begin(ctx, "ListDevices")
	ds, err := a.as.ListDevices(ctx, userID)
	return ds, c.end(ctx, err)
}

func (a *appStore) DeleteDevice(ctx context.Context, userID, deviceID, token string) error {
	ctx, c := a.begin(ctx, "DeleteDevice")
	return c.end(ctx, a.as.DeleteDevice(ctx, userID, deviceID, token))
}

func (a *appStore) DeleteDevices(ctx context.Context, userID string, before time.Time) (int64, error) {
	ctx, c := a.begin(ctx, "DeleteDevices")
	n, err := a.as.DeleteDevices(ctx, userID, before)
	return n, c.end(ctx, err)
}

func (a *appStore) PutPushCredential(ctx context.Context, cred store.PushCredential) error {
	ctx, c := a.begin(ctx, "PutPushCredential")
	return c.end(ctx, a.as.PutPushCredential(ctx, cred))
}

func (a *appStore) ListPushCredentials(ctx context.Context) ([]store.PushCredential, error) {
	ctx, c := a.begin(ctx, "ListPushCredentials")
	cs, err := a.as.ListPushCredentials(ctx)
	return cs, c.end(ctx, err)
}

func (a *appStore) DeletePushCredential(ctx context.Context, provider string) error {
	ctx, c := a.begin(ctx, "DeletePushCredential")
	return c.end(ctx, a.as.DeletePushCredential(ctx, provider))
}

func (a *appStore) AddPushLog(ctx context.Context, es []store.PushLogEntry) error {
	ctx, c := a.beginBatch(ctx, "AddPushLog", len(es))
	return c.end(ctx, a.as.AddPushLog(ctx, es))
}

func (a *appStore) ListPushLog(ctx context.Context, q store.PushLogQuery) ([]store.PushLogEntry, error) {
	ctx, c := a.begin(ctx, "ListPushLog")
	es, err := a.as.ListPushLog(ctx, q)
	return es, c.end(ctx, err)
}

func (a *appStore) GetPushSettings(ctx context.Context, userID string) (store.PushSettings, error) {
	ctx, c := a.begin(ctx, "GetPushSettings")
	ps, err := a.as.GetPushSettings(ctx, userID)
	return ps, c.end(ctx, err)
}

func (a *appStore) PutPushSettings(ctx context.Context, userID string, ps store.PushSettings) error {
	ctx, c := a.begin(ctx, "PutPushSettings")
	return c.end(ctx, a.as.PutPushSettings(ctx, userID, ps))
}

func (a *appStore) SetConversationMuted(ctx context.Context, userID, convID string, muted bool) error {
	ctx, c := a.begin(ctx, "SetConversationMuted")
	return c.end(ctx, a.as.SetConversationMuted(ctx, userID, convID, muted))
}

// WebhookStore

func (a *appStore) CreateWebhook(ctx context.Context, w store.Webhook, maxPerKind int) error {
	ctx, c := a.begin(ctx, "CreateWebhook")
	return c.end(ctx, a.as.CreateWebhook(ctx, w, maxPerKind))
}

func (a *appStore) GetWebhook(ctx context.Context, id string) (store.Webhook, error) {
	ctx, c := a.begin(ctx, "GetWebhook")
	w, err := a.as.GetWebhook(ctx, id)
	return w, c.end(ctx, err)
}

func (a *appStore) ListWebhooks(ctx context.Context) ([]store.Webhook, error) {
	ctx, c := a.begin(ctx, "ListWebhooks")
	ws, err := a.as.ListWebhooks(ctx)
	return ws, c.end(ctx, err)
}

func (a *appStore) UpdateWebhook(ctx context.Context, w store.Webhook) error {
	ctx, c := a.begin(ctx, "UpdateWebhook")
	return c.end(ctx, a.as.UpdateWebhook(ctx, w))
}

func (a *appStore) DeleteWebhook(ctx context.Context, id string) error {
	ctx, c := a.begin(ctx, "DeleteWebhook")
	return c.end(ctx, a.as.DeleteWebhook(ctx, id))
}

func (a *appStore) RecordWebhookResult(ctx context.Context, id string, ok bool, at time.Time) (store.Webhook, error) {
	ctx, c := a.begin(ctx, "RecordWebhookResult")
	w, err := a.as.RecordWebhookResult(ctx, id, ok, at)
	return w, c.end(ctx, err)
}

func (a *appStore) PutWebhookEvent(ctx context.Context, e store.WebhookEvent) error {
	ctx, c := a.begin(ctx, "PutWebhookEvent")
	return c.end(ctx, a.as.PutWebhookEvent(ctx, e))
}

func (a *appStore) GetWebhookEvent(ctx context.Context, id string) (store.WebhookEvent, error) {
	ctx, c := a.begin(ctx, "GetWebhookEvent")
	e, err := a.as.GetWebhookEvent(ctx, id)
	return e, c.end(ctx, err)
}

func (a *appStore) AddWebhookAttempts(ctx context.Context, as []store.WebhookAttempt) error {
	ctx, c := a.beginBatch(ctx, "AddWebhookAttempts", len(as))
	return c.end(ctx, a.as.AddWebhookAttempts(ctx, as))
}

func (a *appStore) ListWebhookAttempts(ctx context.Context, q store.WebhookAttemptQuery) ([]store.WebhookAttempt, error) {
	ctx, c := a.begin(ctx, "ListWebhookAttempts")
	as, err := a.as.ListWebhookAttempts(ctx, q)
	return as, c.end(ctx, err)
}

func (a *appStore) GetKeywordRules(ctx context.Context) (store.KeywordRules, error) {
	ctx, c := a.begin(ctx, "GetKeywordRules")
	r, err := a.as.GetKeywordRules(ctx)
	return r, c.end(ctx, err)
}

func (a *appStore) PutKeywordRules(ctx context.Context, r store.KeywordRules) error {
	ctx, c := a.begin(ctx, "PutKeywordRules")
	return c.end(ctx, a.as.PutKeywordRules(ctx, r))
}

// SupportStore

func (a *appStore) PutAgent(ctx context.Context, ag store.Agent) error {
	ctx, c := a.begin(ctx, "PutAgent")
	return c.end(ctx, a.as.PutAgent(ctx, ag))
}

func (a *appStore) GetAgent(ctx context.Context, userID string) (store.Agent, error) {
	ctx, c := a.begin(ctx, "GetAgent")
	ag, err := a.as.GetAgent(ctx, userID)
	return ag, c.end(ctx, err)
}

func (a *appStore) ListAgents(ctx context.Context, skill string) ([]store.Agent, error) {
	ctx, c := a.begin(ctx, "ListAgents")
	ags, err := a.as.ListAgents(ctx, skill)
	return ags, c.end(ctx, err)
}

func (a *appStore) DeleteAgent(ctx context.Context, userID string) error {
	ctx, c := a.begin(ctx, "DeleteAgent")
	return c.end(ctx, a.as.DeleteAgent(ctx, userID))
}

func (a *appStore) CreateSupportSession(ctx context.Context, s store.SupportSession, evs ...store.SupportEvent) error {
	ctx, c := a.begin(ctx, "CreateSupportSession")
	return c.end(ctx, a.as.CreateSupportSession(ctx, s, evs...))
}

func (a *appStore) GetSupportSession(ctx context.Context, id string) (store.SupportSession, error) {
	ctx, c := a.begin(ctx, "GetSupportSession")
	s, err := a.as.GetSupportSession(ctx, id)
	return s, c.end(ctx, err)
}

func (a *appStore) ListSupportSessions(ctx context.Context, q store.SupportQuery) ([]store.SupportSession, error) {
	ctx, c := a.begin(ctx, "ListSupportSessions")
	ss, err := a.as.ListSupportSessions(ctx, q)
	return ss, c.end(ctx, err)
}

func (a *appStore) AssignSupportSession(ctx context.Context, id string, version int64, agentID string, at time.Time, evs ...store.SupportEvent) (store.SupportSession, error) {
	ctx, c := a.begin(ctx, "AssignSupportSession")
	s, err := a.as.AssignSupportSession(ctx, id, version, agentID, at, evs...)
	return s, c.end(ctx, err)
}

func (a *appStore) RequeueSupportSession(ctx context.Context, id string, version int64, skill string, evs ...store.SupportEvent) (store.SupportSession, error) {
	ctx, c := a.begin(ctx, "RequeueSupportSession")
	s, err := a.as.RequeueSupportSession(ctx, id, version, skill, evs...)
	return s, c.end(ctx, err)
}

func (a *appStore) CloseSupportSession(ctx context.Context, id string, version int64, closedBy string, at time.Time, evs ...store.SupportEvent) (store.SupportSession, error) {
	ctx, c := a.begin(ctx, "CloseSupportSession")
	s, err := a.as.CloseSupportSession(ctx, id, version, closedBy, at, evs...)
	return s, c.end(ctx, err)
}

func (a *appStore) RateSupportSession(ctx context.Context, id string, rating int, comment string, evs ...store.SupportEvent) (store.SupportSession, error) {
	ctx, c := a.begin(ctx, "RateSupportSession")
	s, err := a.as.RateSupportSession(ctx, id, rating, comment, evs...)
	return s, c.end(ctx, err)
}

func (a *appStore) AddSupportEvents(ctx context.Context, id string, version int64, evs ...store.SupportEvent) error {
	ctx, c := a.begin(ctx, "AddSupportEvents")
	return c.end(ctx, a.as.AddSupportEvents(ctx, id, version, evs...))
}

func (a *appStore) SupportEventsPublished(ctx context.Context, sessionID string, ids ...string) error {
	ctx, c := a.begin(ctx, "SupportEventsPublished")
	return c.end(ctx, a.as.SupportEventsPublished(ctx, sessionID, ids...))
}

func (a *appStore) SetAgentActive(ctx context.Context, userID string, from, active int) error {
	ctx, c := a.begin(ctx, "SetAgentActive")
	return c.end(ctx, a.as.SetAgentActive(ctx, userID, from, active))
}

// UsageStore

func (a *appStore) AddUsage(ctx context.Context, u store.UsageDelta) error {
	ctx, c := a.begin(ctx, "AddUsage")
	return c.end(ctx, a.as.AddUsage(ctx, u))
}

func (a *appStore) ListUsage(ctx context.Context, from, to string) ([]store.UsageDay, error) {
	ctx, c := a.begin(ctx, "ListUsage")
	ds, err := a.as.ListUsage(ctx, from, to)
	return ds, c.end(ctx, err)
}
