package webhook

import (
	"strconv"

	"github.com/magpie-im/magpie/internal/store"
)

// MessageEdited reports a message its sender edited (message.edited); it
// implements messaging.EditEvents. Each edit is its own event.
func (e *Emitter) MessageEdited(appID string, m store.Message, members []string) {
	if e.Wants(appID, EventMessageEdited) {
		key := m.ConvID + ":" + strconv.FormatInt(m.Seq, 10) + "@" + strconv.FormatInt(m.EditedAt.UnixMilli(), 10)
		d := messageData(m, members)
		at := m.EditedAt
		d.EditedAt = &at
		e.Emit(appID, NewEvent(appID, EventMessageEdited, key, m.EditedAt, d))
	}
}
