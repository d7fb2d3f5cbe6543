package client_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/magpie-im/magpie/sdk/go/client"
	"github.com/magpie-im/magpie/sdk/go/serverapi"
)

// get downloads a URL with a plain GET, as an <img src> would.
func get(t *testing.T, url string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// TestFiles: ann starts a chat with a photo (uploaded before the chat
// exists), bob gets the message, a URL for the file and its bytes; the
// file survives a restart; others get nothing; ann deletes it.
func TestFiles(t *testing.T) {
	e := startEnv(t, "ann", "bob", "cat")
	ctx := context.Background()
	ann, bob, cat := e.newClient("ann", "ann-phone", "", nil), e.newClient("bob", "bob-phone", "", nil), e.newClient("cat", "cat-phone", "", nil)
	for _, c := range []*client.Client{ann, bob, cat} {
		run(t, c)
		next[client.Connected](t, c)
	}
	photo := append([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), bytes.Repeat([]byte{7}, 100_000)...)
	f, err := ann.UploadFile(ctx, client.FileUpload{ConvID: ann.ConvIDWith("bob"), Name: "beach.png", Body: bytes.NewReader(photo)})
	if err != nil {
		t.Fatalf("UploadFile = %v", err)
	}
	if f.ConvID != "p:ann:bob" || f.ContentType != "image/png" || f.Size != int64(len(photo)) || !strings.HasPrefix(f.URL, e.srv.URL+"/v1/files/") {
		t.Fatalf("uploaded %+v", f)
	}
	if status, b := get(t, f.URL); status != http.StatusOK || !bytes.Equal(b, photo) {
		t.Fatalf("ann's URL = %d, %d bytes", status, len(b))
	}
	img := client.ImageContent{URL: client.FileRef(f.ID), Width: 800, Height: 600, Size: f.Size, MIME: f.ContentType}
	if _, err := ann.SendTyped(ctx, "bob", img); err != nil {
		t.Fatalf("send the photo: %v", err)
	}
	msg := nextMessages(t, bob, 1)[0]
	var got client.ImageContent
	if err := client.DecodeContent(msg, &got); err != nil {
		t.Fatal(err)
	}
	id, ok := client.FileID(got.URL)
	if !ok || id != f.ID {
		t.Fatalf("bob's image URL = %q", got.URL)
	}
	e.restart(func() {})
	link, err := bob.FileURL(ctx, id, 10*time.Minute)
	if err != nil || link.Name != "beach.png" || link.SHA256 != f.SHA256 || time.Until(link.URLExpiresAt) > 10*time.Minute+time.Second {
		t.Fatalf("bob's FileURL = %+v, %v", link, err)
	}
	if status, b := get(t, link.URL); status != http.StatusOK || !bytes.Equal(b, photo) {
		t.Fatalf("bob's URL = %d, %d bytes", status, len(b))
	}
	_, err = cat.FileURL(ctx, id, 0)
	wantErrCode(t, err, "forbidden")
	_, err = bob.FileURL(ctx, "f_nope", 0)
	wantErrCode(t, err, "file_not_found")

	// Refusals come back as *Error with the HTTP status.
	_, err = cat.UploadFile(ctx, client.FileUpload{ConvID: "p:ann:bob", Name: "x.png", Body: bytes.NewReader(photo)})
	var ce *client.Error
	if !errors.As(err, &ce) || ce.Status != http.StatusForbidden || ce.Code != "forbidden" {
		t.Errorf("cat's upload to ann and bob = %v", err)
	}
	_, err = ann.UploadFile(ctx, client.FileUpload{ConvID: "p:ann:bob", Name: "x.png", Body: strings.NewReader("%PDF-1.4 not a PNG")})
	if !errors.As(err, &ce) || ce.Status != http.StatusUnsupportedMediaType || ce.Code != "file_type_mismatch" {
		t.Errorf("a PDF named x.png = %v", err)
	}
	// A body of unknown length streams.
	if _, err := ann.UploadFile(ctx, client.FileUpload{ConvID: "p:ann:bob", Name: "notes.txt", Body: io.MultiReader(strings.NewReader("hello"))}); err != nil {
		t.Errorf("upload of unknown length = %v", err)
	}

	wantErrCode(t, bob.DeleteFile(ctx, id), "forbidden")
	if err := ann.DeleteFile(ctx, id); err != nil {
		t.Fatal(err)
	}
	if status, _ := get(t, link.URL); status != http.StatusNotFound {
		t.Errorf("bob's URL after the deletion = %d, want 404", status)
	}
}

// TestFilesServerAPI: the backend uploads for a user (a seekable body and
// one that cannot seek), gets URLs, lists and deletes.
func TestFilesServerAPI(t *testing.T) {
	e := startEnv(t, "ann", "bob")
	ctx := context.Background()
	content := append([]byte("\xff\xd8\xff\xe0\x00\x10JFIF\x00"), bytes.Repeat([]byte{1}, 5000)...)
	f, err := e.api.UploadFile(ctx, serverapi.FileUpload{ConvID: "p:ann:bob", UserID: "ann", Name: "me.jpg", Body: bytes.NewReader(content)})
	if err != nil || f.UploaderID != "ann" || f.ContentType != "image/jpeg" || f.Size != int64(len(content)) {
		t.Fatalf("UploadFile = %+v, %v", f, err)
	}
	if status, b := get(t, f.URL); status != http.StatusOK || !bytes.Equal(b, content) {
		t.Fatalf("download = %d", status)
	}
	g, err := e.api.UploadFile(ctx, serverapi.FileUpload{ConvID: "s:bob", Name: "welcome.txt", Body: io.MultiReader(strings.NewReader("welcome"))})
	if err != nil || g.UploaderID != "" || g.ContentType != "text/plain" {
		t.Fatalf("UploadFile without seeking = %+v, %v", g, err)
	}
	u, err := e.api.FileURL(ctx, f.ID, serverapi.FileURLOptions{TTL: time.Minute, UserID: "bob"})
	if err != nil || !strings.Contains(u.URL, "user=bob") {
		t.Fatalf("FileURL = %+v, %v", u, err)
	}
	_, err = e.api.FileURL(ctx, f.ID, serverapi.FileURLOptions{UserID: "cat"})
	var ae *serverapi.Error
	if !errors.As(err, &ae) || ae.Code != "forbidden" {
		t.Errorf("FileURL for a stranger = %v", err)
	}
	fs, next, err := e.api.ListFiles(ctx, serverapi.FileQuery{ConvID: "p:ann:bob"})
	if err != nil || len(fs) != 1 || fs[0].ID != f.ID || next != "" {
		t.Errorf("ListFiles = %+v, %q, %v", fs, next, err)
	}
	_, err = e.api.UploadFile(ctx, serverapi.FileUpload{ConvID: "p:ann:bob", UserID: "ann", Name: "x.png", Body: bytes.NewReader(content)})
	if !errors.As(err, &ae) || ae.Code != "file_type_mismatch" {
		t.Errorf("a JPEG declared PNG = %v", err)
	}
	if err := e.api.DeleteFile(ctx, f.ID); err != nil {
		t.Fatal(err)
	}
	if status, _ := get(t, u.URL); status != http.StatusNotFound {
		t.Errorf("URL after DeleteFile = %d", status)
	}
	if err := e.api.DeleteFile(ctx, f.ID); !errors.As(err, &ae) || ae.Code != "file_not_found" {
		t.Errorf("DeleteFile again = %v", err)
	}
}
