package node

import (
	"context"
	"errors"
	"time"

	"github.com/magpie-im/magpie/files"
	"github.com/magpie-im/magpie/sdk/go/wire"
	magpiev1 "github.com/magpie-im/magpie/sdk/proto/magpie/v1"
)

// fileFrame serves a file frame of the logged-in user (a fresh download
// URL, a deletion), in frame order.
func (c *conn) fileFrame(ctx context.Context, id uint64, f *magpiev1.Frame) {
	fs := c.srv.cfg.Files
	if fs == nil {
		c.reply(wire.ErrorFrame(id, wire.CodeUnavailable, "file uploads are not configured on this server"))
		return
	}
	switch b := f.GetBody().(type) {
	case *magpiev1.Frame_GetFileUrl:
		r := b.GetFileUrl
		if r.GetTtlSeconds() < 0 || r.GetTtlSeconds() > int64(files.MaxURLTTL/time.Second) {
			c.reply(wire.ErrorFrame(id, wire.CodeInvalidArgument, "ttl_seconds must be 1 to 604800 (7 days), or 0 for 3600"))
			return
		}
		file, err := fs.Get(ctx, c.appID, r.GetFileId())
		if err != nil {
			c.reply(c.fileError(id, err))
			return
		}
		u, err := fs.URL(ctx, c.appID, file, c.userID, time.Duration(r.GetTtlSeconds())*time.Second)
		if err != nil {
			c.reply(c.fileError(id, err))
			return
		}
		c.reply(&magpiev1.Frame{Id: id, Body: &magpiev1.Frame_FileLink{FileLink: &magpiev1.FileLink{
			FileId: file.ID, ConvId: file.ConvID, UploaderId: file.UploaderID, Name: file.Name,
			ContentType: file.ContentType, Size: file.Size, Sha256: file.SHA256, CreatedAtMs: file.CreatedAt.UnixMilli(),
			Url: u.URL, UrlExpiresAtMs: u.ExpiresAt.UnixMilli(),
		}}})
	case *magpiev1.Frame_DeleteFile:
		if err := fs.Delete(ctx, c.appID, b.DeleteFile.GetFileId(), c.userID); err != nil {
			c.reply(c.fileError(id, err))
			return
		}
		c.reply(ok(id))
	}
}

// fileError is the Error frame of a failed file frame.
func (c *conn) fileError(id uint64, err error) *magpiev1.Frame {
	var fe *files.Error
	if errors.As(err, &fe) {
		return wire.ErrorFrame(id, fe.Code, fe.Message)
	}
	return c.errorFrame(id, err)
}
