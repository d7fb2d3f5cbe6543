package node

import (
	"context"
	"errors"

	"github.com/magpie-im/magpie/internal/store"
	"github.com/magpie-im/magpie/push"
	"github.com/magpie-im/magpie/sdk/go/wire"
	magpiev1 "github.com/magpie-im/magpie/sdk/proto/magpie/v1"
)

// pushFrame serves a push frame of the logged-in user: the device's push
// registration (the device is the login's device id), the user's push
// settings, a conversation's mute.
func (c *conn) pushFrame(ctx context.Context, id uint64, f *magpiev1.Frame) {
	svc := c.srv.cfg.Push
	if svc == nil {
		c.reply(wire.ErrorFrame(id, wire.CodeUnavailable, "push is not available on this server"))
		return
	}
	var err error
	switch b := f.GetBody().(type) {
	case *magpiev1.Frame_RegisterDevice:
		r := b.RegisterDevice
		_, err = svc.RegisterDevice(ctx, c.appID, c.userID, c.deviceID, push.Registration{
			Platform: r.GetPlatform(), Provider: r.GetProvider(), Token: r.GetToken(), Topic: r.GetTopic(),
			Environment: r.GetEnvironment(), Locale: r.GetLocale(), TimeZone: r.GetTimeZone(),
		})
	case *magpiev1.Frame_UnregisterDevice:
		if err = svc.UnregisterDevice(ctx, c.appID, c.userID, c.deviceID); errors.Is(err, push.ErrNotFound) {
			err = nil // nothing registered: done
		}
	case *magpiev1.Frame_SetPushSettings:
		s := b.SetPushSettings
		_, err = svc.SetSettings(ctx, c.appID, c.userID, store.PushSettings{
			Disabled: s.GetDisabled(), DNDStart: int(s.GetDndStart()), DNDEnd: int(s.GetDndEnd()), TimeZone: s.GetTimeZone(),
		})
	case *magpiev1.Frame_MuteConversation:
		m := b.MuteConversation
		err = svc.MuteConversation(ctx, c.appID, c.userID, m.GetConvId(), m.GetMuted())
	}
	c.replyResult(id, ok(id), err)
}

// pushOptions converts a Send's push options, checked as the server API
// checks them.
func pushOptions(o *magpiev1.PushOptions) (push.Options, error) {
	if o == nil {
		return push.Options{}, nil
	}
	opts := push.Options{
		Skip: o.GetSkip(), Title: o.GetTitle(), Body: o.GetBody(), Silent: o.GetSilent(),
		CollapseID: o.GetCollapseId(), Priority: o.GetPriority(), HideContent: o.GetHideContent(), Data: o.GetData(),
	}
	return opts, opts.Validate()
}
