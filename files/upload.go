package files

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"mime"
	"net/http"
	"path"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/magpie-im/magpie/internal/store"
)

// Upload is a file to store.
type Upload struct {
	AppID string
	// UploaderID is the uploading user; empty for the app's backend
	// uploading for nobody in particular. A user must be able to share
	// to ConvID (see Access), which must then be a one-to-one or group
	// conversation.
	UploaderID string
	// ConvID is the conversation the file is shared to. Required.
	ConvID string
	// Name is the file's name as the uploader gave it; any directory part
	// is dropped, control and bidirectional formatting characters
	// removed. Empty means "file".
	Name string
	// ContentType is the declared media type. Empty or
	// application/octet-stream lets the server decide (from the content,
	// then the name's extension).
	ContentType string
	// Body is the content, read up to EOF.
	Body io.Reader
	// MaxBytes is the app's upload limit (its effective
	// max_upload_bytes). Required.
	MaxBytes int64
	// Types are the media type patterns the app accepts
	// (store.Settings.AllowedUploadTypes).
	Types []string
	// Complete, if set, runs once the whole content has been read, with
	// its size and hex SHA-256, before it is stored: an error refuses the
	// upload, and nothing is stored. (The server API checks there the
	// request's signature over the body.) The uploader's access to the
	// conversation is then checked after Complete, not before the content
	// is read, so that a request Complete has not authenticated yet learns
	// nothing of the app's conversations.
	Complete func(size int64, sha256Hex string) error
}

// ErrTooLarge is what the content reader returns past Upload.MaxBytes;
// Upload reports it as a file_too_large Error.
var ErrTooLarge = errors.New("file too large")

// sniffLen is how much of the content http.DetectContentType reads.
const sniffLen = 512

// Upload checks u, streams its content into the blob store and records
// the file. Nothing is stored when it fails: not the content (the blob
// store's Put is atomic and the content reader refuses an oversized or
// mistyped content before its end), not the metadata.
func (s *Service) Upload(ctx context.Context, u Upload) (store.File, error) {
	if err := checkUpload(u); err != nil {
		return store.File{}, err
	}
	complete := u.Complete
	if complete == nil {
		if err := s.checkAccess(ctx, u); err != nil {
			return store.File{}, err
		}
	} else {
		complete = func(size int64, sum string) error {
			if err := u.Complete(size, sum); err != nil {
				return err
			}
			return s.checkAccess(ctx, u)
		}
	}
	body := bufio.NewReaderSize(u.Body, sniffLen)
	head, err := body.Peek(sniffLen)
	if err != nil && !errors.Is(err, io.EOF) {
		return store.File{}, readError(err, u.MaxBytes)
	}
	if len(head) == 0 {
		return store.File{}, errorf(CodeEmptyFile, "the file is empty")
	}
	typ, e := resolveType(u.ContentType, http.DetectContentType(head), u.Name)
	if e != nil {
		return store.File{}, e
	}
	if !store.MediaTypeMatches(u.Types, typ) {
		e := errorf(CodeUnsupportedType, "this app does not accept uploads of type %s", typ)
		if u.Complete == nil { // an authenticated request: say what the app accepts
			e.Message += " (its upload_types: " + strings.Join(u.Types, ", ") + ")"
		}
		return store.File{}, e
	}
	f := store.File{ID: newFileID(), UploaderID: u.UploaderID, ConvID: u.ConvID, Name: fileName(u.Name, typ),
		ContentType: typ, CreatedAt: s.now()}
	cr := &contentReader{r: body, max: u.MaxBytes, h: sha256.New(), complete: complete}
	n, err := s.blobs.Put(ctx, blobKey(u.AppID, f.ID), cr)
	if err != nil {
		return store.File{}, readError(err, u.MaxBytes)
	}
	f.Size, f.SHA256 = n, cr.sum
	if err := s.store.App(u.AppID).CreateFile(ctx, f); err != nil {
		if derr := s.blobs.Delete(context.WithoutCancel(ctx), blobKey(u.AppID, f.ID)); derr != nil {
			s.log.ErrorContext(ctx, "delete the content of a file not recorded", "app_id", u.AppID, "file_id", f.ID, "err", derr)
		}
		return store.File{}, fmt.Errorf("record file: %w", err)
	}
	return f, nil
}

