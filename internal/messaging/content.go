package messaging

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
)

// Typed message contents. Besides "text" (any UTF-8) and "custom" (any JSON
// document), a message may carry one of the typed contents below: a JSON
// object whose fields the server checks. Fields the server does not know
// are allowed and kept as sent (clients may add their own, such as a blur
// hash), so that a newer client's fields survive an older server.
const (
	TypeText     = "text"
	TypeCustom   = "custom"
	TypeImage    = "image"
	TypeFile     = "file"
	TypeAudio    = "audio"
	TypeVideo    = "video"
	TypeLocation = "location"
)

// MaxURLBytes bounds a URL of a typed content.
const MaxURLBytes = 2048

// FileRefScheme prefixes a reference to a file uploaded to Magpie
// ("magpie-file:f_…", see package files): the file must exist in the app
// and be shared to the message's conversation (checked when the message is
// sent); clients get a download URL for it with GetFileUrl.
const FileRefScheme = "magpie-file:"

// typedContents are the typed contents and their checks.
var typedContents = map[string]func(map[string]json.RawMessage) *Error{
	TypeImage: func(f map[string]json.RawMessage) *Error {
		return firstErr(urlField(f, "url", true), intField(f, "width", true, 1), intField(f, "height", true, 1),
			intField(f, "size", true, 0), mimeField(f), urlField(f, "thumbnail_url", false))
	},
	TypeFile: func(f map[string]json.RawMessage) *Error {
		return firstErr(urlField(f, "url", true), stringField(f, "name", true, 1, 255), intField(f, "size", true, 0), mimeField(f))
	},
	TypeAudio: func(f map[string]json.RawMessage) *Error {
		return firstErr(urlField(f, "url", true), intField(f, "duration_ms", true, 0), intField(f, "size", true, 0), mimeField(f))
	},
	TypeVideo: func(f map[string]json.RawMessage) *Error {
		return firstErr(urlField(f, "url", true), intField(f, "duration_ms", true, 0), intField(f, "width", false, 1),
			intField(f, "height", false, 1), intField(f, "size", true, 0), mimeField(f), urlField(f, "thumbnail_url", false))
	},
	TypeLocation: func(f map[string]json.RawMessage) *Error {
		return firstErr(floatField(f, "latitude", -90, 90), floatField(f, "longitude", -180, 180),
			stringField(f, "name", false, 0, 256), stringField(f, "address", false, 0, 1024))
	},
}

// IsTypedContent reports whether typ is one of the typed contents (image,
// file, audio, video, location).
func IsTypedContent(typ string) bool { return typedContents[typ] != nil }

// validTyped checks the JSON content of a typed message.
func validTyped(typ, content string) *Error {
	check := typedContents[typ]
	if check == nil {
		return nil
	}
	var f map[string]json.RawMessage
	d := json.NewDecoder(strings.NewReader(content))
	if err := d.Decode(&f); err != nil || f == nil || d.More() {
		return errorf("invalid_message", "%s content must be a JSON object", typ)
	}
	if e := check(f); e != nil {
		e.Message = typ + " content: " + e.Message
		return e
	}
	return nil
}

func firstErr(errs ...*Error) *Error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

// present reports whether field name is set (JSON null counts as unset).
func present(f map[string]json.RawMessage, name string) (json.RawMessage, bool) {
	v, ok := f[name]
	if !ok || bytes.Equal(v, []byte("null")) {
		return nil, false
	}
	return v, true
}

func stringField(f map[string]json.RawMessage, name string, required bool, minLen, maxLen int) *Error {
	v, ok := present(f, name)
	if !ok {
		if required {
			return errorf("invalid_message", "%s is required", name)
		}
		return nil
	}
	var s string
	if json.Unmarshal(v, &s) != nil {
		return errorf("invalid_message", "%s must be a string", name)
	}
	if len(s) < minLen || len(s) > maxLen {
		return errorf("invalid_message", "%s must be %d-%d bytes", name, minLen, maxLen)
	}
	return nil
}

func urlField(f map[string]json.RawMessage, name string, required bool) *Error {
	if e := stringField(f, name, required, 1, MaxURLBytes); e != nil {
		return e
	}
	v, ok := present(f, name)
	if !ok {
		return nil
	}
	var s string
	_ = json.Unmarshal(v, &s)
	if !validURL(s) {
		return errorf("invalid_message", "%s must be an http(s) URL or a %s reference", name, FileRefScheme)
	}
	return nil
}

// validURL accepts http:// and https:// URLs with a host, and magpie-file:
// references with a non-empty name; no whitespace or control characters.
func validURL(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] == 0x7f {
			return false
		}
	}
	lower := strings.ToLower(s)
	switch {
	case strings.HasPrefix(lower, "https://"):
		s = s[len("https://"):]
	case strings.HasPrefix(lower, "http://"):
		s = s[len("http://"):]
	case strings.HasPrefix(lower, FileRefScheme):
		return len(s) > len(FileRefScheme)
	default:
		return false
	}
	host, _, _ := strings.Cut(s, "/")
	return host != "" && host[0] != '?' && host[0] != '#'
}

func mimeField(f map[string]json.RawMessage) *Error {
	if e := stringField(f, "mime", true, 3, 255); e != nil {
		return e
	}
	var s string
	v, _ := present(f, "mime")
	_ = json.Unmarshal(v, &s)
	if typ, sub, ok := strings.Cut(s, "/"); !ok || typ == "" || sub == "" || strings.ContainsAny(s, " \t\r\n") {
		return errorf("invalid_message", "mime must be a media type such as image/png")
	}
	return nil
}

// intField checks an integer field at least minV (up to 2^53, exact in
// every JSON client).
func intField(f map[string]json.RawMessage, name string, required bool, minV int64) *Error {
	v, ok := present(f, name)
	if !ok {
		if required {
			return errorf("invalid_message", "%s is required", name)
		}
		return nil
	}
	var n int64
	if json.Unmarshal(v, &n) != nil || n < minV || n > 1<<53 {
		return errorf("invalid_message", "%s must be an integer of at least %d", name, minV)
	}
	return nil
}

func floatField(f map[string]json.RawMessage, name string, minV, maxV float64) *Error {
	v, ok := present(f, name)
	if !ok {
		return errorf("invalid_message", "%s is required", name)
	}
	var x float64
	if json.Unmarshal(v, &x) != nil || math.IsNaN(x) || x < minV || x > maxV {
		return errorf("invalid_message", "%s must be a number in [%g, %g]", name, minV, maxV)
	}
	return nil
}
