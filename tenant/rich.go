package tenant

import (
	"fmt"

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
