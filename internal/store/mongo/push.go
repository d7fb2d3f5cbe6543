package mongo

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/magpie-im/magpie/internal/store"
)

// putDeviceRounds caps the rounds of PutDevice's remove-then-upsert that
// lose a race (a duplicate key) to another registration of the same token
// or device.
const putDeviceRounds = 8

// PutDevice registers or replaces a device; see store.PushStore. Without a
// transaction it runs as steps:
//
//  1. Look up the user (store.ErrNotFound if it does not exist, before
//     anything is written) and the registration, and check the limit for a
//     new one, not counting the token's registrations that step 2 removes.
//  2. Remove the token's other registrations, then upsert this one
//     (CreatedAt only on insert). The unique index on (app, provider,
//     token) lets the upsert succeed only while no other registration
//     holds the token: a writer that registered the token between the
//     removal and the upsert makes it fail with a duplicate key (see
//     isUniqueViolation), and the round runs again, removing that
//     registration, up to putDeviceRounds rounds. Of concurrent
//     registrations of one token, the last upsert wins and only its own
//     call may remove it afterwards, so one holder remains (none if that
//     call is then refused, in step 3 or 4).
//  3. Look up the user again, as AddOutbox does: if a DeleteUser removed it
//     meanwhile, take the registration back (store.ErrNotFound); a deletion
//     that removes the user's document after this lookup removes the
//     user's devices after it too (deleteUserEntries).
//  4. For a new registration under a limit, count the user's devices: if
//     concurrent registrations of new devices took the user past the
//     limit, take this one back (store.ErrLimit). Under such contention
//     each of them may be refused; the limit is never exceeded for long.
//
// A call that fails after step 2 has removed the token's other
// registrations: the token was claimed by this device, and a provider's
// next delivery to the old holder would have failed anyway.
func (a *appStore) PutDevice(ctx context.Context, d store.Device, maxPerUser int) error {
	if err := a.putDevice(ctx, d, maxPerUser); err != nil {
		return fmt.Errorf("put device %s of %s: %w", d.ID, d.UserID, err)
	}
	return nil
}

func (a *appStore) putDevice(ctx context.Context, d store.Device, maxPerUser int) error {
	k := a.deviceKey(d.UserID, d.ID)
	if err := a.userExists(ctx, d.UserID); err != nil {
		return err
	}
	_, err := findOne[deviceDoc](ctx, a.s.l.devices, byID(k))
	isNew := errors.Is(err, store.ErrNotFound)
	if err != nil && !isNew {
		return fmt.Errorf("read registration: %w", err)
	}
	if isNew && maxPerUser > 0 {
		// The token's registrations of the user go in step 2: they do not
		// count.
		n, err := a.s.l.devices.CountDocuments(ctx, a.scope(
			bson.E{Key: "_id.user", Value: d.UserID},
			bson.E{Key: "$or", Value: bson.A{
				bson.D{{Key: "provider", Value: bson.D{{Key: "$ne", Value: d.Provider}}}},
				bson.D{{Key: "token", Value: bson.D{{Key: "$ne", Value: d.Token}}}},
			}}))
		if err != nil {
			return errorf(err, "count devices")
		}
		if n >= int64(maxPerUser) {
			return fmt.Errorf("user %s has %d devices: %w", d.UserID, n, store.ErrLimit)
		}
	}
	others := a.scope(
		bson.E{Key: "provider", Value: d.Provider},
		bson.E{Key: "token", Value: d.Token},
		bson.E{Key: "_id", Value: bson.D{{Key: "$ne", Value: k}}})
	update := bson.D{
		{Key: "$set", Value: bson.D{
			{Key: "platform", Value: d.Platform}, {Key: "provider", Value: d.Provider},
			{Key: "token", Value: d.Token}, {Key: "topic", Value: d.Topic},
			{Key: "environment", Value: d.Environment}, {Key: "locale", Value: d.Locale},
			{Key: "time_zone", Value: d.TimeZone}, {Key: "updated_at", Value: d.UpdatedAt},
		}},
		{Key: "$setOnInsert", Value: bson.D{{Key: "created_at", Value: d.CreatedAt}}},
	}
	created := false
	for round := 1; ; round++ {
		if _, err := a.s.c.devices.DeleteMany(ctx, others); err != nil {
			return errorf(err, "remove the token's other registrations")
		}
		res, err := a.s.c.devices.UpdateOne(ctx, byID(k), update, options.UpdateOne().SetUpsert(true))
		if err == nil {
			created = res.UpsertedCount == 1
			break
		}
		if !isUniqueViolation(err) || round == putDeviceRounds {
			return errorf(err, "write registration")
		}
	}
	// Take back without the caller's cancellation: the registration must
	// not outlive the check that refuses it.
	takeBack := func(why string) error {
		if _, err := a.s.c.devices.DeleteOne(context.WithoutCancel(ctx), byID(k)); err != nil {
			return errorf(err, "take back the registration of %s", why)
		}
		return nil
	}
	err = a.userExists(ctx, d.UserID)
	if errors.Is(err, store.ErrNotFound) {
		if terr := takeBack("a missing user"); terr != nil {
			return terr
		}
		return err
	}
	if err != nil {
		return err
	}
	if created && maxPerUser > 0 {
		n, err := a.s.l.devices.CountDocuments(ctx, a.scope(bson.E{Key: "_id.user", Value: d.UserID}))
		if err != nil {
			return errorf(err, "count devices")
		}
		if n > int64(maxPerUser) {
			if err := takeBack("a device over the limit"); err != nil {
				return err
			}
			return fmt.Errorf("user %s has %d devices: %w", d.UserID, n-1, store.ErrLimit)
		}
	}
	return nil
}

