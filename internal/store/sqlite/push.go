package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/magpie-im/magpie/internal/store"
)

const deviceColumns = `device_id, user_id, platform, provider, token, topic, environment, locale, time_zone,
	created_at, updated_at`

// PutDevice registers or replaces a device in one transaction: the user is
// looked up, the token's other registrations removed, the limit checked and
// the registration written, so a DeleteUser (one transaction too) runs
// wholly before or after it, and a call that fails (ErrLimit, ErrNotFound)
// rolls back and changes nothing. The registrations it removes do not count
// towards the limit. See store.PushStore.
func (a *appStore) PutDevice(ctx context.Context, d store.Device, maxPerUser int) error {
	err := a.inTx(ctx, func(t *appTx) error {
		var exists bool
		err := t.tx.QueryRowContext(ctx,
			`SELECT EXISTS (SELECT 1 FROM users WHERE app_id = ?1 AND id = ?2)`,
			a.bind([]any{d.UserID})...).Scan(&exists)
		if err != nil {
			return translate(err)
		}
		if !exists {
			return fmt.Errorf("user %s: %w", d.UserID, store.ErrNotFound)
		}
		_, err = t.tx.ExecContext(ctx,
			`DELETE FROM push_devices INDEXED BY push_devices_token
			WHERE app_id = ?1 AND provider = ?2 AND token = ?3 AND NOT (user_id = ?4 AND device_id = ?5)`,
			a.bind([]any{d.Provider, d.Token, d.UserID, d.ID})...)
		if err != nil {
			return fmt.Errorf("remove the token's other registrations: %w", translate(err))
		}
		var registered, devices int
		err = t.tx.QueryRowContext(ctx,
			`SELECT COUNT(*) FILTER (WHERE device_id = ?3), COUNT(*) FROM push_devices
			WHERE app_id = ?1 AND user_id = ?2`,
			a.bind([]any{d.UserID, d.ID})...).Scan(&registered, &devices)
		if err != nil {
			return translate(err)
		}
		if registered == 0 && maxPerUser > 0 && devices >= maxPerUser {
			return fmt.Errorf("user %s has %d devices: %w", d.UserID, devices, store.ErrLimit)
		}
		_, err = t.tx.ExecContext(ctx,
			`INSERT INTO push_devices (app_id, `+deviceColumns+`)
			VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
			ON CONFLICT (app_id, user_id, device_id) DO UPDATE SET
				platform = excluded.platform, provider = excluded.provider, token = excluded.token,
				topic = excluded.topic, environment = excluded.environment, locale = excluded.locale,
				time_zone = excluded.time_zone, updated_at = excluded.updated_at`,
			a.bind([]any{d.ID, d.UserID, d.Platform, d.Provider, d.Token, d.Topic, d.Environment,
				d.Locale, d.TimeZone, ms(d.CreatedAt), ms(d.UpdatedAt)})...)
		return translate(err)
	})
	if err != nil {
		return fmt.Errorf("put device %s of %s: %w", d.ID, d.UserID, err)
	}
	return nil
}

// GetDevice returns one registration, or store.ErrNotFound.
func (a *appStore) GetDevice(ctx context.Context, userID, deviceID string) (store.Device, error) {
	row := a.queryRow(ctx, `SELECT `+deviceColumns+` FROM push_devices
		WHERE app_id = ?1 AND user_id = ?2 AND device_id = ?3`, userID, deviceID)
	d, err := scanDevice(row)
	if err != nil {
		return store.Device{}, fmt.Errorf("get device %s of %s: %w", deviceID, userID, translate(err))
	}
	return d, nil
}

// ListDevices returns the registrations of a user, by device id.
func (a *appStore) ListDevices(ctx context.Context, userID string) ([]store.Device, error) {
	rows, err := a.query(ctx, `SELECT `+deviceColumns+` FROM push_devices
		WHERE app_id = ?1 AND user_id = ?2 ORDER BY device_id`, userID)
	if err != nil {
		return nil, fmt.Errorf("list devices of %s: %w", userID, translate(err))
	}
	ds, err := collect(rows, scanDevice)
	if err != nil {
		return nil, fmt.Errorf("list devices of %s: %w", userID, err)
	}
	return ds, nil
}

// DeleteDevice removes a registration, with token non-empty only while its
// token is token; store.ErrNotFound if nothing matched.
func (a *appStore) DeleteDevice(ctx context.Context, userID, deviceID, token string) error {
	res, err := a.exec(ctx, `DELETE FROM push_devices
		WHERE app_id = ?1 AND user_id = ?2 AND device_id = ?3 AND (?4 = '' OR token = ?4)`,
		userID, deviceID, token)
	if err := mustAffect(res, err); err != nil {
		return fmt.Errorf("delete device %s of %s: %w", deviceID, userID, err)
	}
	return nil
}

