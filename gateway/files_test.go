package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/magpie-im/magpie/gateway"
	"github.com/magpie-im/magpie/internal/blob"
	"github.com/magpie-im/magpie/internal/store"
	"github.com/magpie-im/magpie/sdk/go/signing"
	magpiev1 "github.com/magpie-im/magpie/sdk/proto/magpie/v1"
	"github.com/magpie-im/magpie/tenant"
)

// filesEnv is an env with file storage in a directory of its own.
func filesEnv(t *testing.T, opts ...func(*gateway.Config)) (*env, string) {
	t.Helper()
	dir := t.TempDir()
	blobs, err := blob.OpenLocal(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, append([]func(*gateway.Config){func(c *gateway.Config) { c.Blobs = blobs }}, opts...)...)
	for _, app := range []testApp{e.a, e.b} {
		for _, u := range []string{"ann", "bob", "cat"} {
			e.mustCreateUser(app, u)
		}
	}
	r := e.do(e.a, req{method: "POST", target: "/v1/groups", body: `{"id":"hikers","name":"Hikers","owner_id":"ann","member_ids":["bob"]}`})
	if r.status != http.StatusCreated {
		t.Fatalf("create group: %d %s", r.status, r.body)
	}
	return e, dir
}

// pngBytes is a PNG-looking content of n bytes.
func pngBytes(n int) []byte {
	b := bytes.Repeat([]byte{0x42}, n)
	copy(b, "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
	return b
}

// send sends an HTTP request to the gateway without signing it.
func (e *env) send(method, target string, body io.Reader, header map[string]string) resp {
	e.t.Helper()
	if !strings.HasPrefix(target, "http") {
		target = e.srv.URL + target
	}
	r, err := http.NewRequest(method, target, body)
	if err != nil {
		e.t.Fatal(err)
	}
	for k, v := range header {
		if k == "Content-Length" {
			fmt.Sscan(v, &r.ContentLength)
			continue
		}
		r.Header.Set(k, v)
	}
	res, err := e.srv.Client().Do(r)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp{status: res.StatusCode, header: res.Header, body: b}
}

// clientUpload uploads body as user of app with its client token.
func (e *env) clientUpload(app testApp, user, query, contentType string, body []byte) resp {
	e.t.Helper()
	return e.send("POST", "/v1/client/files?"+query, bytes.NewReader(body),
		map[string]string{"Authorization": "Bearer " + e.tokenFor(app, user), "Content-Type": contentType})
}

// multipartBody builds a multipart/form-data body: fields in order, then
// a file part.
func multipartBody(t *testing.T, fields [][2]string, fileName, fileType string, content []byte) (string, []byte) {
	t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for _, f := range fields {
		if err := w.WriteField(f[0], f[1]); err != nil {
			t.Fatal(err)
		}
	}
	if content != nil {
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="file"; filename=%q`, fileName))
		if fileType != "" {
			h.Set("Content-Type", fileType)
		}
		p, err := w.CreatePart(h)
		if err != nil {
			t.Fatal(err)
		}
		p.Write(content)
	}
	w.Close()
	return w.FormDataContentType(), buf.Bytes()
}

type fileResp struct {
	File struct {
		ID           string    `json:"id"`
		ConvID       string    `json:"conv_id"`
		UploaderID   string    `json:"uploader_id"`
		Name         string    `json:"name"`
		ContentType  string    `json:"content_type"`
		Size         int64     `json:"size"`
		SHA256       string    `json:"sha256"`
		URL          string    `json:"url"`
		URLExpiresAt time.Time `json:"url_expires_at"`
	} `json:"file"`
}

func decodeFile(t *testing.T, r resp, status int) fileResp {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d %s, want %d", r.status, r.body, status)
	}
	var f fileResp
	if err := json.Unmarshal(r.body, &f); err != nil {
		t.Fatal(err)
	}
	return f
}

// stored returns the files of both apps and the contents in dir, for
// "nothing stored" checks.
func (e *env) stored(dir string) ([]store.File, []string) {
	e.t.Helper()
	var fs []store.File
	for _, app := range []testApp{e.a, e.b} {
		got, err := e.store.App(app.ID).ListFiles(context.Background(), store.FileQuery{Limit: 100})
		if err != nil {
			e.t.Fatal(err)
		}
		fs = append(fs, got...)
	}
	var contents []string
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			contents = append(contents, strings.TrimPrefix(p, dir))
		}
		return nil
	})
	return fs, contents
}

func getFileURL(c *wsClient, id string, ttl int64) *magpiev1.Frame {
	return c.reply(c.request(&magpiev1.Frame{Body: &magpiev1.Frame_GetFileUrl{GetFileUrl: &magpiev1.GetFileUrl{FileId: id, TtlSeconds: ttl}}}))
}

// TestFilesRoundTrip: a user uploads (raw body and multipart), members
// get URLs by frame and download with the right headers and ranges; a
// message references the file; others get nothing.
func TestFilesRoundTrip(t *testing.T) {
	e, _ := filesEnv(t)
	content := pngBytes(50_000)
	up := decodeFile(t, e.clientUpload(e.a, "ann", "conv_id=g:hikers&name=summit.png", "image/png", content), http.StatusCreated)
	f := up.File
	if !strings.HasPrefix(f.ID, "f_") || f.ConvID != "g:hikers" || f.UploaderID != "ann" || f.Name != "summit.png" ||
		f.ContentType != "image/png" || f.Size != int64(len(content)) || len(f.SHA256) != 64 {
		t.Fatalf("uploaded = %+v", f)
	}
	if !strings.HasPrefix(f.URL, "/v1/files/"+f.ID+"/content?") || f.URLExpiresAt.Sub(e.clock()) != time.Hour {
		t.Fatalf("upload URL = %q expiring %s", f.URL, f.URLExpiresAt)
	}

	// The uploader's URL serves the file.
	r := e.send("GET", f.URL, nil, nil)
	if r.status != http.StatusOK || !bytes.Equal(r.body, content) {
		t.Fatalf("download = %d, %d bytes", r.status, len(r.body))
	}
	for k, want := range map[string]string{
		"Content-Type": "image/png", "Content-Length": fmt.Sprint(len(content)), "X-Content-Type-Options": "nosniff",
		"Content-Disposition": `inline; filename=summit.png`, "Content-Security-Policy": "default-src 'none'; sandbox",
		"ETag": `"` + f.SHA256 + `"`, "Accept-Ranges": "bytes", "Access-Control-Allow-Origin": "*",
		"Cache-Control": "private, max-age=3600", "Referrer-Policy": "no-referrer",
	} {
		if got := r.header.Get(k); got != want {
			t.Errorf("download header %s = %q, want %q", k, got, want)
		}
	}
	r = e.send("GET", f.URL, nil, map[string]string{"Range": "bytes=100-199"})
	if r.status != http.StatusPartialContent || !bytes.Equal(r.body, content[100:200]) ||
		r.header.Get("Content-Range") != fmt.Sprintf("bytes 100-199/%d", len(content)) {
		t.Errorf("range download = %d %q, %d bytes", r.status, r.header.Get("Content-Range"), len(r.body))
	}
	if r := e.send("GET", f.URL, nil, map[string]string{"If-None-Match": `"` + f.SHA256 + `"`}); r.status != http.StatusNotModified {
		t.Errorf("conditional download = %d, want 304", r.status)
	}

	// A multipart upload (a browser's FormData), a PDF with a non-ASCII
	// name: served as an attachment.
	ct, body := multipartBody(t, [][2]string{{"conv_id", "g:hikers"}}, "Résumé 2026.pdf", "application/pdf", []byte("%PDF-1.7\nhello"))
	pdf := decodeFile(t, e.clientUpload(e.a, "bob", "", ct, body), http.StatusCreated).File
	if pdf.Name != "Résumé 2026.pdf" || pdf.ContentType != "application/pdf" || pdf.UploaderID != "bob" {
		t.Errorf("multipart upload = %+v", pdf)
	}
	r = e.send("GET", pdf.URL, nil, nil)
	if r.status != http.StatusOK || r.header.Get("Content-Disposition") != `attachment; filename*=utf-8''R%C3%A9sum%C3%A9%202026.pdf` {
		t.Errorf("pdf download = %d, Content-Disposition %q", r.status, r.header.Get("Content-Disposition"))
	}

	// bob, a member, gets a fresh URL by frame; cat, not a member, and
	// ann of the other app get nothing.
	bob, cat, otherAnn := e.login(e.a, "bob", "d1"), e.login(e.a, "cat", "d1"), e.login(e.b, "ann", "d1")
	link := getFileURL(bob, f.ID, 120).GetFileLink()
	if link == nil || link.GetFileId() != f.ID || link.GetSize() != f.Size || link.GetConvId() != "g:hikers" ||
		link.GetUrlExpiresAtMs() != e.clock().Add(2*time.Minute).UnixMilli() || link.GetSha256() != f.SHA256 {
		t.Fatalf("bob's file link = %v", link)
	}
	if r := e.send("GET", link.GetUrl(), nil, nil); r.status != http.StatusOK || !bytes.Equal(r.body, content) {
		t.Errorf("download with bob's URL = %d", r.status)
	}
	cat.expectError(cat.request(&magpiev1.Frame{Body: &magpiev1.Frame_GetFileUrl{GetFileUrl: &magpiev1.GetFileUrl{FileId: f.ID}}}), "forbidden")
	otherAnn.expectError(otherAnn.request(&magpiev1.Frame{Body: &magpiev1.Frame_GetFileUrl{GetFileUrl: &magpiev1.GetFileUrl{FileId: f.ID}}}), "file_not_found")
	bob.expectError(bob.request(&magpiev1.Frame{Body: &magpiev1.Frame_GetFileUrl{GetFileUrl: &magpiev1.GetFileUrl{FileId: f.ID, TtlSeconds: 604801}}}), "invalid_argument")

	// A group message references it; a one-to-one message may not.
	img := fmt.Sprintf(`{"url":"magpie-file:%s","width":4,"height":3,"size":%d,"mime":"image/png"}`, f.ID, f.Size)
	ack := bob.reply(bob.request(&magpiev1.Frame{Body: &magpiev1.Frame_Send{Send: &magpiev1.Send{
		ClientMsgId: "img1", ToGroupId: "hikers", Type: "image", Content: img}}}))
	if ack.GetSendAck() == nil {
		t.Errorf("group image with its file = %v", ack)
	}
	bob.expectError(bob.request(&magpiev1.Frame{Body: &magpiev1.Frame_Send{Send: &magpiev1.Send{
		ClientMsgId: "img2", ToUserId: "cat", Type: "image", Content: img}}}), "invalid_message")

	// Only the uploader deletes; then the URLs stop working.
	del := func(c *wsClient) *magpiev1.Frame {
		return c.reply(c.request(&magpiev1.Frame{Body: &magpiev1.Frame_DeleteFile{DeleteFile: &magpiev1.DeleteFile{FileId: f.ID}}}))
	}
	if f := del(bob); f.GetError().GetCode() != "forbidden" {
		t.Errorf("delete by bob = %v", f)
	}
	ann := e.login(e.a, "ann", "d1")
	if f := del(ann); f.GetOk() == nil {
		t.Errorf("delete by ann = %v", f)
	}
	if r := e.send("GET", link.GetUrl(), nil, nil); r.status != http.StatusNotFound || r.code(t) != "file_not_found" {
		t.Errorf("download after deletion = %d %s", r.status, r.body)
	}
}

// TestFilesBadInput: oversized uploads, wrong content types, malformed
// payloads, bad credentials, non-members: clear errors, nothing stored;
// forged and expired URLs: clear errors.
func TestFilesBadInput(t *testing.T) {
	e, dir := filesEnv(t, func(c *gateway.Config) { c.UploadsPerUser = 100 })
	if _, err := e.tenants.UpdateApp(context.Background(), e.a.ID, tenant.AppUpdate{Limits: &store.Limits{MaxUploadBytes: 100_000}}); err != nil {
		t.Fatal(err)
	}
	tok := e.tokenFor(e.a, "ann")
	auth := func(h map[string]string) map[string]string {
		out := map[string]string{"Authorization": "Bearer " + tok}
		for k, v := range h {
			out[k] = v
		}
		return out
	}
	mp := func(fields [][2]string, name, typ string, content []byte) (map[string]string, []byte) {
		ct, b := multipartBody(t, fields, name, typ, content)
		return auth(map[string]string{"Content-Type": ct}), b
	}
	okFields := [][2]string{{"conv_id", "g:hikers"}}
	twoFiles := func() (map[string]string, []byte) {
		var buf bytes.Buffer
		w := multipart.NewWriter(&buf)
		w.WriteField("conv_id", "g:hikers")
		p, _ := w.CreateFormFile("file", "a.png")
		p.Write(pngBytes(10))
		p, _ = w.CreateFormFile("file", "b.png")
		p.Write(pngBytes(10))
		w.Close()
		return auth(map[string]string{"Content-Type": w.FormDataContentType()}), buf.Bytes()
	}
	truncated := func() (map[string]string, []byte) {
		h, b := mp(okFields, "a.png", "image/png", pngBytes(5000))
		return h, b[:len(b)-200]
	}
	cases := []struct {
		name   string
		target string
		header map[string]string
		body   []byte
		status int
		code   string
	}{
		{"oversized, declared", "?conv_id=g:hikers", auth(map[string]string{"Content-Type": "image/png"}), pngBytes(100_001), 413, "file_too_large"},
		{"oversized, lying length", "?conv_id=g:hikers", auth(map[string]string{"Content-Type": "image/png", "Content-Length": "-1"}), pngBytes(300_000), 413, "file_too_large"},
		{"oversized multipart", "", nil, nil, 413, "file_too_large"},
		{"not allowed type", "?conv_id=g:hikers&name=x.html", auth(map[string]string{"Content-Type": "text/html"}), []byte("<html><script>alert(1)</script>"), 415, "unsupported_file_type"},
		{"undeclared HTML", "?conv_id=g:hikers&name=x", auth(nil), []byte("<!DOCTYPE html><script>alert(1)</script>"), 415, "unsupported_file_type"},
		{"PDF declared PNG", "?conv_id=g:hikers", auth(map[string]string{"Content-Type": "image/png"}), []byte("%PDF-1.4 a document"), 415, "file_type_mismatch"},
		{"PNG declared JPEG", "?conv_id=g:hikers", auth(map[string]string{"Content-Type": "image/jpeg"}), pngBytes(100), 415, "file_type_mismatch"},
		{"HTML declared HEIC", "?conv_id=g:hikers", auth(map[string]string{"Content-Type": "image/heic"}), []byte("<html><script>alert(1)</script>"), 415, "file_type_mismatch"},
		{"not a media type", "?conv_id=g:hikers", auth(map[string]string{"Content-Type": "png"}), pngBytes(100), 400, "validation_failed"},
		{"empty", "?conv_id=g:hikers", auth(map[string]string{"Content-Type": "image/png"}), nil, 400, "empty_file"},
		{"no conversation", "", auth(map[string]string{"Content-Type": "image/png"}), pngBytes(100), 400, "validation_failed"},
		{"bad conversation", "?conv_id=hikers", auth(map[string]string{"Content-Type": "image/png"}), pngBytes(100), 400, "validation_failed"},
		{"not a member", "?conv_id=p:bob:cat", auth(map[string]string{"Content-Type": "image/png"}), pngBytes(100), 403, "forbidden"},
		{"no such group", "?conv_id=g:nope", auth(map[string]string{"Content-Type": "image/png"}), pngBytes(100), 403, "forbidden"},
		{"system conversation", "?conv_id=s:ann", auth(map[string]string{"Content-Type": "image/png"}), pngBytes(100), 403, "forbidden"},
		{"no token", "?conv_id=g:hikers", map[string]string{"Content-Type": "image/png"}, pngBytes(100), 401, "missing_credentials"},
		{"garbage token", "?conv_id=g:hikers", map[string]string{"Authorization": "Bearer x.y.z"}, pngBytes(100), 401, "unauthenticated"},
		{"token of another app's secret", "?conv_id=g:hikers", map[string]string{"Authorization": "Bearer " + e.mint(e.a, e.b.Secret, "ann", time.Hour, e.clock())}, pngBytes(100), 401, "unauthenticated"},
		{"expired token", "?conv_id=g:hikers", map[string]string{"Authorization": "Bearer " + e.mint(e.a, e.a.Secret, "ann", time.Minute, e.clock().Add(-time.Hour))}, pngBytes(100), 401, "unauthenticated"},
		{"unknown user", "?conv_id=g:hikers", map[string]string{"Authorization": "Bearer " + e.tokenFor(e.a, "zed")}, pngBytes(100), 401, "unauthenticated"},
		{"no boundary", "", auth(map[string]string{"Content-Type": "multipart/form-data"}), []byte("--x\r\n"), 400, "invalid_upload"},
		{"multipart garbage", "", auth(map[string]string{"Content-Type": "multipart/form-data; boundary=xyz"}), []byte("this is not multipart"), 400, "invalid_upload"},
		{"multipart truncated", "", nil, nil, 400, "invalid_upload"},
		{"multipart without a file", "", nil, nil, 400, "invalid_upload"},
		{"multipart with two files", "", nil, nil, 400, "invalid_upload"},
		{"multipart unknown field", "", nil, nil, 400, "invalid_upload"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h, b := tc.header, tc.body
			switch tc.name {
			case "oversized multipart":
				h, b = mp(okFields, "a.png", "image/png", pngBytes(100_001))
			case "multipart truncated":
				h, b = truncated()
			case "multipart without a file":
				h, b = mp(okFields, "", "", nil)
			case "multipart with two files":
				h, b = twoFiles()
			case "multipart unknown field":
				h, b = mp([][2]string{{"conv_id", "g:hikers"}, {"color", "red"}}, "a.png", "image/png", pngBytes(10))
			}
			var body io.Reader = bytes.NewReader(b)
			if h["Content-Length"] == "-1" {
				body = io.MultiReader(bytes.NewReader(b)) // unknown length: chunked
			}
			r := e.send("POST", "/v1/client/files"+tc.target, body, h)
			if r.status != tc.status || r.code(t) != tc.code {
				t.Errorf("status %d %s, want %d %s", r.status, r.body, tc.status, tc.code)
			}
			if fs, contents := e.stored(dir); len(fs) != 0 || len(contents) != 0 {
				t.Errorf("stored after a refused upload: files %+v, contents %v", fs, contents)
			}
		})
	}

	// Signed URLs: forged ones and expired ones fail, with clear codes.
	f := decodeFile(t, e.clientUpload(e.a, "ann", "conv_id=g:hikers", "image/png", pngBytes(100)), http.StatusCreated).File
	u, _ := url.Parse(f.URL)
	q := u.Query()
	forge := func(k, v string) string {
		x := url.Values{}
		for key := range q {
			x.Set(key, q.Get(key))
		}
		x.Set(k, v)
		return u.Path + "?" + x.Encode()
	}
	other := decodeFile(t, e.clientUpload(e.b, "ann", "conv_id=p:ann:bob", "image/png", pngBytes(100)), http.StatusCreated).File
	for name, target := range map[string]string{
		"forged signature":       forge("sig", strings.Repeat("A", 43)),
		"extended expiry":        forge("expires", fmt.Sprint(e.clock().Add(24*time.Hour).Unix())),
		"another user":           forge("user", "bob"),
		"another app":            forge("app", e.b.ID),
		"another app's file":     "/v1/files/" + other.ID + "/content?" + u.RawQuery,
		"no query":               u.Path,
		"signature of the other": "/v1/files/" + f.ID + "/content?" + strings.SplitN(other.URL, "?", 2)[1],
	} {
		if r := e.send("GET", target, nil, nil); r.status != http.StatusForbidden || r.code(t) != "bad_url_signature" {
			t.Errorf("%s: %d %s, want 403 bad_url_signature", name, r.status, r.body)
		}
	}
	if r := e.send("GET", "/v1/files/f_nope/content?"+u.RawQuery, nil, nil); r.status != http.StatusForbidden {
		t.Errorf("unknown file with a borrowed signature: %d %s", r.status, r.body)
	}
	e.advance(time.Hour)
	if r := e.send("GET", f.URL, nil, nil); r.status != http.StatusForbidden || r.code(t) != "url_expired" {
		t.Errorf("expired URL: %d %s, want 403 url_expired", r.status, r.body)
	}
}

// TestFilesServerAPI: the backend uploads (a raw, signed body), lists,
// gets URLs (bound to a user or not) and deletes; a bad signature stores
// nothing and reveals nothing of the app's conversations.
func TestFilesServerAPI(t *testing.T) {
	e, dir := filesEnv(t)
	content := pngBytes(20_000)
	upload := func(target string, signed []byte, nonce string) resp {
		r, _ := http.NewRequest("POST", e.srv.URL+target, bytes.NewReader(content))
		r.Header.Set("Content-Type", "image/png")
		if nonce == "" {
			nonce = nextNonce()
		}
		if err := signing.SignRequest(r, e.a.Key, e.a.Secret, signed, e.clock(), nonce); err != nil {
			t.Fatal(err)
		}
		res, err := e.srv.Client().Do(r)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return resp{status: res.StatusCode, header: res.Header, body: b}
	}
	// A signature over another body, or one claiming a member the server
	// has not checked yet: 401, nothing stored, the membership unknown.
	for _, target := range []string{"/v1/files?conv_id=g:hikers&user_id=bob", "/v1/files?conv_id=g:hikers&user_id=cat"} {
		if r := upload(target, []byte("something else"), ""); r.status != http.StatusUnauthorized || r.code(t) != "bad_signature" {
			t.Errorf("upload with a wrong signature to %s = %d %s", target, r.status, r.body)
		}
	}
	if r := e.send("POST", "/v1/files?conv_id=g:hikers", bytes.NewReader(content), map[string]string{"Content-Type": "image/png"}); r.status != 401 || r.code(t) != "missing_credentials" {
		t.Errorf("unsigned upload = %d %s", r.status, r.body)
	}
	if fs, contents := e.stored(dir); len(fs) != 0 || len(contents) != 0 {
		t.Fatalf("stored after refused uploads: %+v %v", fs, contents)
	}
	// Signed: a non-member is refused after the check, a member accepted.
	if r := upload("/v1/files?conv_id=g:hikers&user_id=cat", content, ""); r.status != http.StatusForbidden || r.code(t) != "forbidden" {
		t.Errorf("upload on behalf of a non-member = %d %s", r.status, r.body)
	}
	if r := upload("/v1/files?conv_id=g:hikers&user_id=zed", content, ""); r.status != http.StatusNotFound || r.code(t) != "user_not_found" {
		t.Errorf("upload on behalf of nobody = %d %s", r.status, r.body)
	}
	nonce := nextNonce()
	f := decodeFile(t, upload("/v1/files?conv_id=g:hikers&user_id=bob&name=map.png", content, nonce), http.StatusCreated).File
	if f.UploaderID != "bob" || f.Name != "map.png" || f.Size != int64(len(content)) {
		t.Errorf("server upload = %+v", f)
	}
	if r := upload("/v1/files?conv_id=g:hikers&user_id=bob&name=map.png", content, nonce); r.status != http.StatusUnauthorized || r.code(t) != "nonce_replayed" {
		t.Errorf("replayed upload = %d %s", r.status, r.body)
	}
	sys := decodeFile(t, upload("/v1/files?conv_id=s:cat", content, ""), http.StatusCreated).File
	if sys.UploaderID != "" || sys.ConvID != "s:cat" {
		t.Errorf("system upload = %+v", sys)
	}
	if r := e.send("GET", f.URL, nil, nil); r.status != http.StatusOK || !bytes.Equal(r.body, content) {
		t.Errorf("download of the server's URL = %d", r.status)
	}

	// Get, with a URL bound to a member or not.
	g := decodeFile(t, e.do(e.a, req{method: "GET", target: "/v1/files/" + f.ID + "?ttl_seconds=60&user_id=ann"}), http.StatusOK).File
	if g.ID != f.ID || g.URLExpiresAt.Sub(e.clock()) != time.Minute || !strings.Contains(g.URL, "user=ann") {
		t.Errorf("get = %+v", g)
	}
	for target, code := range map[string]string{
		"/v1/files/" + f.ID + "?user_id=cat":           "forbidden",
		"/v1/files/" + f.ID + "?ttl_seconds=999999999": "validation_failed",
		"/v1/files/f_nope":                             "file_not_found",
	} {
		if r := e.do(e.a, req{method: "GET", target: target}); r.code(t) != code {
			t.Errorf("GET %s = %d %s, want %s", target, r.status, r.body, code)
		}
	}
	if r := e.do(e.b, req{method: "GET", target: "/v1/files/" + f.ID}); r.code(t) != "file_not_found" {
		t.Errorf("another app's GET = %d %s", r.status, r.body)
	}

	// List.
	var page struct {
		Files []struct {
			ID string `json:"id"`
		} `json:"files"`
		Next string `json:"next_cursor"`
	}
	r := e.do(e.a, req{method: "GET", target: "/v1/files?conv_id=g:hikers"})
	if json.Unmarshal(r.body, &page); r.status != 200 || len(page.Files) != 1 || page.Files[0].ID != f.ID {
		t.Errorf("list of g:hikers = %d %s", r.status, r.body)
	}
	r = e.do(e.a, req{method: "GET", target: "/v1/files?limit=1"})
	if json.Unmarshal(r.body, &page); len(page.Files) != 1 || page.Next == "" {
		t.Errorf("first page = %s", r.body)
	}
	if r := e.do(e.b, req{method: "GET", target: "/v1/files"}); !strings.Contains(string(r.body), `"files":[]`) {
		t.Errorf("another app's list = %s", r.body)
	}

	// Delete.
	if r := e.do(e.b, req{method: "DELETE", target: "/v1/files/" + f.ID}); r.code(t) != "file_not_found" {
		t.Errorf("another app's DELETE = %d %s", r.status, r.body)
	}
	if r := e.do(e.a, req{method: "DELETE", target: "/v1/files/" + f.ID}); r.status != http.StatusNoContent {
		t.Errorf("DELETE = %d %s", r.status, r.body)
	}
	if r := e.send("GET", f.URL, nil, nil); r.status != http.StatusNotFound {
		t.Errorf("download after DELETE = %d", r.status)
	}
	if fs, contents := e.stored(dir); len(fs) != 1 || len(contents) != 1 {
		t.Errorf("after DELETE: files %+v, contents %v; want the system file only", fs, contents)
	}
}

// TestFilesFollowMembership: a member's URL stops working once the member
// is removed from the group, long before it expires; a one-to-one chat
// may begin with a file.
func TestFilesFollowMembership(t *testing.T) {
	e, _ := filesEnv(t)
	f := decodeFile(t, e.clientUpload(e.a, "ann", "conv_id=g:hikers", "image/png", pngBytes(100)), http.StatusCreated).File
	bob := e.login(e.a, "bob", "d1")
	link := getFileURL(bob, f.ID, 7*24*3600).GetFileLink()
	if r := e.send("GET", link.GetUrl(), nil, nil); r.status != http.StatusOK {
		t.Fatalf("bob's download = %d", r.status)
	}
	if r := e.do(e.a, req{method: "DELETE", target: "/v1/groups/hikers/members/bob"}); r.status != http.StatusNoContent && r.status != http.StatusOK {
		t.Fatalf("remove bob: %d %s", r.status, r.body)
	}
	if r := e.send("GET", link.GetUrl(), nil, nil); r.status != http.StatusForbidden || r.code(t) != "forbidden" {
		t.Errorf("bob's URL after his removal = %d %s", r.status, r.body)
	}
	bob.expectError(bob.request(&magpiev1.Frame{Body: &magpiev1.Frame_GetFileUrl{GetFileUrl: &magpiev1.GetFileUrl{FileId: f.ID}}}), "forbidden")
	// The uploader's own URL still works.
	if r := e.send("GET", f.URL, nil, nil); r.status != http.StatusOK {
		t.Errorf("ann's URL after bob's removal = %d", r.status)
	}

	// A first message that is a photo: upload to the conversation before
	// it exists, send, and the peer gets the URL.
	p := decodeFile(t, e.clientUpload(e.a, "cat", "conv_id=p:ann:cat", "image/png", pngBytes(100)), http.StatusCreated).File
	cat := e.login(e.a, "cat", "d1")
	img := fmt.Sprintf(`{"url":"magpie-file:%s","width":1,"height":1,"size":100,"mime":"image/png"}`, p.ID)
	if ack := cat.reply(cat.request(&magpiev1.Frame{Body: &magpiev1.Frame_Send{Send: &magpiev1.Send{
		ClientMsgId: "c1", ToUserId: "ann", Type: "image", Content: img}}})); ack.GetSendAck() == nil {
		t.Fatalf("first message with a photo = %v", ack)
	}
	ann := e.login(e.a, "ann", "d1")
	if l := getFileURL(ann, p.ID, 0).GetFileLink(); l == nil {
		t.Error("ann gets no URL of cat's photo")
	}
	bob.expectError(bob.request(&magpiev1.Frame{Body: &magpiev1.Frame_GetFileUrl{GetFileUrl: &magpiev1.GetFileUrl{FileId: p.ID}}}), "forbidden")
}

// TestFilesGoWithTheirUser: erasing a user deletes its uploads (content
// and metadata); deleting without erasure keeps them in the others'
// history, minus what was in its system conversation.
func TestFilesGoWithTheirUser(t *testing.T) {
	e, dir := filesEnv(t)
	anns := decodeFile(t, e.clientUpload(e.a, "ann", "conv_id=g:hikers", "image/png", pngBytes(100)), http.StatusCreated).File
	bobs := decodeFile(t, e.clientUpload(e.a, "bob", "conv_id=g:hikers", "image/png", pngBytes(100)), http.StatusCreated).File
	r := e.do(e.a, req{method: "DELETE", target: "/v1/users/bob"})
	if r.status != http.StatusNoContent {
		t.Fatalf("delete bob: %d %s", r.status, r.body)
	}
	if r := e.send("GET", bobs.URL, nil, nil); r.status != http.StatusForbidden {
		t.Errorf("deleted bob's own URL = %d, want 403 (made for him)", r.status)
	}
	if r := e.do(e.a, req{method: "GET", target: "/v1/files/" + bobs.ID}); r.status != http.StatusOK {
		t.Errorf("bob's file after his deletion without erasure = %d, want kept", r.status)
	}
	r = e.do(e.a, req{method: "DELETE", target: "/v1/users/ann?erase_messages=true"})
	if r.status != http.StatusNoContent {
		t.Fatalf("erase ann: %d %s", r.status, r.body)
	}
	if r := e.do(e.a, req{method: "GET", target: "/v1/files/" + anns.ID}); r.status != http.StatusNotFound {
		t.Errorf("ann's file after her erasure = %d, want 404", r.status)
	}
	if fs, contents := e.stored(dir); len(fs) != 1 || fs[0].ID != bobs.ID || len(contents) != 1 {
		t.Errorf("after the deletions: files %+v, contents %v; want bob's only", fs, contents)
	}
}

// TestFilesCORSAndOrigins: browsers get their preflight answered; an app
// with allowed origins refuses uploads from others.
func TestFilesCORSAndOrigins(t *testing.T) {
	e, _ := filesEnv(t)
	r := e.send("OPTIONS", "/v1/client/files", nil, map[string]string{"Origin": "https://chat.example",
		"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization,content-type"})
	if r.status != http.StatusNoContent || r.header.Get("Access-Control-Allow-Origin") != "https://chat.example" ||
		!strings.Contains(r.header.Get("Access-Control-Allow-Headers"), "Authorization") {
		t.Errorf("preflight = %d %v", r.status, r.header)
	}
	if _, err := e.tenants.UpdateApp(context.Background(), e.a.ID, tenant.AppUpdate{Settings: &store.Settings{AllowedOrigins: []string{"https://chat.example"}}}); err != nil {
		t.Fatal(err)
	}
	h := map[string]string{"Authorization": "Bearer " + e.tokenFor(e.a, "ann"), "Content-Type": "image/png"}
	h["Origin"] = "https://evil.example"
	if r := e.send("POST", "/v1/client/files?conv_id=g:hikers", bytes.NewReader(pngBytes(10)), h); r.status != http.StatusForbidden {
		t.Errorf("upload from a foreign origin = %d %s", r.status, r.body)
	}
	h["Origin"] = "https://chat.example"
	r = e.send("POST", "/v1/client/files?conv_id=g:hikers", bytes.NewReader(pngBytes(10)), h)
	if r.status != http.StatusCreated || r.header.Get("Access-Control-Allow-Origin") != "https://chat.example" {
		t.Errorf("upload from the app's origin = %d %s %v", r.status, r.body, r.header)
	}
}

// TestFilesUnavailable: without file storage the routes and frames say so.
func TestFilesUnavailable(t *testing.T) {
	e := newEnv(t)
	e.mustCreateUser(e.a, "ann")
	if r := e.send("POST", "/v1/client/files?conv_id=p:ann:ann", bytes.NewReader(pngBytes(10)),
		map[string]string{"Authorization": "Bearer " + e.tokenFor(e.a, "ann")}); r.status != 503 || r.code(t) != "files_unavailable" {
		t.Errorf("client upload = %d %s", r.status, r.body)
	}
	if r := e.do(e.a, req{method: "GET", target: "/v1/files/f_1"}); r.status != 503 || r.code(t) != "files_unavailable" {
		t.Errorf("server GET = %d %s", r.status, r.body)
	}
	ann := e.login(e.a, "ann", "d1")
	ann.expectError(ann.request(&magpiev1.Frame{Body: &magpiev1.Frame_GetFileUrl{GetFileUrl: &magpiev1.GetFileUrl{FileId: "f_1"}}}), "unavailable")
}

// TestFilesRateLimit: a user's uploads are limited (burst 10 at 1/s here);
// the refused one stores nothing and says when to retry.
func TestFilesRateLimit(t *testing.T) {
	e, dir := filesEnv(t, func(c *gateway.Config) { c.UploadsPerUser = 1 })
	for i := range 10 {
		if r := e.clientUpload(e.a, "ann", "conv_id=g:hikers", "image/png", pngBytes(10)); r.status != http.StatusCreated {
			t.Fatalf("upload %d = %d %s", i, r.status, r.body)
		}
	}
	r := e.clientUpload(e.a, "ann", "conv_id=g:hikers", "image/png", pngBytes(10))
	if r.status != http.StatusTooManyRequests || r.code(t) != "rate_limited" || r.header.Get("Retry-After") == "" {
		t.Errorf("11th upload = %d %s", r.status, r.body)
	}
	if r := e.clientUpload(e.a, "bob", "conv_id=g:hikers", "image/png", pngBytes(10)); r.status != http.StatusCreated {
		t.Errorf("bob's upload while ann is limited = %d %s", r.status, r.body)
	}
	if fs, _ := e.stored(dir); len(fs) != 11 {
		t.Errorf("%d files stored, want 11", len(fs))
	}
}
