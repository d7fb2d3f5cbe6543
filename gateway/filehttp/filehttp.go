// Package filehttp serves the file routes clients use over HTTP: uploads
// authenticated with the user's client token (POST /v1/client/files, with
// the CORS preflight browsers send first) and downloads through signed
// URLs (GET /v1/files/{id}/content), which need nothing but the URL, so
// that an <img src> works. The signed server API's file routes are in
// package api; the WebSocket frames in package node.
//
// A Server is safe for concurrent use; package gateway registers its
// routes.
package filehttp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/magpie-im/magpie/files"
	"github.com/magpie-im/magpie/gateway/internal/httpx"
	"github.com/magpie-im/magpie/internal/ratelimit"
	"github.com/magpie-im/magpie/internal/store"
	"github.com/magpie-im/magpie/internal/telemetry"
	"github.com/magpie-im/magpie/sdk/go/token"
	"github.com/magpie-im/magpie/tenant"
)

// Config configures a Server.
type Config struct {
	// Files is the files service. Nil answers every route 503
	// files_unavailable.
	Files *files.Service
	// UploadsPerUser is how many uploads per second one user may make,
	// with a burst of ten times that (at least 10). Zero means 2.
	UploadsPerUser float64
	// Limiter keeps the per-user upload limit. Nil means an in-process one
	// on Now.
	Limiter ratelimit.Limiter
	// Metrics counts uploads refused by the rate limit. Nil records
	// nothing.
	Metrics *telemetry.Metrics
	// Now returns the current time. Nil means time.Now.
	Now func() time.Time
	// Logger receives error logs. Nil discards them.
	Logger *slog.Logger
}

// Server serves the client file routes.
type Server struct {
	cfg     Config
	st      store.Store
	tenants *tenant.Service
	files   *files.Service
	limiter ratelimit.Limiter
	log     *slog.Logger
}

// New returns a Server authenticating users against tenants and st.
func New(st store.Store, tenants *tenant.Service, cfg Config) *Server {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.UploadsPerUser == 0 {
		cfg.UploadsPerUser = 2
	}
	s := &Server{cfg: cfg, st: st, tenants: tenants, files: cfg.Files, limiter: cfg.Limiter, log: cfg.Logger}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.limiter == nil {
		s.limiter = ratelimit.NewMemory(s.now)
	}
	return s
}

func (s *Server) now() time.Time { return s.cfg.Now().UTC().Truncate(time.Millisecond) }

// Routes returns the client file routes' entries of the routes table.
func (s *Server) Routes() []httpx.Route {
	r := httpx.NewRoute
	return []httpx.Route{
		r("OPTIONS", "/v1/client/files", "/v1/client/files", []gin.HandlerFunc{s.preflight}),
		r("POST", "/v1/client/files", "/v1/client/files", []gin.HandlerFunc{s.cors, s.needFiles, s.upload}),
		r("GET", "/v1/files/:id/content", "/v1/files/{id}/content", []gin.HandlerFunc{s.needFiles, s.download}),
	}
}

func (s *Server) needFiles(c *gin.Context) {
	if s.files == nil {
		httpx.WriteError(c, httpx.FilesUnavailable())
		return
	}
	c.Next()
}

// Cross-origin uploads: browsers send a preflight first (the request
// carries an Authorization header). Any origin gets the preflight's
// answer; the upload itself is refused unless the app's allowed_origins
// accept the origin (checked once the token names the app), as WebSocket
// logins are. Tokens travel in a header, never in cookies, so answering
// any origin exposes nothing the caller does not already hold.
func (s *Server) preflight(c *gin.Context) {
	s.corsHeaders(c)
	if c.GetHeader("Origin") != "" {
		h := c.Writer.Header()
		h.Set("Access-Control-Allow-Methods", "POST")
		h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, X-Request-Id")
		h.Set("Access-Control-Max-Age", "600")
	}
	c.Status(http.StatusNoContent)
}

func (s *Server) cors(c *gin.Context) {
	s.corsHeaders(c)
	c.Next()
}

func (s *Server) corsHeaders(c *gin.Context) {
	origin := c.GetHeader("Origin")
	h := c.Writer.Header()
	h.Add("Vary", "Origin")
	if origin != "" {
		h.Set("Access-Control-Allow-Origin", origin)
		h.Set("Access-Control-Expose-Headers", "X-Request-Id, Retry-After")
	}
}

// clientUser is a user authenticated by its client token.
type clientUser struct {
	creds  *tenant.Credentials
	userID string
}

// maxClockSkew is how far in the future a token's iat may lie (as at
// WebSocket login).
const maxClockSkew = 60 * time.Second

