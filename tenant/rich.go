package tenant

import (
	"fmt"
	"strings"

	"github.com/magpie-im/magpie/internal/store"
)

// validateRichSettings checks the windows of sender recall and edit: absent
// (the default), or 0 (disabled) to 86400 seconds.
func validateRichSettings(st store.Settings) error {
	for _, w := range []struct {
		field string
		v     *int64
	}{{"settings.recall_window_seconds", st.RecallWindowSeconds}, {"settings.edit_window_seconds", st.EditWindowSeconds}} {
		if w.v != nil && (*w.v < 0 || *w.v > store.MaxRichWindowSeconds) {
			return invalid(w.field, fmt.Sprintf("must be 0 (disabled) to %d", store.MaxRichWindowSeconds))
		}
	}
	return nil
}

// validateUploadTypes checks the media type patterns of uploads: at most
// 100, each "type/subtype", "type/*" or "*/*" of at most 127 characters of
// [a-z0-9!#$&^_.+-] (RFC 6838, lower case).
func validateUploadTypes(ps []string) error {
	if len(ps) > 100 {
		return invalid("settings.upload_types", "at most 100 media types")
	}
	for _, p := range ps {
		major, minor, ok := strings.Cut(p, "/")
		if !ok || len(p) > 127 || !mediaToken(major) || !mediaToken(minor) || (major == "*" && minor != "*") {
			return invalid("settings.upload_types",
				fmt.Sprintf(`%q is not a media type pattern: use "type/subtype", "type/*" or "*/*", in lower case`, p))
		}
	}
	return nil
}

// mediaToken reports whether s is "*" or a lower-case media type name.
func mediaToken(s string) bool {
	if s == "*" {
		return true
	}
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9', strings.IndexByte("!#$&^_.+-", c) >= 0:
		default:
			return false
		}
	}
	return true
}
