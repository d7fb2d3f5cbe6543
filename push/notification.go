package push

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/magpie-im/magpie/internal/store"
	"github.com/magpie-im/magpie/push/provider"
)

// Options are a message's push options, chosen by its sender (the client
// protocol's Send.push, the server API's "push" object) and stored with the
// message (store.Message.Push, as JSON).
type Options struct {
	// Skip sends no notification for the message.
	Skip bool `json:"skip,omitempty"`
	// Title and Body replace the template's.
	Title string `json:"title,omitempty"`
	Body  string `json:"body,omitempty"`
	// Silent sends a background (data-only) notification.
	Silent bool `json:"silent,omitempty"`
	// CollapseID lets a newer notification replace an older one on the
	// device.
	CollapseID string `json:"collapse_id,omitempty"`
	// Priority is "high" or "normal"; empty means high for an alert,
	// normal for a silent notification.
	Priority string `json:"priority,omitempty"`
	// HideContent leaves the message text out of the notification.
	HideContent bool `json:"hide_content,omitempty"`
	// Data is delivered to the app with the notification.
	Data map[string]string `json:"data,omitempty"`
}

// Limits of push options.
const (
	MaxOptionsBytes = 2048
	maxTitleRunes   = 100
	maxBodyRunes    = 500
	maxDataKeys     = 16
)

var collapseRe = regexp.MustCompile(`^[\x21-\x7e]{1,64}$`)

// reservedData are the data keys every notification carries.
var reservedData = []string{"conv_id", "seq", "sender_id", "type"}

// ParseOptions decodes and checks push options (nil or empty b: none).
// Errors are *ValidationError with Field relative to the options object.
func ParseOptions(b []byte) (Options, error) {
	var o Options
	if len(bytes.TrimSpace(b)) == 0 || string(bytes.TrimSpace(b)) == "null" {
		return o, nil
	}
	if len(b) > MaxOptionsBytes {
		return o, invalid("push", fmt.Sprintf("at most %d bytes of JSON", MaxOptionsBytes))
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&o); err != nil {
		return o, invalid("push", "must be an object with title, body, silent, collapse_id, priority, hide_content, data and skip: "+err.Error())
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return o, invalid("push", "data after the JSON object")
	}
	return o, o.Validate()
}

// Validate checks the options against their limits; errors are
// *ValidationError.
func (o Options) Validate() error {
	switch {
	case !utf8.ValidString(o.Title) || utf8.RuneCountInString(o.Title) > maxTitleRunes:
		return invalid("push.title", fmt.Sprintf("at most %d characters", maxTitleRunes))
	case !utf8.ValidString(o.Body) || utf8.RuneCountInString(o.Body) > maxBodyRunes:
		return invalid("push.body", fmt.Sprintf("at most %d characters", maxBodyRunes))
	case o.CollapseID != "" && !collapseRe.MatchString(o.CollapseID):
		return invalid("push.collapse_id", "1 to 64 printable ASCII characters")
	case o.Priority != "" && o.Priority != provider.PriorityHigh && o.Priority != provider.PriorityNormal:
		return invalid("push.priority", `must be "high" or "normal"`)
	case len(o.Data) > maxDataKeys:
		return invalid("push.data", fmt.Sprintf("at most %d keys", maxDataKeys))
	}
	for k, v := range o.Data {
		switch {
		case k == "" || len(k) > 64 || !utf8.ValidString(k) || strings.HasPrefix(k, "magpie"):
			return invalid("push.data", fmt.Sprintf("key %q: 1 to 64 bytes, not starting with \"magpie\"", k))
		case isReserved(k):
			return invalid("push.data", fmt.Sprintf("key %q is reserved: every notification carries %s", k, strings.Join(reservedData, ", ")))
		case !utf8.ValidString(v):
			return invalid("push.data", fmt.Sprintf("value of %q is not valid UTF-8", k))
		}
	}
	return nil
}

func isReserved(k string) bool {
	for _, r := range reservedData {
		if k == r {
			return true
		}
	}
	return false
}

// Encode returns the stored form of o: nil when o is the zero value.
func (o Options) Encode() []byte {
	if o.isZero() {
		return nil
	}
	b, err := json.Marshal(o)
	if err != nil {
		panic(fmt.Sprintf("push: encode options: %v", err)) // strings and bools only
	}
	return b
}

func (o Options) isZero() bool {
	return !o.Skip && o.Title == "" && o.Body == "" && !o.Silent && o.CollapseID == "" &&
		o.Priority == "" && !o.HideContent && len(o.Data) == 0
}

// Content is what a notification is made of, besides the app's settings.
type Content struct {
	// ID identifies the notification to the provider.
	ID         string
	ConvID     string
	Seq        int64
	SenderID   string
	SenderName string // the sender's profile name; empty means its id
	Type       string // the message type
	Preview    string // the start of a text message's text
	Locale     string // the device's locale
	Badge      int
	Options    Options
}

// Render returns the notification of c under the app's settings.
//
// Title and body come from the message's options if set, else from the
// app's template for the message type and the device's locale, else from
// the default: the sender's name, and the text of a text message or
// "[type]" for another type. A template is chosen by the best match, in
// this order: type and locale, type and the locale's language ("zh" for
// "zh-Hans-CN"), type alone (a template without locale), then the same
// three for type "*". In a template, {sender} is the sender's name,
// {preview} the message text (empty when content is hidden) and {type}
// the message type. With content hidden (the app's or the message's
// hide_content), the default body is "New message".
func Render(app store.AppPush, c Content) provider.Notification {
	hide := app.HideContent || c.Options.HideContent
	sender := c.SenderName
	if sender == "" {
		sender = c.SenderID
	}
	preview := c.Preview
	if hide {
		preview = ""
	}
	title, body := sender, preview
	switch {
	case hide:
		body = "New message"
	case c.Type != "text":
		body = "[" + c.Type + "]"
	}
	if t, ok := pickTemplate(app.Templates, c.Type, c.Locale); ok {
		expand := strings.NewReplacer("{sender}", sender, "{preview}", preview, "{type}", c.Type).Replace
		if t.Title != "" {
			title = expand(t.Title)
		}
		if t.Body != "" {
			body = expand(t.Body)
		}
	}
	if c.Options.Title != "" {
		title = c.Options.Title
	}
	if c.Options.Body != "" {
		body = c.Options.Body
	}
	badge := c.Badge
	n := provider.Notification{
		ID: c.ID, Title: title, Body: body, Badge: &badge, Silent: c.Options.Silent,
		CollapseID: c.Options.CollapseID, ThreadID: c.ConvID, Priority: c.Options.Priority,
		MutableContent: !c.Options.Silent,
		Data:           map[string]string{"conv_id": c.ConvID, "seq": strconv.FormatInt(c.Seq, 10), "sender_id": c.SenderID, "type": c.Type},
	}
	if n.Silent {
		n.Title, n.Body = "", ""
	}
	for k, v := range c.Options.Data {
		n.Data[k] = v
	}
	return n
}

// pickTemplate returns the template that best matches a message type and
// a locale; see Render.
func pickTemplate(ts []store.PushTemplate, msgType, locale string) (store.PushTemplate, bool) {
	lang, _, _ := strings.Cut(strings.ReplaceAll(locale, "_", "-"), "-")
	for _, typ := range []string{msgType, "*"} {
		for _, loc := range []string{locale, lang, ""} {
			for _, t := range ts {
				if t.Type == typ && strings.EqualFold(t.Locale, loc) {
					return t, true
				}
			}
			if loc == "" {
				break
			}
		}
	}
	return store.PushTemplate{}, false
}