// DeleteDevices removes the registrations of a user updated before the
// given time and returns how many it removed.
func (a *appStore) DeleteDevices(ctx context.Context, userID string, before time.Time) (int64, error) {
	res, err := a.exec(ctx, `DELETE FROM push_devices WHERE app_id = ?1 AND user_id = ?2 AND updated_at < ?3`,
		userID, ms(before))
	n, err := affected(res, err)
	if err != nil {
		return 0, fmt.Errorf("delete devices of %s: %w", userID, err)
	}
	return n, nil
}

func scanDevice(r scanner) (store.Device, error) {
	var d store.Device
	var created, updated int64
	err := r.Scan(&d.ID, &d.UserID, &d.Platform, &d.Provider, &d.Token, &d.Topic, &d.Environment,
		&d.Locale, &d.TimeZone, &created, &updated)
	d.CreatedAt, d.UpdatedAt = fromMS(created), fromMS(updated)
	return d, err
}

const credentialColumns = `provider, sealed, info, created_at, updated_at`

// PutPushCredential stores the app's credential for c.Provider; replacing
// one keeps its creation time. Info is stored as JSON.
func (a *appStore) PutPushCredential(ctx context.Context, c store.PushCredential) error {
	info, err := metadataJSON(c.Info)
	if err != nil {
		return fmt.Errorf("put push credential %s: encode info: %w", c.Provider, err)
	}
	_, err = a.exec(ctx, `INSERT INTO push_credentials (app_id, `+credentialColumns+`)
		VALUES (?1, ?2, ?3, ?4, ?5, ?6)
		ON CONFLICT (app_id, provider) DO UPDATE SET
			sealed = excluded.sealed, info = excluded.info, updated_at = excluded.updated_at`,
		c.Provider, c.Sealed, info, ms(c.CreatedAt), ms(c.UpdatedAt))
	if err != nil {
		return fmt.Errorf("put push credential %s: %w", c.Provider, translate(err))
	}
	return nil
}

// ListPushCredentials returns the app's credentials, by provider.
func (a *appStore) ListPushCredentials(ctx context.Context) ([]store.PushCredential, error) {
	rows, err := a.query(ctx, `SELECT `+credentialColumns+` FROM push_credentials
		WHERE app_id = ?1 ORDER BY provider`)
	if err != nil {
		return nil, fmt.Errorf("list push credentials: %w", translate(err))
	}
	cs, err := collect(rows, scanCredential)
	if err != nil {
		return nil, fmt.Errorf("list push credentials: %w", err)
	}
	return cs, nil
}

// DeletePushCredential removes the app's credential for provider, or
// returns store.ErrNotFound.
func (a *appStore) DeletePushCredential(ctx context.Context, provider string) error {
	res, err := a.exec(ctx, `DELETE FROM push_credentials WHERE app_id = ?1 AND provider = ?2`, provider)
	if err := mustAffect(res, err); err != nil {
		return fmt.Errorf("delete push credential %s: %w", provider, err)
	}
	return nil
}

func scanCredential(r scanner) (store.PushCredential, error) {
	var c store.PushCredential
	var info string
	var created, updated int64
	if err := r.Scan(&c.Provider, &c.Sealed, &info, &created, &updated); err != nil {
		return c, err
	}
	var err error
	if c.Info, err = parseMetadata(info); err != nil {
		return c, fmt.Errorf("decode info: %w", err)
	}
	c.CreatedAt, c.UpdatedAt = fromMS(created), fromMS(updated)
	return c, nil
}

const pushLogColumns = `id, user_id, conv_id, seq, device_id, provider, status, reason, at`

