package push

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
	"unicode/utf8"
)

// QueueOffline is the bus queue of offline notification jobs.
const QueueOffline = "offline"

// JobType is the bus.Job Type of an offline notification job.
const JobType = "push.offline"

// Limits of an offline job body. DecodeOffline refuses bodies beyond them;
// EncodeOffline refuses to write one.
const (
	// MaxJobBytes bounds the encoded body.
	MaxJobBytes = 16 << 10
	// MaxIDBytes bounds the user, conversation and sender ids.
	MaxIDBytes = 256
	// MaxTypeBytes bounds the message type.
	MaxTypeBytes = 64
	// PreviewRunes bounds the preview, in runes.
	PreviewRunes = 100
)

// jobVersion is the version of the body format that this package writes and
// reads. Fields may be added within a version (readers ignore the fields
// they do not know); any other change takes a new version, which older
// workers refuse as malformed (their jobs go to the dead letters, from
// which they can be replayed once every worker is upgraded).
const jobVersion = 1

// ErrMalformed means a job's body or metadata cannot be handled: not JSON,
// an unknown version, a missing or oversized field. It is permanent:
// handling the job again gives the same error.
var ErrMalformed = errors.New("push: malformed job")

// OfflineJob is the body of an offline notification job: the message that
// user UserID has not received on any device. The app is the job's AppID.
type OfflineJob struct {
	UserID   string
	ConvID   string
	Seq      int64
	SenderID string // empty for system messages
	Type     string // the message type
	// Preview is the start of the message's text, at most PreviewRunes
	// runes; empty when there is nothing to show.
	Preview   string
	CreatedAt time.Time // the message's creation time, in milliseconds
}

// offlineWire is the JSON form of an OfflineJob.
type offlineWire struct {
	V           int    `json:"v"`
	UserID      string `json:"user_id"`
	ConvID      string `json:"conv_id"`
	Seq         int64  `json:"seq"`
	SenderID    string `json:"sender_id"`
	Type        string `json:"type"`
	Preview     string `json:"preview"`
	CreatedAtMS int64  `json:"created_at_ms"`
}

// EncodeOffline returns the versioned JSON body of j, or an error wrapping
// ErrMalformed if j breaks a limit (see validate).
func EncodeOffline(j OfflineJob) ([]byte, error) {
	w := offlineWire{
		V: jobVersion, UserID: j.UserID, ConvID: j.ConvID, Seq: j.Seq, SenderID: j.SenderID,
		Type: j.Type, Preview: j.Preview, CreatedAtMS: j.CreatedAt.UnixMilli(),
	}
	if err := w.validate(); err != nil {
		return nil, fmt.Errorf("encode offline job: %w", err)
	}
	return encodeBody("offline job", w)
}

// encodeBody returns the JSON of a job body, refusing one over
// MaxJobBytes.
func encodeBody(what string, v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", what, err)
	}
	if len(b) > MaxJobBytes {
		return nil, fmt.Errorf("encode %s: %w: %d bytes, the limit is %d", what, ErrMalformed, len(b), MaxJobBytes)
	}
	return b, nil
}

// decodeBody decodes a job body, one JSON object of at most MaxJobBytes,
// into v. Every error wraps ErrMalformed.
func decodeBody(what string, b []byte, v any) error {
	if len(b) > MaxJobBytes {
		return fmt.Errorf("decode %s: %w: %d bytes, the limit is %d", what, ErrMalformed, len(b), MaxJobBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("decode %s: %w: %w", what, ErrMalformed, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return fmt.Errorf("decode %s: %w: data after the JSON object", what, ErrMalformed)
	}
	return nil
}

// DecodeOffline parses a body written by EncodeOffline. Every error wraps
// ErrMalformed.
func DecodeOffline(b []byte) (OfflineJob, error) {
	var w offlineWire
	if err := decodeBody("offline job", b, &w); err != nil {
		return OfflineJob{}, err
	}
	if err := w.validate(); err != nil {
		return OfflineJob{}, fmt.Errorf("decode offline job: %w", err)
	}
	return OfflineJob{
		UserID: w.UserID, ConvID: w.ConvID, Seq: w.Seq, SenderID: w.SenderID, Type: w.Type,
		Preview: w.Preview, CreatedAt: time.UnixMilli(w.CreatedAtMS).UTC(),
	}, nil
}

// validate checks the version and the fields: user id, conversation id and
// type present, every string valid UTF-8 and within its limit, seq and
// creation time positive.
func (w offlineWire) validate() error {
	if w.V != jobVersion {
		return fmt.Errorf("%w: version %d, want %d", ErrMalformed, w.V, jobVersion)
	}
	for _, f := range []struct {
		name     string
		v        string
		required bool
		max      int
	}{
		{"user_id", w.UserID, true, MaxIDBytes},
		{"conv_id", w.ConvID, true, MaxIDBytes},
		{"sender_id", w.SenderID, false, MaxIDBytes},
		{"type", w.Type, true, MaxTypeBytes},
		{"preview", w.Preview, false, PreviewRunes * utf8.UTFMax},
	} {
		switch {
		case f.required && f.v == "":
			return fmt.Errorf("%w: %s is empty", ErrMalformed, f.name)
		case len(f.v) > f.max:
			return fmt.Errorf("%w: %s is %d bytes, the limit is %d", ErrMalformed, f.name, len(f.v), f.max)
		case !utf8.ValidString(f.v):
			return fmt.Errorf("%w: %s is not valid UTF-8", ErrMalformed, f.name)
		}
	}
	switch {
	case utf8.RuneCountInString(w.Preview) > PreviewRunes:
		return fmt.Errorf("%w: preview is longer than %d runes", ErrMalformed, PreviewRunes)
	case w.Seq <= 0:
		return fmt.Errorf("%w: seq %d is not positive", ErrMalformed, w.Seq)
	case w.CreatedAtMS <= 0:
		return fmt.Errorf("%w: created_at_ms %d is not positive", ErrMalformed, w.CreatedAtMS)
	}
	return nil
}

// OfflineJobID returns the id of the offline job of message seq of
// conversation convID for user userID of app appID: the same for every
// report of the same message to the same user, and the key of its outbox
// entry. It is "off_" and 32 hex digits of a SHA-256 of the four values.
func OfflineJobID(appID, userID, convID string, seq int64) string {
	h := sha256.New()
	var buf []byte
	for _, s := range []string{appID, userID, convID} {
		buf = binary.AppendUvarint(buf, uint64(len(s)))
		buf = append(buf, s...)
	}
	buf = binary.BigEndian.AppendUint64(buf, uint64(seq))
	h.Write(buf)
	return "off_" + hex.EncodeToString(h.Sum(nil)[:16])
}