// isUniqueViolation reports whether a write failed on a unique index: a
// duplicate key, or what FerretDB 1.x (on SQLite) reports instead when an
// update of an existing document breaks a unique index, an InternalError
// (code 1) that carries SQLite's message. Its inserts and upserts that
// insert report a duplicate key.
func isUniqueViolation(err error) bool {
	if mongo.IsDuplicateKeyError(err) {
		return true
	}
	var se mongo.ServerError
	return errors.As(err, &se) && se.HasErrorCode(1) && strings.Contains(se.Error(), "UNIQUE constraint failed")
}

// userExists returns nil if the app has the user, or store.ErrNotFound. It
// reads locally: a deletion of the user that has returned is seen.
func (a *appStore) userExists(ctx context.Context, userID string) error {
	_, err := findOne[userDoc](ctx, a.s.l.users, byID(a.key(userID)),
		options.FindOne().SetProjection(bson.D{{Key: "_id", Value: 1}}))
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("user %s: %w", userID, store.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("check user %s: %w", userID, err)
	}
	return nil
}

// GetDevice returns one registration, or store.ErrNotFound.
func (a *appStore) GetDevice(ctx context.Context, userID, deviceID string) (store.Device, error) {
	d, err := findOne[deviceDoc](ctx, a.s.c.devices, byID(a.deviceKey(userID, deviceID)))
	if err != nil {
		return store.Device{}, fmt.Errorf("get device %s of %s: %w", deviceID, userID, err)
	}
	return d.record(), nil
}

