package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/magpie-im/magpie/sdk/go/wire"
	magpiev1 "github.com/magpie-im/magpie/sdk/proto/magpie/v1"
)

// FileRefScheme prefixes the reference to an uploaded file in the url or
// thumbnail_url of an image, file, audio or video content.
const FileRefScheme = "magpie-file:"

// FileRef returns the reference to the uploaded file id for a typed
// content's URL: ImageContent{URL: FileRef(f.ID), ...}.
func FileRef(id string) string { return FileRefScheme + id }

// FileID returns the id of the uploaded file a content URL references, and
// whether it references one.
func FileID(contentURL string) (string, bool) {
	if len(contentURL) > len(FileRefScheme) && strings.EqualFold(contentURL[:len(FileRefScheme)], FileRefScheme) {
		return contentURL[len(FileRefScheme):], true
	}
	return "", false
}

// File is an uploaded file, with a download URL when one was made.
type File struct {
	ID string
	// ConvID is the conversation the file is shared to; only its members
	// get URLs, and only its messages may reference it.
	ConvID string
	// UploaderID is the user who uploaded it; empty if the app's backend
	// did.
	UploaderID  string
	Name        string
	ContentType string
	Size        int64
	// SHA256 is the hex SHA-256 of the content.
	SHA256    string
	CreatedAt time.Time
	// URL downloads the file with a plain GET (no token needed: it works
	// in an <img src>), until URLExpiresAt and while the user may read
	// the file. It is absolute: resolved against Config.URL when the
	// server answers a relative one.
	URL          string
	URLExpiresAt time.Time
}

// FileUpload is a file to upload.
type FileUpload struct {
	// ConvID is the conversation the file is shared to: one the user is a
	// member of, or the one-to-one conversation with another user
	// (ConvIDWith) even before its first message. Required.
	ConvID string
	// Name is the file's name, shown when it is saved.
	Name string
	// ContentType is the file's media type. Empty means the type of the
	// name's extension, or else the server decides from the content.
	ContentType string
	// Body is the content. When it is an io.Seeker (a *os.File, a
	// *bytes.Reader) an upload refused for an expired token is sent again
	// with a fresh one.
	Body io.Reader
	// Size is the content's length in bytes, if known (zero: unknown,
	// unless Body is a *bytes.Reader, *bytes.Buffer or *strings.Reader).
	// A known size lets the server refuse a file over the limit before it
	// is sent.
	Size int64
}

// ConvIDWith returns the id of the user's one-to-one conversation with
// peer, for FileUpload.ConvID.
func (c *Client) ConvIDWith(peer string) string {
	a, b := c.me(), peer
	if b < a {
		a, b = b, a
	}
	return "p:" + a + ":" + b
}