// checkUpload checks what can be checked before the content is read and
// without the store: the conversation id, the name, the limit.
func checkUpload(u Upload) error {
	switch {
	case u.ConvID == "":
		return invalid("conv_id", "is required: the conversation the file is shared to")
	case !validConvID(u.ConvID):
		return invalid("conv_id", "%q is not a conversation id (p:<user>:<user>, g:<group> or s:<user>)", u.ConvID)
	case u.MaxBytes <= 0:
		return errors.New("upload: no size limit")
	case len(u.Name) > 4*MaxNameBytes:
		return invalid("name", "at most %d bytes", MaxNameBytes)
	case u.UploaderID != "" && strings.HasPrefix(u.ConvID, "s:"):
		return errorf(CodeForbidden, "users share files to one-to-one and group conversations, not to system conversations")
	}
	return nil
}

// checkAccess checks that the uploader, if any, may share to the
// conversation.
func (s *Service) checkAccess(ctx context.Context, u Upload) error {
	if u.UploaderID == "" {
		return nil
	}
	return s.canShare(ctx, u.AppID, u.UploaderID, u.ConvID)
}

// validConvID reports whether id has the form of a conversation id: its
// kind ("p:", "g:", "s:") and the characters of user and group ids.
func validConvID(id string) bool {
	kind, rest, ok := strings.Cut(id, ":")
	if !ok || (kind != "p" && kind != "g" && kind != "s") || rest == "" || len(id) > 140 {
		return false
	}
	for i := 0; i < len(rest); i++ {
		switch c := rest[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', strings.IndexByte("_.@-:", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// readError turns a failure while reading the content into the client's
// error: too large, an interrupted or malformed body, or itself.
func readError(err error, limit int64) error {
	var mbe *http.MaxBytesError
	var fe *Error
	var timeout interface{ Timeout() bool }
	switch {
	case errors.Is(err, ErrTooLarge) || errors.As(err, &mbe):
		return errorf(CodeFileTooLarge, "the file exceeds this app's limit of %d bytes (max_upload_bytes)", limit)
	case errors.As(err, &fe):
		return fe
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errorf(CodeInvalidUpload, "the upload ended before its end (a multipart body cut short?)")
	case errors.As(err, &timeout) && timeout.Timeout():
		return errorf(CodeInvalidUpload, "the upload was too slow: it did not end in time")
	}
	return err
}

// contentReader reads the content up to max bytes, hashing it; at its end
// it runs complete, whose error replaces io.EOF so that the blob store
// stores nothing.
type contentReader struct {
	r        io.Reader
	max      int64
	n        int64
	h        hash.Hash
	sum      string
	complete func(size int64, sum string) error
}

func (c *contentReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if c.n > c.max {
		return 0, ErrTooLarge
	}
	c.h.Write(p[:n])
	if errors.Is(err, io.EOF) {
		c.sum = hex.EncodeToString(c.h.Sum(nil))
		if c.complete != nil {
			if cerr := c.complete(c.n, c.sum); cerr != nil {
				return n, cerr
			}
		}
	}
	return n, err
}

// Media types the server recognises in a content (http.DetectContentType)
// and which therefore must match what is declared.
var sniffedImages = map[string]bool{
	"image/png": true, "image/jpeg": true, "image/gif": true, "image/webp": true, "image/bmp": true, "image/x-icon": true,
}

// typeAliases map common non-canonical media types to the canonical ones.
var typeAliases = map[string]string{
	"image/jpg": "image/jpeg", "image/pjpeg": "image/jpeg", "image/x-png": "image/png",
	"image/vnd.microsoft.icon": "image/x-icon", "image/x-ms-bmp": "image/bmp",
	"audio/mp3": "audio/mpeg", "audio/x-wav": "audio/wave", "audio/wav": "audio/wave",
}

// normType returns a media type in lower case, without parameters, with
// aliases resolved; "" for an empty or malformed one.
func normType(t string) string {
	if t == "" {
		return ""
	}
	mt, _, err := mime.ParseMediaType(t)
	if err != nil || !strings.Contains(mt, "/") || strings.HasSuffix(mt, "/*") {
		return ""
	}
	mt = strings.ToLower(mt)
	if a, ok := typeAliases[mt]; ok {
		return a
	}
	return mt
}

// resolveType decides a file's media type from the declared one, the one
// sniffed from its first bytes and its name, and refuses contradictions:
//
//   - a declared type the server recognises in contents (PNG, JPEG, GIF,
//     WebP, BMP, ICO) must be what the content is;
//   - a content recognised as one of those images must be declared as it;
//   - a declared image, audio or video type (which browsers render
//     inline) must not be HTML, a PDF, an archive or plain text, except
//     SVG, which is XML text;
//
// With no declared type (or application/octet-stream) the sniffed type is
// taken, or, when the content says nothing specific, the name's
// extension's type.
func resolveType(declared, sniffed, name string) (string, *Error) {
	if declared != "" && normType(declared) == "" {
		return "", invalid("content_type", "%q is not a media type", declared)
	}
	d, sn := normType(declared), normType(sniffed)
	if d == "" || d == "application/octet-stream" {
		d = sn
		// Generic contents (a text, an XML document, a ZIP archive such as
		// an office document): the name says more.
		if sn == "application/octet-stream" || sn == "text/plain" || sn == "text/xml" || sn == "application/zip" {
			if byExt := normType(mime.TypeByExtension(strings.ToLower(path.Ext(name)))); byExt != "" && !sniffedImages[byExt] {
				d = byExt
			}
		}
	}
	mismatch := func() (string, *Error) {
		return "", errorf(CodeTypeMismatch, "the file is declared %s but its content is %s", d, sn)
	}
	switch {
	case sniffedImages[d] || sniffedImages[sn]:
		if d != sn {
			return mismatch()
		}
	case strings.HasPrefix(d, "image/"):
		svg := d == "image/svg+xml" && (sn == "text/xml" || sn == "text/plain" || sn == "text/html")
		if sn != "application/octet-stream" && !svg {
			return mismatch()
		}
	case strings.HasPrefix(d, "audio/"), strings.HasPrefix(d, "video/"):
		if sn != "application/octet-stream" && sn != "application/ogg" && !strings.HasPrefix(sn, "audio/") && !strings.HasPrefix(sn, "video/") {
			return mismatch()
		}
	}
	return d, nil
}

// fileName cleans an uploader's file name: the last path element (either
// separator), without control or bidirectional formatting characters
// (which can make "gpj.exe" read as "exe.jpg"), leading dots or
// surrounding spaces, cut to MaxNameBytes at a character boundary. An empty
// result is "file" with the type's usual extension.
func fileName(name, typ string) string {
	name = strings.ToValidUTF8(name, "")
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	name = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) || r == '\u200b' || r == '\ufeff' {
			return -1
		}
		return r
	}, name)
	name = strings.TrimLeft(strings.TrimSpace(name), ".")
	if len(name) > MaxNameBytes {
		cut := MaxNameBytes
		for cut > 0 && !utf8.RuneStart(name[cut]) {
			cut--
		}
		name = name[:cut]
	}
	if name == "" {
		name = "file"
		if exts, _ := mime.ExtensionsByType(typ); len(exts) > 0 {
			name += exts[0]
		}
	}
	return name
}
