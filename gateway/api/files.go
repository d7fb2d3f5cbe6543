package api

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/magpie-im/magpie/files"
	"github.com/magpie-im/magpie/gateway/internal/httpx"
	"github.com/magpie-im/magpie/internal/store"
	"github.com/magpie-im/magpie/sdk/go/signing"
	"github.com/magpie-im/magpie/users"
)

// needFiles answers the file routes 503 when the gateway has no file
// storage.
func (s *Server) needFiles(c *gin.Context) {
	if s.cfg.Files == nil {
		httpx.WriteError(c, httpx.FilesUnavailable())
		return
	}
	c.Next()
}

// uploadFile serves POST /v1/files: the app's backend uploads a file, the
// request body being the file itself (its Content-Type the file's), shared
// to the conversation conv_id, on behalf of user_id if given.
//
// The body is streamed, not held in memory, so the signature, whose body
// hash covers the whole file, can only be checked at its end: the headers,
// timestamp and size are checked first, then the content is streamed into
// the blob store while hashed, and at its end (before it is stored) the
// signature, the nonce, the rate limit and, with user_id, the user and its
// membership; any refusal there stores nothing. Until the signature has
// been checked the request learns nothing of the app's users and
// conversations.
func (s *Server) uploadFile(c *gin.Context) {
	key := c.GetHeader(signing.HeaderAppKey)
	ts, nonce, sig := c.GetHeader(signing.HeaderTimestamp), c.GetHeader(signing.HeaderNonce), c.GetHeader(signing.HeaderSignature)
	if key == "" || ts == "" || nonce == "" || sig == "" {
		httpx.WriteError(c, httpx.NewError(http.StatusUnauthorized, httpx.CodeMissingAuth,
			"the X-Magpie-App-Key, X-Magpie-Timestamp, X-Magpie-Nonce and X-Magpie-Signature headers are required"))
		return
	}
	ctx := c.Request.Context()
	creds, err := s.tenants.Resolve(ctx, key)
	if err != nil {
		failResolve(c, err)
		return
	}
	if ae := s.checkWindow(ts, nonce); ae != nil {
		httpx.WriteError(c, ae)
		return
	}
	limit := creds.Limits.MaxUploadBytes
	if c.Request.ContentLength > limit {
		httpx.FailFiles(c, &files.Error{Code: files.CodeFileTooLarge,
			Message: "the file exceeds this app's limit of " + strconv.FormatInt(limit, 10) + " bytes (max_upload_bytes)"})
		return
	}
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, limit)
	httpx.LimitUploadTime(c)
	userID := c.Query("user_id")
	complete := func(_ int64, sum string) error {
		if ae := s.verifySignature(c, creds, ts, nonce, sig, sum); ae != nil {
			return ae
		}
		if creds.App.Disabled {
			return httpx.NewError(http.StatusForbidden, httpx.CodeAppDisabled, "the app is disabled")
		}
		httpx.SetCreds(c, creds)
		if ae := s.spendNonce(c); ae != nil {
			return ae
		}
		if ae := s.allowAPI(c); ae != nil {
			return ae
		}
		if userID != "" {
			if _, err := s.users.Get(ctx, creds.App.ID, userID); err != nil {
				return userError(err)
			}
		}
		return nil
	}
	f, err := s.cfg.Files.Upload(ctx, files.Upload{
		AppID: creds.App.ID, UploaderID: userID, ConvID: c.Query("conv_id"), Name: c.Query("name"),
		ContentType: c.GetHeader("Content-Type"), Body: c.Request.Body, MaxBytes: limit,
		Types: creds.App.Settings.AllowedUploadTypes(), Complete: complete,
	})
	if err != nil {
		httpx.FailFiles(c, err)
		return
	}
	u, err := s.cfg.Files.URL(ctx, creds.App.ID, f, "", 0)
	if err != nil {
		httpx.FailFiles(c, err)
		return
	}
	c.JSON(http.StatusCreated, gin.H{"file": httpx.ToFileJSON(f, u)})
}

// failResolve answers a request whose app key could not be resolved.
func failResolve(c *gin.Context, err error) {
	if errors.Is(err, store.ErrNotFound) {
		httpx.WriteError(c, httpx.NewError(http.StatusUnauthorized, httpx.CodeUnknownAppKey, "unknown app key"))
		return
	}
	httpx.Fail(c, err)
}

// userError translates the users service's errors into API errors.
func userError(err error) error {
	var ve *users.ValidationError
	switch {
	case errors.Is(err, users.ErrNotFound):
		return httpx.NewError(http.StatusNotFound, httpx.CodeUserNotFound, "no user with this id")
	case errors.As(err, &ve):
		return httpx.FieldError("user_id", ve.Reason)
	}
	return err
}

// getFile serves GET /v1/files/{id}: the file and a signed URL, valid for
// ttl_seconds (default 3600, at most 604800) and, with user_id, only while
// that user may read the file.
func (s *Server) getFile(c *gin.Context) {
	appID := httpx.Creds(c).App.ID
	ctx := c.Request.Context()
	ttl, ae := ttlParam(c)
	if ae != nil {
		httpx.WriteError(c, ae)
		return
	}
	f, err := s.cfg.Files.Get(ctx, appID, c.Param("id"))
	if err != nil {
		httpx.FailFiles(c, err)
		return
	}
	u, err := s.cfg.Files.URL(ctx, appID, f, c.Query("user_id"), ttl)
	if err != nil {
		httpx.FailFiles(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"file": httpx.ToFileJSON(f, u)})
}

// ttlParam reads ttl_seconds (0 when absent).
func ttlParam(c *gin.Context) (time.Duration, *httpx.Error) {
	n, ae := httpx.Int64Param(c, "ttl_seconds")
	if ae != nil {
		return 0, ae
	}
	if n > int64(files.MaxURLTTL/time.Second) {
		return 0, httpx.FieldError("ttl_seconds", "must be 1 to 604800 (7 days), or 0 for 3600")
	}
	return time.Duration(n) * time.Second, nil
}

// deleteFile serves DELETE /v1/files/{id}.
func (s *Server) deleteFile(c *gin.Context) {
	if err := s.cfg.Files.Delete(c.Request.Context(), httpx.Creds(c).App.ID, c.Param("id"), ""); err != nil {
		httpx.FailFiles(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// listFiles serves GET /v1/files: a page of the app's files, of one
// conversation (conv_id) and/or one uploader (uploader_id), by id.
func (s *Server) listFiles(c *gin.Context) {
	limit, after, ae := httpx.PageParams(c)
	if ae != nil {
		httpx.WriteError(c, ae)
		return
	}
	fs, err := s.cfg.Files.List(c.Request.Context(), httpx.Creds(c).App.ID, store.FileQuery{
		ConvID: c.Query("conv_id"), UploaderID: c.Query("uploader_id"), After: after, Limit: limit + 1})
	if err != nil {
		httpx.Fail(c, err)
		return
	}
	fs, next := httpx.TrimPage(fs, limit, func(f store.File) string { return f.ID })
	out := make([]httpx.FileJSON, len(fs))
	for i, f := range fs {
		out[i] = httpx.ToFileJSON(f, files.SignedURL{})
	}
	c.JSON(http.StatusOK, gin.H{"files": out, "next_cursor": next})
}
