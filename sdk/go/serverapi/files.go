package serverapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/magpie-im/magpie/sdk/go/signing"
)

// FileRefScheme prefixes the reference to an uploaded file in the url or
// thumbnail_url of an image, file, audio or video message content.
const FileRefScheme = "magpie-file:"

// FileRef returns the reference to the uploaded file id for a message
// content's url: {"url": FileRef(f.ID), ...}.
func FileRef(id string) string { return FileRefScheme + id }

// File is an uploaded file, with a signed download URL when one was made.
type File struct {
	ID string `json:"id"`
	// ConvID is the conversation the file is shared to.
	ConvID string `json:"conv_id"`
	// UploaderID is the user on whose behalf it was uploaded; empty if
	// nobody's.
	UploaderID  string    `json:"uploader_id"`
	Name        string    `json:"name"`
	ContentType string    `json:"content_type"`
	Size        int64     `json:"size"`
	SHA256      string    `json:"sha256"`
	CreatedAt   time.Time `json:"created_at"`
	// URL downloads the file with a plain GET until URLExpiresAt; empty
	// in lists. Relative to the API's base URL unless the server has a
	// public URL configured; FileURL resolves it.
	URL          string    `json:"url,omitempty"`
	URLExpiresAt time.Time `json:"url_expires_at,omitzero"`
}

// FileUpload is a file to upload.
type FileUpload struct {
	// ConvID is the conversation the file is shared to. Required.
	ConvID string
	// UserID uploads the file on that user's behalf: the user must exist
	// and be able to share to ConvID. Empty uploads it for nobody in
	// particular (the only way to share to a system conversation).
	UserID string
	// Name is the file's name.
	Name string
	// ContentType is the file's media type. Empty means the type of the
	// name's extension, or else the server decides from the content.
	ContentType string
	// Body is the content. The request signature covers its SHA-256, so
	// it is read twice when it is an io.ReadSeeker (a *os.File, a
	// *bytes.Reader), and held in memory otherwise (up to
	// MaxBufferedUpload bytes).
	Body io.Reader
}

// MaxBufferedUpload bounds an upload whose Body cannot seek (it is read
// into memory to be hashed before it is sent).
const MaxBufferedUpload = 100 << 20

// UploadFile uploads a file (POST /v1/files) and returns it with a signed
// URL for anyone who has it, valid for an hour. Reference it in a message
// with FileRef(f.ID). Not idempotent: a retry stores a second file.
//
// The server refuses, with an *Error: file_too_large (the app's
// max_upload_bytes), unsupported_file_type, file_type_mismatch,
// empty_file, forbidden (UserID may not share to ConvID), user_not_found,
// files_unavailable.
func (c *Client) UploadFile(ctx context.Context, up FileUpload) (File, error) {
	if up.ConvID == "" {
		return File{}, errors.New("magpie: UploadFile: ConvID is required")
	}
	if up.Body == nil {
		return File{}, errors.New("magpie: UploadFile: Body is required")
	}
	body, size, sum, err := hashBody(up.Body)
	if err != nil {
		return File{}, fmt.Errorf("magpie: UploadFile: %w", err)
	}
	q := url.Values{}
	q.Set("conv_id", up.ConvID)
	if up.UserID != "" {
		q.Set("user_id", up.UserID)
	}
	if up.Name != "" {
		q.Set("name", up.Name)
	}
	const p = "/v1/files"
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+p+"?"+q.Encode(), io.NopCloser(body))
	if err != nil {
		return File{}, fmt.Errorf("POST %s: %w", p, err)
	}
	hr.ContentLength = size
	if size == 0 {
		hr.Body = http.NoBody
	}
	typ := up.ContentType
	if typ == "" {
		typ = mime.TypeByExtension(strings.ToLower(path.Ext(up.Name)))
	}
	if typ != "" {
		hr.Header.Set("Content-Type", typ)
	}
	hr.Header.Set("Accept", "application/json")
	hr.Header.Set("User-Agent", userAgent)
	if err := signing.SignRequestHash(hr, c.appKey, c.secret, sum, c.now(), signing.NewNonce()); err != nil {
		return File{}, fmt.Errorf("POST %s: %w", p, err)
	}
	var out struct {
		File File `json:"file"`
	}
	if err := c.roundTrip(hr, p, &out); err != nil {
		return File{}, err
	}
	out.File.URL = c.absURL(out.File.URL)
	return out.File, nil
}