// authenticate checks the request's client token (Authorization: Bearer)
// as a WebSocket login checks it: signed by an active secret of its app,
// not expired, issued in the past and with a lifetime the app accepts, the
// app enabled and the origin allowed, the user existing, not blocked and
// its tokens not revoked since.
func (s *Server) authenticate(c *gin.Context) (clientUser, *httpx.Error) {
	unauth := func(msg string) *httpx.Error {
		c.Header("WWW-Authenticate", `Bearer realm="magpie"`)
		return httpx.NewError(http.StatusUnauthorized, httpx.CodeUnauthenticated, msg)
	}
	tok, ok := strings.CutPrefix(c.GetHeader("Authorization"), "Bearer ")
	if !ok || tok == "" {
		c.Header("WWW-Authenticate", `Bearer realm="magpie"`)
		return clientUser{}, httpx.NewError(http.StatusUnauthorized, httpx.CodeMissingAuth,
			"the Authorization header must carry the user's client token: Bearer <token>")
	}
	ctx := c.Request.Context()
	appKey, err := token.PeekAppKey(tok)
	if err != nil {
		return clientUser{}, unauth("malformed token")
	}
	creds, err := s.tenants.Resolve(ctx, appKey)
	if errors.Is(err, store.ErrNotFound) {
		return clientUser{}, unauth("unknown app")
	}
	if err != nil {
		return clientUser{}, internal(c, err)
	}
	now := s.now()
	var claims token.Claims
	for _, secret := range creds.Secrets {
		claims, err = token.Parse(tok, appKey, []string{secret}, now)
		if !errors.Is(err, token.ErrSignature) {
			break
		}
	}
	switch {
	case errors.Is(err, token.ErrExpired):
		return clientUser{}, unauth("token expired; get a fresh one")
	case err != nil:
		return clientUser{}, unauth("invalid token")
	case claims.IssuedAt.After(now.Add(maxClockSkew)):
		return clientUser{}, unauth("token issued in the future (iat); check the issuer's clock")
	case claims.ExpiresAt.Sub(claims.IssuedAt) > tenant.MaxTokenLifetime(creds.App):
		return clientUser{}, unauth("token lifetime (exp - iat) exceeds the app's max_token_lifetime_seconds")
	case creds.App.Disabled:
		return clientUser{}, httpx.NewError(http.StatusForbidden, httpx.CodeAppDisabled, "the app is disabled")
	}
	if o := c.GetHeader("Origin"); o != "" && !tenant.OriginAllowed(creds.App.Settings.AllowedOrigins, o) {
		return clientUser{}, httpx.NewError(http.StatusForbidden, httpx.CodeForbidden, "origin not allowed for this app")
	}
	u, err := s.st.App(creds.App.ID).GetUser(ctx, claims.UserID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return clientUser{}, unauth("unknown user")
	case err != nil:
		return clientUser{}, internal(c, err)
	case u.Blocked:
		return clientUser{}, httpx.NewError(http.StatusForbidden, httpx.CodeUserBlocked, "the user is blocked")
	case claims.IssuedAt.Before(u.TokensValidAfter):
		return clientUser{}, unauth("token revoked")
	}
	return clientUser{creds: creds, userID: claims.UserID}, nil
}

func internal(c *gin.Context, err error) *httpx.Error {
	httpx.Logger(c).ErrorContext(c.Request.Context(), "request failed", "err", err)
	return httpx.NewError(http.StatusInternalServerError, httpx.CodeInternal, "internal error")
}

// allowUpload spends one of the user's uploads.
func (s *Server) allowUpload(ctx context.Context, u clientUser) bool {
	burst := max(int(10*s.cfg.UploadsPerUser), 10)
	d, err := s.limiter.Allow(ctx, u.creds.App.ID+":upload:"+u.userID, s.cfg.UploadsPerUser, burst)
	if err != nil {
		s.log.WarnContext(ctx, "rate limiter unavailable; upload allowed", "err", err)
		return true
	}
	if !d.OK {
		s.cfg.Metrics.RateLimited(telemetry.LimitAPI)
	}
	return d.OK
}

// multipartOverhead is what a multipart body may hold beyond the file:
// boundaries, part headers and the small form fields.
const multipartOverhead = 64 << 10

// maxFieldBytes bounds a multipart form field (conv_id, name).
const maxFieldBytes = 1024

// upload serves POST /v1/client/files: the user uploads a file shared to
// a conversation it is a member of. The body is either the file itself
// (Content-Type its type, conv_id and name in the query) or
// multipart/form-data, as a browser's FormData sends it: optional conv_id
// and name fields, then one part named "file" (its filename and
// Content-Type taken). The answer holds the file and a URL for the
// uploader.
func (s *Server) upload(c *gin.Context) {
	u, ae := s.authenticate(c)
	if ae != nil {
		httpx.WriteError(c, ae)
		return
	}
	ctx := c.Request.Context()
	if !s.allowUpload(ctx, u) {
		c.Header("Retry-After", "1")
		httpx.WriteError(c, httpx.NewError(http.StatusTooManyRequests, httpx.CodeRateLimited, "too many uploads; retry after the Retry-After seconds"))
		return
	}
	limit := u.creds.Limits.MaxUploadBytes
	mt, params, _ := mime.ParseMediaType(c.GetHeader("Content-Type"))
	multi := mt == "multipart/form-data"
	overhead := int64(0)
	if multi {
		overhead = multipartOverhead
	}
	if c.Request.ContentLength > limit+overhead {
		httpx.FailFiles(c, tooLarge(limit))
		return
	}
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, limit+overhead)
	httpx.LimitUploadTime(c)
	up := files.Upload{AppID: u.creds.App.ID, UploaderID: u.userID, ConvID: c.Query("conv_id"), Name: c.Query("name"),
		ContentType: c.GetHeader("Content-Type"), Body: c.Request.Body, MaxBytes: limit,
		Types: u.creds.App.Settings.AllowedUploadTypes()}
	if multi {
		if err := multipartUpload(&up, multipart.NewReader(c.Request.Body, params["boundary"]), params["boundary"], limit); err != nil {
			httpx.FailFiles(c, err)
			return
		}
	}
	f, err := s.files.Upload(ctx, up)
	if err != nil {
		httpx.FailFiles(c, err)
		return
	}
	link, err := s.files.URL(ctx, u.creds.App.ID, f, u.userID, 0)
	if err != nil {
		httpx.FailFiles(c, err)
		return
	}
	c.JSON(http.StatusCreated, gin.H{"file": httpx.ToFileJSON(f, link)})
}

