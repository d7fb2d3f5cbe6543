package httpx

// What the server API (package api) and the client file routes (package
// filehttp) share about files: their JSON shape and the translation of the
// files service's errors.

import (
	"errors"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/magpie-im/magpie/files"
	"github.com/magpie-im/magpie/internal/store"
)

// CodeFilesUnavailable answers the file routes of a gateway without file
// storage.
const CodeFilesUnavailable = "files_unavailable"

// UploadTimeout bounds the reading of an upload's body, so that a client
// trickling bytes cannot hold a connection and a temporary file for ever:
// 20 MiB in 15 minutes is 23 kB/s.
const UploadTimeout = 15 * time.Minute

// LimitUploadTime sets the deadline of reading the request's body to
// UploadTimeout from now (the server resets it for the connection's next
// request).
func LimitUploadTime(c *gin.Context) {
	_ = http.NewResponseController(c.Writer).SetReadDeadline(time.Now().Add(UploadTimeout)) // unsupported: no deadline
}

// FileJSON is a file as the APIs show it, with a signed URL when one was
// made.
type FileJSON struct {
	ID           string     `json:"id"`
	ConvID       string     `json:"conv_id"`
	UploaderID   string     `json:"uploader_id"`
	Name         string     `json:"name"`
	ContentType  string     `json:"content_type"`
	Size         int64      `json:"size"`
	SHA256       string     `json:"sha256"`
	CreatedAt    time.Time  `json:"created_at"`
	URL          string     `json:"url,omitempty"`
	URLExpiresAt *time.Time `json:"url_expires_at,omitempty"`
}

// ToFileJSON returns f as the APIs show it, with u if it has a URL.
func ToFileJSON(f store.File, u files.SignedURL) FileJSON {
	out := FileJSON{ID: f.ID, ConvID: f.ConvID, UploaderID: f.UploaderID, Name: f.Name, ContentType: f.ContentType,
		Size: f.Size, SHA256: f.SHA256, CreatedAt: f.CreatedAt}
	if u.URL != "" {
		out.URL = u.URL
		exp := u.ExpiresAt
		out.URLExpiresAt = &exp
	}
	return out
}

// FilesUnavailable is the error of the file routes when the gateway has
// no file storage.
func FilesUnavailable() *Error {
	return NewError(http.StatusServiceUnavailable, CodeFilesUnavailable,
		"file uploads are not configured on this server (magpie gateway --files-dir)")
}

// FailFiles translates the files service's errors (and API errors passed
// through it) into API errors.
func FailFiles(c *gin.Context, err error) {
	var fe *files.Error
	var ae *Error
	switch {
	case errors.As(err, &ae):
		WriteError(c, ae)
	case errors.As(err, &fe):
		status := http.StatusBadRequest
		code := fe.Code
		switch fe.Code {
		case files.CodeFileTooLarge:
			status = http.StatusRequestEntityTooLarge
		case files.CodeUnsupportedType, files.CodeTypeMismatch:
			status = http.StatusUnsupportedMediaType
		case files.CodeForbidden, files.CodeURLExpired, files.CodeBadURLSignature, files.CodeAppDisabled:
			status = http.StatusForbidden
		case files.CodeFileNotFound:
			status = http.StatusNotFound
		case files.CodeInvalidArgument:
			code = CodeValidation
		}
		WriteError(c, &Error{Status: status, Code: code, Message: fe.Message, Field: fe.Field})
	default:
		Fail(c, err)
	}
}