// ListDevices returns the registrations of a user, by device id.
func (a *appStore) ListDevices(ctx context.Context, userID string) ([]store.Device, error) {
	ds, err := findAll[deviceDoc](ctx, a.s.c.devices, a.scope(bson.E{Key: "_id.user", Value: userID}),
		options.Find().SetSort(bson.D{{Key: "_id.device", Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("list devices of %s: %w", userID, err)
	}
	return records(ds, deviceDoc.record), nil
}

// DeleteDevice removes a registration, with token non-empty only while its
// token is token; store.ErrNotFound if nothing matched.
func (a *appStore) DeleteDevice(ctx context.Context, userID, deviceID, token string) error {
	filter := byID(a.deviceKey(userID, deviceID))
	if token != "" {
		filter = append(filter, bson.E{Key: "token", Value: token})
	}
	res, err := a.s.c.devices.DeleteOne(ctx, filter)
	if err == nil && res.DeletedCount == 0 {
		err = store.ErrNotFound
	}
	if err != nil {
		return errorf(err, "delete device %s of %s", deviceID, userID)
	}
	return nil
}

// DeleteDevices removes the registrations of a user updated before the
// given time and returns how many it removed.
func (a *appStore) DeleteDevices(ctx context.Context, userID string, before time.Time) (int64, error) {
	res, err := a.s.c.devices.DeleteMany(ctx, a.scope(
		bson.E{Key: "_id.user", Value: userID},
		bson.E{Key: "updated_at", Value: bson.D{{Key: "$lt", Value: before}}}))
	if err != nil {
		return 0, errorf(err, "delete devices of %s", userID)
	}
	return res.DeletedCount, nil
}

// PutPushCredential stores the app's credential for c.Provider with one
// upsert; replacing one keeps its creation time.
func (a *appStore) PutPushCredential(ctx context.Context, c store.PushCredential) error {
	fields := bson.D{{Key: "updated_at", Value: c.UpdatedAt}}
	var unset bson.D
	if len(c.Sealed) > 0 {
		fields = append(fields, bson.E{Key: "sealed", Value: c.Sealed})
	} else {
		unset = append(unset, bson.E{Key: "sealed", Value: ""})
	}
	if info := pairs(c.Info); info != nil {
		fields = append(fields, bson.E{Key: "info", Value: info})
	} else {
		unset = append(unset, bson.E{Key: "info", Value: ""})
	}
	update := bson.D{
		{Key: "$set", Value: fields},
		{Key: "$setOnInsert", Value: bson.D{{Key: "created_at", Value: c.CreatedAt}}},
	}
	if len(unset) > 0 {
		update = append(update, bson.E{Key: "$unset", Value: unset})
	}
	filter := byID(a.key(c.Provider))
	_, err := a.s.c.credentials.UpdateOne(ctx, filter, update, options.UpdateOne().SetUpsert(true))
	if mongo.IsDuplicateKeyError(err) {
		// Two first puts raced to insert: now it exists.
		_, err = a.s.c.credentials.UpdateOne(ctx, filter, update, options.UpdateOne().SetUpsert(true))
	}
	if err != nil {
		return errorf(err, "put push credential %s", c.Provider)
	}
	return nil
}

// ListPushCredentials returns the app's credentials, by provider.
func (a *appStore) ListPushCredentials(ctx context.Context) ([]store.PushCredential, error) {
	ds, err := findAll[credentialDoc](ctx, a.s.c.credentials, a.scope(),
		options.Find().SetSort(bson.D{{Key: "_id.id", Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("list push credentials: %w", err)
	}
	return records(ds, credentialDoc.record), nil
}

// DeletePushCredential removes the app's credential for provider, or
// returns store.ErrNotFound.
func (a *appStore) DeletePushCredential(ctx context.Context, provider string) error {
	res, err := a.s.c.credentials.DeleteOne(ctx, byID(a.key(provider)))
	if err == nil && res.DeletedCount == 0 {
		err = store.ErrNotFound
	}
	if err != nil {
		return errorf(err, "delete push credential %s", provider)
	}
	return nil
}

// AddPushLog records the entries whose users exist; see store.PushStore.
// It looks the users up, inserts their entries in one unordered insert (an
// id the app holds already is a duplicate key, and skipped), then looks the
// users up again, as AddOutbox does: the entries of a user deleted
// meanwhile are taken back, and a deletion that removes the user's document
// after that lookup removes the user's entries after it too
// (deleteUserEntries).
func (a *appStore) AddPushLog(ctx context.Context, es []store.PushLogEntry) error {
	if err := a.addPushLog(ctx, es); err != nil {
		return fmt.Errorf("add push log: %w", err)
	}
	return nil
}

func (a *appStore) addPushLog(ctx context.Context, es []store.PushLogEntry) error {
	if len(es) == 0 {
		return nil
	}
	users := make([]string, 0, 1)
	for _, e := range es {
		if !slices.Contains(users, e.UserID) {
			users = append(users, e.UserID)
		}
	}
	exist, err := a.existingUsers(ctx, users)
	if err != nil {
		return err
	}
	var docs []any
	users = users[:0] // the users of the entries inserted
	for _, e := range es {
		if !exist[e.UserID] {
			continue
		}
		docs = append(docs, pushLogDoc{
			ID: a.key(e.ID), User: e.UserID, Conv: e.ConvID, Seq: e.Seq, Device: e.DeviceID,
			Provider: e.Provider, Status: e.Status, Reason: e.Reason, At: e.At,
		})
		if !slices.Contains(users, e.UserID) {
			users = append(users, e.UserID)
		}
	}
	if len(docs) == 0 {
		return nil
	}
	_, err = a.s.c.pushLog.InsertMany(ctx, docs, options.InsertMany().SetOrdered(false))
	if err != nil {
		wes, err := writeErrors(err)
		if err != nil {
			return errorf(err, "insert entries")
		}
		for _, we := range wes {
			if !isDuplicate(we.WriteError) {
				return errorf(we.WriteError, "insert entry %s", docs[we.Index].(pushLogDoc).ID.ID)
			}
		}
	}
	exist, err = a.existingUsers(ctx, users)
	if err != nil {
		return err
	}
	var gone []string
	var keys []appKey
	for _, doc := range docs {
		if d := doc.(pushLogDoc); !exist[d.User] {
			gone = append(gone, d.User)
			keys = append(keys, d.ID)
		}
	}
	if len(keys) > 0 {
		filter := bson.D{{Key: "_id", Value: in(keys)}, {Key: "user", Value: in(gone)}}
		if _, err := a.s.c.pushLog.DeleteMany(context.WithoutCancel(ctx), filter); err != nil {
			return errorf(err, "take back the entries of missing users")
		}
	}
	return nil
}

// existingUsers returns which of the users the app has, reading locally.
func (a *appStore) existingUsers(ctx context.Context, users []string) (map[string]bool, error) {
	keys := make([]appKey, len(users))
	for i, u := range users {
		keys[i] = a.key(u)
	}
	ds, err := findAll[userDoc](ctx, a.s.l.users, bson.D{{Key: "_id", Value: in(keys)}},
		options.Find().SetProjection(bson.D{{Key: "_id", Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("check users: %w", err)
	}
	out := make(map[string]bool, len(ds))
	for _, d := range ds {
		out[d.ID.ID] = true
	}
	return out, nil
}

// ListPushLog returns up to q.Limit entries with id > q.After, by id, of
// q's user and/or conversation (and message), or of the whole app.
func (a *appStore) ListPushLog(ctx context.Context, q store.PushLogQuery) ([]store.PushLogEntry, error) {
	if q.Limit <= 0 {
		return nil, nil
	}
	var conds []bson.E
	if q.UserID != "" {
		conds = append(conds, bson.E{Key: "user", Value: q.UserID})
	}
	if q.ConvID != "" {
		conds = append(conds, bson.E{Key: "conv", Value: q.ConvID})
		if q.Seq > 0 {
			conds = append(conds, bson.E{Key: "seq", Value: q.Seq})
		}
	}
	conds = append(conds, bson.E{Key: "_id.id", Value: bson.D{{Key: "$gt", Value: q.After}}})
	ds, err := findAll[pushLogDoc](ctx, a.s.c.pushLog, a.scope(conds...), page("_id.id", q.Limit))
	if err != nil {
		return nil, fmt.Errorf("list push log: %w", err)
	}
	return records(ds, pushLogDoc.record), nil
}

// GetPushSettings returns a user's push settings, the zero value if it set
// none; store.ErrNotFound if the user does not exist.
func (a *appStore) GetPushSettings(ctx context.Context, userID string) (store.PushSettings, error) {
	if _, err := findOne[userDoc](ctx, a.s.c.users, byID(a.key(userID)),
		options.FindOne().SetProjection(bson.D{{Key: "_id", Value: 1}})); err != nil {
		return store.PushSettings{}, fmt.Errorf("get push settings of %s: user: %w", userID, err)
	}
	d, err := findOne[pushSettingsDoc](ctx, a.s.c.pushSettings, byID(a.key(userID)))
	if errors.Is(err, store.ErrNotFound) {
		return store.PushSettings{}, nil
	}
	if err != nil {
		return store.PushSettings{}, fmt.Errorf("get push settings of %s: %w", userID, err)
	}
	return d.record(), nil
}

// PutPushSettings replaces a user's push settings with one upsert, then
// looks the user up, as AddOutbox does: if it does not exist (or a
// DeleteUser removed it meanwhile), the settings are taken back and the
// call returns store.ErrNotFound; a deletion that removes the user's
// document after that lookup removes the settings after it too
// (deleteUserEntries).
func (a *appStore) PutPushSettings(ctx context.Context, userID string, s store.PushSettings) error {
	filter := byID(a.key(userID))
	update := set(
		bson.E{Key: "disabled", Value: s.Disabled},
		bson.E{Key: "dnd_start", Value: s.DNDStart},
		bson.E{Key: "dnd_end", Value: s.DNDEnd},
		bson.E{Key: "time_zone", Value: s.TimeZone},
		bson.E{Key: "updated_at", Value: s.UpdatedAt},
	)
	_, err := a.s.c.pushSettings.UpdateOne(ctx, filter, update, options.UpdateOne().SetUpsert(true))
	if mongo.IsDuplicateKeyError(err) {
		// Two first puts raced to insert: now it exists.
		_, err = a.s.c.pushSettings.UpdateOne(ctx, filter, update, options.UpdateOne().SetUpsert(true))
	}
	if err != nil {
		return errorf(err, "put push settings of %s", userID)
	}
	err = a.userExists(ctx, userID)
	if errors.Is(err, store.ErrNotFound) {
		if _, derr := a.s.c.pushSettings.DeleteOne(context.WithoutCancel(ctx), filter); derr != nil {
			return errorf(derr, "put push settings of %s: take back the settings of a missing user", userID)
		}
	}
	if err != nil {
		return fmt.Errorf("put push settings of %s: %w", userID, err)
	}
	return nil
}

// SetConversationMuted sets or clears the mute flag of the user's entry of
// a conversation; store.ErrNotFound if the user has none. A cleared flag is
// left out of the document.
func (a *appStore) SetConversationMuted(ctx context.Context, userID, convID string, muted bool) error {
	update := set(bson.E{Key: "muted", Value: true})
	if !muted {
		update = bson.D{{Key: "$unset", Value: bson.D{{Key: "muted", Value: ""}}}}
	}
	res, err := a.s.c.entries.UpdateOne(ctx, byID(a.entryKey(userID, convID)), update)
	if err := matched(res, err); err != nil {
		return fmt.Errorf("set conversation %s muted for %s: %w", convID, userID, err)
	}
	return nil
}