// AddPushLog records the entries in one transaction, each with one
// statement that inserts it only while its user exists and its id is free:
// a DeleteUser runs wholly before or after the call.
func (a *appStore) AddPushLog(ctx context.Context, es []store.PushLogEntry) error {
	if len(es) == 0 {
		return nil
	}
	err := a.s.inSideTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		st, err := tx.PrepareContext(ctx, `INSERT INTO push_log (app_id, `+pushLogColumns+`)
			SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10
			WHERE EXISTS (SELECT 1 FROM users WHERE app_id = ?1 AND id = ?3)
			ON CONFLICT (app_id, id) DO NOTHING`)
		if err != nil {
			return translate(err)
		}
		defer st.Close()
		for _, e := range es {
			_, err := st.ExecContext(ctx, a.bind([]any{e.ID, e.UserID, e.ConvID, e.Seq, e.DeviceID,
				e.Provider, e.Status, e.Reason, ms(e.At)})...)
			if err != nil {
				return fmt.Errorf("entry %s: %w", e.ID, translate(err))
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("add push log: %w", err)
	}
	return nil
}

// ListPushLog returns up to q.Limit entries with id > q.After, by id, of
// q's user and/or conversation (and message), or of the whole app. Each
// shape of query names the index it walks: without the hint SQLite may
// walk the primary key, all of the app's entries.
func (a *appStore) ListPushLog(ctx context.Context, q store.PushLogQuery) ([]store.PushLogEntry, error) {
	if q.Limit <= 0 {
		return nil, nil // SQLite reads a negative LIMIT as none
	}
	from := `push_log`
	switch {
	case q.ConvID != "":
		from = `push_log INDEXED BY push_log_conv`
	case q.UserID != "":
		from = `push_log INDEXED BY push_log_user`
	}
	where := `app_id = ?1 AND id > ?2`
	args := []any{q.After, q.Limit}
	if q.UserID != "" {
		args = append(args, q.UserID)
		where += fmt.Sprintf(` AND user_id = ?%d`, len(args)+1)
	}
	if q.ConvID != "" {
		args = append(args, q.ConvID)
		where += fmt.Sprintf(` AND conv_id = ?%d`, len(args)+1)
		if q.Seq > 0 {
			args = append(args, q.Seq)
			where += fmt.Sprintf(` AND seq = ?%d`, len(args)+1)
		}
	}
	rows, err := a.query(ctx, `SELECT `+pushLogColumns+` FROM `+from+` WHERE `+where+` ORDER BY id LIMIT ?3`, args...)
	if err != nil {
		return nil, fmt.Errorf("list push log: %w", translate(err))
	}
	es, err := collect(rows, scanPushLog)
	if err != nil {
		return nil, fmt.Errorf("list push log: %w", err)
	}
	return es, nil
}

func scanPushLog(r scanner) (store.PushLogEntry, error) {
	var e store.PushLogEntry
	var at int64
	err := r.Scan(&e.ID, &e.UserID, &e.ConvID, &e.Seq, &e.DeviceID, &e.Provider, &e.Status, &e.Reason, &at)
	e.At = fromMS(at)
	return e, err
}

// GetPushSettings returns a user's push settings, the zero value if it set
// none; store.ErrNotFound if the user does not exist. One query reads both.
func (a *appStore) GetPushSettings(ctx context.Context, userID string) (store.PushSettings, error) {
	var s store.PushSettings
	var disabled sql.NullBool
	var start, end, updated sql.NullInt64
	var zone sql.NullString
	err := a.queryRow(ctx, `SELECT p.disabled, p.dnd_start, p.dnd_end, p.time_zone, p.updated_at
		FROM users AS u
		LEFT JOIN push_settings AS p ON p.app_id = u.app_id AND p.user_id = u.id
		WHERE u.app_id = ?1 AND u.id = ?2`, userID).
		Scan(&disabled, &start, &end, &zone, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return s, fmt.Errorf("get push settings of %s: user: %w", userID, store.ErrNotFound)
	}
	if err != nil {
		return s, fmt.Errorf("get push settings of %s: %w", userID, translate(err))
	}
	s.Disabled, s.DNDStart, s.DNDEnd = disabled.Bool, int(start.Int64), int(end.Int64)
	s.TimeZone, s.UpdatedAt = zone.String, fromMS(updated.Int64)
	return s, nil
}

// PutPushSettings replaces a user's push settings with one statement that
// writes only while the user exists; store.ErrNotFound if it does not.
func (a *appStore) PutPushSettings(ctx context.Context, userID string, s store.PushSettings) error {
	res, err := a.exec(ctx, `INSERT INTO push_settings
		(app_id, user_id, disabled, dnd_start, dnd_end, time_zone, updated_at)
		SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7
		WHERE EXISTS (SELECT 1 FROM users WHERE app_id = ?1 AND id = ?2)
		ON CONFLICT (app_id, user_id) DO UPDATE SET
			disabled = excluded.disabled, dnd_start = excluded.dnd_start, dnd_end = excluded.dnd_end,
			time_zone = excluded.time_zone, updated_at = excluded.updated_at`,
		userID, s.Disabled, s.DNDStart, s.DNDEnd, s.TimeZone, ms(s.UpdatedAt))
	if err := mustAffect(res, err); err != nil {
		return fmt.Errorf("put push settings of %s: %w", userID, err)
	}
	return nil
}

// SetConversationMuted sets or clears the mute flag of the user's entry of
// a conversation; store.ErrNotFound if the user has none.
func (a *appStore) SetConversationMuted(ctx context.Context, userID, convID string, muted bool) error {
	res, err := a.exec(ctx, `UPDATE user_conversations SET muted = ?4
		WHERE app_id = ?1 AND user_id = ?2 AND conv_id = ?3`, userID, convID, muted)
	if err := mustAffect(res, err); err != nil {
		return fmt.Errorf("set conversation %s muted for %s: %w", convID, userID, err)
	}
	return nil
}