// hashBody returns a reader of r's content, its size and its hex SHA-256:
// r itself, rewound, when it can seek; a copy in memory otherwise.
func hashBody(r io.Reader) (io.Reader, int64, string, error) {
	h := sha256.New()
	if rs, ok := r.(io.ReadSeeker); ok {
		start, err := rs.Seek(0, io.SeekCurrent)
		if err == nil {
			n, err := io.Copy(h, rs)
			if err != nil {
				return nil, 0, "", err
			}
			if _, err := rs.Seek(start, io.SeekStart); err != nil {
				return nil, 0, "", err
			}
			return rs, n, hex.EncodeToString(h.Sum(nil)), nil
		}
	}
	data, err := io.ReadAll(io.LimitReader(r, MaxBufferedUpload+1))
	if err != nil {
		return nil, 0, "", err
	}
	if len(data) > MaxBufferedUpload {
		return nil, 0, "", fmt.Errorf("a body that cannot seek is limited to %d bytes; pass an *os.File or an io.ReadSeeker", MaxBufferedUpload)
	}
	h.Write(data)
	return bytes.NewReader(data), int64(len(data)), hex.EncodeToString(h.Sum(nil)), nil
}

// FileURLOptions tune the URL FileURL makes.
type FileURLOptions struct {
	// TTL is the URL's lifetime: zero means an hour, at most 7 days.
	TTL time.Duration
	// UserID makes the URL for a user: it is refused unless the user may
	// read the file, and stops working as soon as the user may not
	// (leaves the conversation, is blocked or deleted). Empty makes a URL
	// for anyone who has it, until it expires.
	UserID string
}

// FileURL returns a file and a fresh signed download URL
// (GET /v1/files/{id}), made absolute against the client's base URL.
func (c *Client) FileURL(ctx context.Context, id string, opts FileURLOptions) (File, error) {
	if id == "" {
		return File{}, errors.New("magpie: empty file id")
	}
	q := url.Values{}
	if opts.TTL > 0 {
		q.Set("ttl_seconds", strconv.FormatInt(int64((opts.TTL+time.Second-1)/time.Second), 10))
	}
	if opts.UserID != "" {
		q.Set("user_id", opts.UserID)
	}
	var out struct {
		File File `json:"file"`
	}
	if err := c.do(ctx, request{method: http.MethodGet, path: "/v1/files/" + url.PathEscape(id), query: q, out: &out}); err != nil {
		return File{}, err
	}
	out.File.URL = c.absURL(out.File.URL)
	return out.File, nil
}

// FileQuery selects the files ListFiles returns; empty fields select all.
type FileQuery struct {
	ConvID     string
	UploaderID string
	Cursor     string
	Limit      int // 1-200; 0 means 50
}

// ListFiles returns a page of the app's files by id (GET /v1/files),
// without URLs, and the cursor of the next page ("" after the last).
func (c *Client) ListFiles(ctx context.Context, fq FileQuery) ([]File, string, error) {
	if fq.Limit < 0 {
		return nil, "", errors.New("magpie: negative limit")
	}
	q := pageQuery(fq.Cursor, fq.Limit)
	if fq.ConvID != "" {
		q.Set("conv_id", fq.ConvID)
	}
	if fq.UploaderID != "" {
		q.Set("uploader_id", fq.UploaderID)
	}
	var out struct {
		Files      []File `json:"files"`
		NextCursor string `json:"next_cursor"`
	}
	if err := c.do(ctx, request{method: http.MethodGet, path: "/v1/files", query: q, out: &out}); err != nil {
		return nil, "", err
	}
	return out.Files, out.NextCursor, nil
}

// DeleteFile deletes a file (DELETE /v1/files/{id}): its content and
// metadata. Messages that reference it stay; its URLs stop working.
func (c *Client) DeleteFile(ctx context.Context, id string) error {
	if id == "" {
		return errors.New("magpie: empty file id")
	}
	return c.do(ctx, request{method: http.MethodDelete, path: "/v1/files/" + url.PathEscape(id)})
}

// absURL resolves a URL the server answered (its paths start at the API's
// root, which is the client's base URL) against the client's base URL.
func (c *Client) absURL(ref string) string {
	if ref == "" || strings.HasPrefix(ref, "http://") || strings.HasPrefix(ref, "https://") {
		return ref
	}
	return c.base + ref
}