func tooLarge(limit int64) *files.Error {
	return &files.Error{Code: files.CodeFileTooLarge,
		Message: "the file exceeds this app's limit of " + strconv.FormatInt(limit, 10) + " bytes (max_upload_bytes)"}
}

func badUpload(format string, args ...any) *files.Error {
	return &files.Error{Code: files.CodeInvalidUpload, Message: fmt.Sprintf(format, args...)}
}

// multipartUpload reads the form fields before the file part into up and
// makes the file part its body. At the file's end the rest of the body
// must be the closing boundary: a second file, or a body cut short, is
// refused before anything is stored.
func multipartUpload(up *files.Upload, mr *multipart.Reader, boundary string, limit int64) error {
	if boundary == "" {
		return badUpload("multipart/form-data needs a boundary parameter")
	}
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return badUpload(`the multipart body has no part named "file"`)
		}
		if err != nil {
			return multipartError(err, limit)
		}
		if p.FormName() == "file" {
			up.Name = p.FileName()
			up.ContentType = p.Header.Get("Content-Type")
			up.Body = p
			up.Complete = func(int64, string) error {
				switch next, err := mr.NextPart(); {
				case errors.Is(err, io.EOF):
					return nil
				case err != nil:
					return multipartError(err, limit)
				default:
					_ = next.Close()
					return badUpload("one file per upload: the multipart body has parts after the file")
				}
			}
			return nil
		}
		v, err := io.ReadAll(io.LimitReader(p, maxFieldBytes+1))
		if err != nil {
			return multipartError(err, limit)
		}
		if len(v) > maxFieldBytes {
			return badUpload("form field %q is longer than %d bytes", p.FormName(), maxFieldBytes)
		}
		switch p.FormName() {
		case "conv_id":
			up.ConvID = string(v)
		case "name":
			up.Name = string(v)
		default:
			return badUpload(`unknown form field %q: send conv_id and name, then the part named "file"`, p.FormName())
		}
	}
}

// multipartError turns a multipart parse error into an invalid_upload
// error, or, past the size limit, file_too_large.
func multipartError(err error, limit int64) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return tooLarge(limit)
	}
	return badUpload("malformed multipart body: %v", err)
}

// download serves GET /v1/files/{id}/content: the file of a signed URL
// (files.Service.Open checks it), with its type, length and name, ranges
// (http.ServeContent), and headers that keep a browser from running it:
// nosniff, a sandboxing Content-Security-Policy, and attachment for
// anything but images. It may be cached privately until the URL expires.
func (s *Server) download(c *gin.Context) {
	c.Header("Access-Control-Allow-Origin", "*")
	c.Header("Referrer-Policy", "no-referrer")
	d, err := s.files.Open(c.Request.Context(), c.Param("id"), c.Request.URL.Query())
	if err != nil {
		httpx.FailFiles(c, err)
		return
	}
	defer d.Content.Close()
	f := d.File
	h := c.Writer.Header()
	h.Set("Content-Type", f.ContentType)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	h.Set("Content-Disposition", disposition(f.ContentType, f.Name))
	h.Set("ETag", `"`+f.SHA256+`"`)
	h.Set("Cache-Control", "private, max-age="+strconv.FormatInt(max(int64(d.ExpiresAt.Sub(s.cfg.Now())/time.Second), 0), 10))
	http.ServeContent(c.Writer, c.Request, "", f.CreatedAt, d.Content)
}

// disposition returns the Content-Disposition of a file: inline for
// images browsers render as images (SVG, a document that may run scripts,
// is an attachment), attachment for everything else, with the name in
// both the ASCII filename (non-ASCII replaced) and, when needed, the
// RFC 5987 filename* form.
func disposition(typ, name string) string {
	kind := "attachment"
	if strings.HasPrefix(typ, "image/") && typ != "image/svg+xml" {
		kind = "inline"
	}
	if v := mime.FormatMediaType(kind, map[string]string{"filename": name}); v != "" {
		return v
	}
	return kind
}