// UploadFile uploads a file over HTTP (POST <URL>/v1/client/files), with a
// token from the TokenProvider, and returns it with a URL for the user.
// Reference it in a message with FileRef(file.ID). It does not need a
// connection, only a user: call it once the client has logged in (for
// ConvIDWith) or with an explicit ConvID.
//
// Errors from the server are *Error with Status set: file_too_large (the
// app's max_upload_bytes, 20 MiB by default), unsupported_file_type,
// file_type_mismatch, empty_file, forbidden (not a member of the
// conversation), rate_limited (Retryable), files_unavailable.
func (c *Client) UploadFile(ctx context.Context, up FileUpload) (File, error) {
	if up.ConvID == "" {
		return File{}, errors.New("magpie: UploadFile: ConvID is required")
	}
	if up.Body == nil {
		return File{}, errors.New("magpie: UploadFile: Body is required")
	}
	base, err := httpBase(c.cfg.URL)
	if err != nil {
		return File{}, err
	}
	typ := up.ContentType
	if typ == "" {
		typ = mime.TypeByExtension(strings.ToLower(path.Ext(up.Name)))
	}
	q := url.Values{}
	q.Set("conv_id", up.ConvID)
	if up.Name != "" {
		q.Set("name", up.Name)
	}
	target := base + "/v1/client/files?" + q.Encode()
	seeker, canRetry := up.Body.(io.Seeker)
	var start int64
	if canRetry {
		if start, err = seeker.Seek(0, io.SeekCurrent); err != nil {
			canRetry = false
		}
	}
	for attempt := 0; ; attempt++ {
		tok, err := c.cfg.TokenProvider(ctx)
		if err != nil {
			return File{}, fmt.Errorf("magpie: UploadFile: token: %w", err)
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, io.NopCloser(up.Body))
		if err != nil {
			return File{}, fmt.Errorf("magpie: UploadFile: %w", err)
		}
		req.ContentLength = up.Size
		switch b := up.Body.(type) {
		case *bytes.Reader:
			req.ContentLength = int64(b.Len())
		case *bytes.Buffer:
			req.ContentLength = int64(b.Len())
		case *strings.Reader:
			req.ContentLength = int64(b.Len())
		}
		if req.ContentLength == 0 {
			req.ContentLength = -1 // unknown: chunked (an empty body is refused by the server anyway)
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		if typ != "" {
			req.Header.Set("Content-Type", typ)
		}
		var out struct {
			File fileJSON `json:"file"`
		}
		err = c.doHTTP(req, &out)
		var e *Error
		if errors.As(err, &e) && e.Status == http.StatusUnauthorized && canRetry && attempt == 0 {
			if _, serr := seeker.Seek(start, io.SeekStart); serr == nil {
				continue // a fresh token from the provider
			}
		}
		if err != nil {
			return File{}, err
		}
		return out.File.file(base), nil
	}
}

// FileURL returns a file shared to a conversation of the user and a fresh
// download URL, valid for ttl (zero means an hour, at most 7 days) and
// only while the user stays a member of the conversation. Ask again when
// it expires: keep file ids, not URLs. Errors are *Error with codes
// file_not_found, forbidden, invalid_argument, unavailable.
func (c *Client) FileURL(ctx context.Context, fileID string, ttl time.Duration) (File, error) {
	r, err := c.request(ctx, &magpiev1.Frame{Body: &magpiev1.Frame_GetFileUrl{GetFileUrl: &magpiev1.GetFileUrl{
		FileId: fileID, TtlSeconds: int64((ttl + time.Second - 1) / time.Second)}}})
	if err != nil {
		return File{}, err
	}
	l := r.GetFileLink()
	if l == nil {
		return File{}, fmt.Errorf("magpie: FileURL: unexpected reply %s", wire.BodyName(r))
	}
	base, _ := httpBase(c.cfg.URL)
	return File{ID: l.GetFileId(), ConvID: l.GetConvId(), UploaderID: l.GetUploaderId(), Name: l.GetName(),
		ContentType: l.GetContentType(), Size: l.GetSize(), SHA256: l.GetSha256(), CreatedAt: time.UnixMilli(l.GetCreatedAtMs()),
		URL: absURL(base, l.GetUrl()), URLExpiresAt: time.UnixMilli(l.GetUrlExpiresAtMs())}, nil
}

// DeleteFile deletes a file the user uploaded; messages that reference it
// stay, its URLs stop working. Errors are *Error with codes
// file_not_found and forbidden (another user's file).
func (c *Client) DeleteFile(ctx context.Context, fileID string) error {
	_, err := c.request(ctx, &magpiev1.Frame{Body: &magpiev1.Frame_DeleteFile{DeleteFile: &magpiev1.DeleteFile{FileId: fileID}}})
	return err
}

// fileJSON is a file as the HTTP APIs show it.
type fileJSON struct {
	ID           string    `json:"id"`
	ConvID       string    `json:"conv_id"`
	UploaderID   string    `json:"uploader_id"`
	Name         string    `json:"name"`
	ContentType  string    `json:"content_type"`
	Size         int64     `json:"size"`
	SHA256       string    `json:"sha256"`
	CreatedAt    time.Time `json:"created_at"`
	URL          string    `json:"url"`
	URLExpiresAt time.Time `json:"url_expires_at"`
}

func (f fileJSON) file(base string) File {
	return File{ID: f.ID, ConvID: f.ConvID, UploaderID: f.UploaderID, Name: f.Name, ContentType: f.ContentType,
		Size: f.Size, SHA256: f.SHA256, CreatedAt: f.CreatedAt, URL: absURL(base, f.URL), URLExpiresAt: f.URLExpiresAt}
}

// maxHTTPResponse bounds the JSON answer of an HTTP request.
const maxHTTPResponse = 1 << 20

// doHTTP sends req and decodes its JSON answer into out, or returns the
// server's error as an *Error with Status set.
func (c *Client) doHTTP(req *http.Request, out any) error {
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "magpie-go/"+Version)
	resp, err := c.cfg.HTTPClient.Do(req)
	if err != nil {
		return fmt.Errorf("magpie: %s %s: %w", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxHTTPResponse))
	if err != nil {
		return fmt.Errorf("magpie: %s %s: read response: %w", req.Method, req.URL.Path, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		var eb struct {
			Error struct {
				Code    string `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		}
		e := &Error{Status: resp.StatusCode, Retryable: resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500}
		if json.Unmarshal(data, &eb) == nil && eb.Error.Code != "" {
			e.Code, e.Message = eb.Error.Code, eb.Error.Message
		} else {
			e.Code, e.Message = "http_"+fmt.Sprint(resp.StatusCode), http.StatusText(resp.StatusCode)
		}
		return e
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("magpie: %s %s: decode response: %w", req.Method, req.URL.Path, err)
	}
	return nil
}

// httpBase returns the HTTP base URL of the server at base (a ws, wss,
// http or https URL, with or without /v1/connect), without a trailing
// slash.
func httpBase(base string) (string, error) {
	u, err := url.Parse(base)
	if err != nil {
		return "", fmt.Errorf("magpie: config: URL: %w", err)
	}
	switch u.Scheme {
	case "ws", "http":
		u.Scheme = "http"
	case "wss", "https":
		u.Scheme = "https"
	default:
		return "", fmt.Errorf("magpie: config: URL %q: scheme must be http, https, ws or wss", base)
	}
	u.Path = strings.TrimSuffix(strings.TrimRight(u.Path, "/"), "/v1/connect")
	u.RawPath, u.RawQuery, u.Fragment = "", "", ""
	return strings.TrimRight(u.String(), "/"), nil
}

// absURL resolves a URL the server answered (relative unless it has a
// public URL configured) against the HTTP base.
func absURL(base, ref string) string {
	if ref == "" || strings.HasPrefix(ref, "http://") || strings.HasPrefix(ref, "https://") {
		return ref
	}
	return base + ref
}
