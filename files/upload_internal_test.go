package files

import (
	"net/http"
	"strings"
	"testing"
)

var (
	pngHead  = "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"
	jpegHead = "\xff\xd8\xff\xe0\x00\x10JFIF\x00"
	pdfHead  = "%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"
	htmlHead = "<!DOCTYPE html><html><script>alert(1)</script>"
	mp4Head  = "\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"
	zipHead  = "PK\x03\x04\x14\x00\x06\x00"
	binHead  = "\x00\x01\x02\x03\xfe\xff\x10\x11"
)

func TestResolveType(t *testing.T) {
	for _, tc := range []struct {
		declared, content, name string
		want, code              string
	}{
		// Declared and content agree.
		{"image/png", pngHead, "a.png", "image/png", ""},
		{"IMAGE/JPG", jpegHead, "a.jpg", "image/jpeg", ""},
		{"image/jpeg; charset=x", jpegHead, "", "image/jpeg", ""},
		{"application/pdf", pdfHead, "a.pdf", "application/pdf", ""},
		{"video/mp4", mp4Head, "a.mp4", "video/mp4", ""},
		{"audio/mp4", binHead, "a.m4a", "audio/mp4", ""},
		{"text/plain", htmlHead, "page.txt", "text/plain", ""},
		{"image/heic", binHead, "a.heic", "image/heic", ""},
		{"image/svg+xml", `<?xml version="1.0"?><svg/>`, "a.svg", "image/svg+xml", ""},
		{"image/svg+xml", `<!-- made by hand --><svg/>`, "a.svg", "image/svg+xml", ""},
		{"application/vnd.openxmlformats-officedocument.wordprocessingml.document", zipHead, "a.docx",
			"application/vnd.openxmlformats-officedocument.wordprocessingml.document", ""},
		// No declared type: the content's, or the name's.
		{"", pngHead, "photo", "image/png", ""},
		{"application/octet-stream", pdfHead, "x.bin", "application/pdf", ""},
		{"", "hello, world", "notes.txt", "text/plain", ""},
		{"", `{"a":1}`, "data.json", "application/json", ""},
		{"", "plain words", "photo.png", "text/plain", ""}, // an image name does not make text an image
		{"", binHead, "blob", "application/octet-stream", ""},
		// Contradictions.
		{"image/png", jpegHead, "a.png", "", CodeTypeMismatch},
		{"image/png", pdfHead, "a.png", "", CodeTypeMismatch},
		{"application/pdf", pngHead, "a.pdf", "", CodeTypeMismatch},
		{"image/heic", htmlHead, "a.heic", "", CodeTypeMismatch},
		{"image/gif", "GIF89a" + htmlHead, "a.gif", "image/gif", ""},
		{"image/webp", htmlHead, "a.webp", "", CodeTypeMismatch},
		{"video/mp4", htmlHead, "a.mp4", "", CodeTypeMismatch},
		{"audio/mpeg", pdfHead, "a.mp3", "", CodeTypeMismatch},
		{"image/avif", "plain text pretending", "a.avif", "", CodeTypeMismatch},
		// Not a media type at all.
		{"png", pngHead, "a.png", "", CodeInvalidArgument},
		{"image/*", pngHead, "a.png", "", CodeInvalidArgument},
	} {
		got, err := resolveType(tc.declared, http.DetectContentType([]byte(tc.content)), tc.name)
		code := ""
		if err != nil {
			code = err.Code
		}
		if got != tc.want || code != tc.code {
			t.Errorf("resolveType(%q, content %.12q, %q) = %q, %v; want %q, %q", tc.declared, tc.content, tc.name, got, err, tc.want, tc.code)
		}
	}
}

func TestFileName(t *testing.T) {
	for _, tc := range []struct{ in, typ, want string }{
		{"photo.jpg", "image/jpeg", "photo.jpg"},
		{"C:\\Users\\ann\\Desktop\\report.pdf", "application/pdf", "report.pdf"},
		{"../../etc/passwd", "text/plain", "passwd"},
		{"  .hidden  ", "text/plain", "hidden"},
		{"gpj.\u202eexe.png", "image/png", "gpj.exe.png"},
		{"tab\there\x00nul", "text/plain", "tabherenul"},
		{"café ☕.png", "image/png", "café ☕.png"},
		{"\xff\xfe", "image/png", "file.png"},
		{"", "application/pdf", "file.pdf"},
		{"", "application/x-unknown-thing", "file"},
		{strings.Repeat("é", 200) + ".txt", "text/plain", strings.Repeat("é", 127)},
	} {
		if got := fileName(tc.in, tc.typ); got != tc.want {
			t.Errorf("fileName(%q, %s) = %q, want %q", tc.in, tc.typ, got, tc.want)
		}
	}
}

func TestValidConvID(t *testing.T) {
	for id, want := range map[string]bool{
		"p:alice:bob": true, "g:hikers": true, "s:alice": true, "g:a.b@c-d_e": true,
		"": false, "alice": false, "x:alice": false, "p:": false, "g:hi kers": false, "g:../x": false,
		"g:" + strings.Repeat("x", 200): false,
	} {
		if got := validConvID(id); got != want {
			t.Errorf("validConvID(%q) = %v, want %v", id, got, want)
		}
	}
}
