// Package blobtest is the conformance suite of blob.Store: every backend
// (the local file system, an S3-compatible one) runs it from its tests,
//
//	func TestConformance(t *testing.T) {
//		blobtest.Run(t, func(t *testing.T) blob.Store { return openFresh(t) })
//	}
package blobtest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/magpie-im/magpie/internal/blob"
)

// Run runs the suite; open returns a new, empty store for each subtest.
func Run(t *testing.T, open func(t *testing.T) blob.Store) {
	tests := []struct {
		name string
		run  func(t *testing.T, s blob.Store)
	}{
		{"RoundTrip", testRoundTrip},
		{"Seek", testSeek},
		{"Replace", testReplace},
		{"FailedPutStoresNothing", testFailedPut},
		{"CanceledPutStoresNothing", testCanceledPut},
		{"Delete", testDelete},
		{"InvalidKeys", testInvalidKeys},
		{"Empty", testEmpty},
		{"Prefixes", testPrefixes},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, open(t)) })
	}
}

// read returns what is stored under key, or the error of Open.
func read(t *testing.T, s blob.Store, key string) ([]byte, error) {
	t.Helper()
	o, err := s.Open(t.Context(), key)
	if err != nil {
		return nil, err
	}
	defer o.Close()
	b, err := io.ReadAll(o)
	if err != nil {
		t.Fatalf("read %s: %v", key, err)
	}
	if int64(len(b)) != o.Size() {
		t.Errorf("%s: Size() = %d, read %d bytes", key, o.Size(), len(b))
	}
	if o.ModTime().IsZero() {
		t.Errorf("%s: ModTime() is zero", key)
	}
	return b, nil
}

func put(t *testing.T, s blob.Store, key string, data []byte) {
	t.Helper()
	n, err := s.Put(t.Context(), key, bytes.NewReader(data))
	if err != nil || n != int64(len(data)) {
		t.Fatalf("Put(%s, %d bytes) = %d, %v", key, len(data), n, err)
	}
}

func testRoundTrip(t *testing.T, s blob.Store) {
	data := bytes.Repeat([]byte("magpie\x00\xff"), 100_000) // 800 kB
	put(t, s, "app_1/ab/f_1", data)
	got, err := read(t, s, "app_1/ab/f_1")
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("Open after Put = %d bytes, %v; want the %d bytes put", len(got), err, len(data))
	}
	// A reader returning short reads stores the same.
	if _, err := s.Put(t.Context(), "app_1/ab/f_2", iotest.OneByteReader(bytes.NewReader(data[:5000]))); err != nil {
		t.Fatal(err)
	}
	if got, err := read(t, s, "app_1/ab/f_2"); err != nil || !bytes.Equal(got, data[:5000]) {
		t.Fatalf("Open(f_2) = %d bytes, %v", len(got), err)
	}
}

func testSeek(t *testing.T, s blob.Store) {
	put(t, s, "a/k", []byte("0123456789"))
	o, err := s.Open(t.Context(), "a/k")
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	if _, err := o.Seek(4, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 3)
	if _, err := io.ReadFull(o, b); err != nil || string(b) != "456" {
		t.Errorf("read at 4 = %q, %v; want 456", b, err)
	}
	if end, err := o.Seek(0, io.SeekEnd); err != nil || end != 10 {
		t.Errorf("Seek(0, end) = %d, %v; want 10", end, err)
	}
}

func testReplace(t *testing.T, s blob.Store) {
	put(t, s, "a/k", []byte("first"))
	put(t, s, "a/k", []byte("second"))
	if got, err := read(t, s, "a/k"); err != nil || string(got) != "second" {
		t.Errorf("after two Puts = %q, %v; want second", got, err)
	}
}

// failAtEOF yields its data, then fails instead of returning io.EOF: a
// content refused after its last byte.
type failAtEOF struct {
	r   io.Reader
	err error
}

func (f *failAtEOF) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if errors.Is(err, io.EOF) {
		return n, f.err
	}
	return n, err
}

func testFailedPut(t *testing.T, s blob.Store) {
	refused := errors.New("refused")
	n, err := s.Put(t.Context(), "a/new", &failAtEOF{r: strings.NewReader("all the bytes"), err: refused})
	if !errors.Is(err, refused) {
		t.Errorf("Put with a failing reader = %d, %v; want the reader's error", n, err)
	}
	if _, err := s.Open(t.Context(), "a/new"); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("Open after a failed Put = %v, want ErrNotFound", err)
	}
	// A failed Put leaves the earlier content as it was.
	put(t, s, "a/old", []byte("kept"))
	if _, err := s.Put(t.Context(), "a/old", iotest.ErrReader(refused)); !errors.Is(err, refused) {
		t.Errorf("Put over a content with a failing reader = %v", err)
	}
	if got, err := read(t, s, "a/old"); err != nil || string(got) != "kept" {
		t.Errorf("after a failed replacement = %q, %v; want kept", got, err)
	}
}

func testCanceledPut(t *testing.T, s blob.Store) {
	ctx, cancel := context.WithCancel(t.Context())
	pr, pw := io.Pipe()
	go func() {
		_, _ = pw.Write([]byte("partial"))
		cancel()
		_, _ = pw.Write([]byte("more")) // fails once Put has stopped reading
		_ = pw.Close()
	}()
	if _, err := s.Put(ctx, "a/k", pr); err == nil {
		t.Error("Put with a context canceled mid-stream succeeded")
	}
	_ = pr.Close()
	if _, err := s.Open(t.Context(), "a/k"); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("Open after a canceled Put = %v, want ErrNotFound", err)
	}
}

func testDelete(t *testing.T, s blob.Store) {
	put(t, s, "a/k", []byte("x"))
	if err := s.Delete(t.Context(), "a/k"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Open(t.Context(), "a/k"); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("Open after Delete = %v, want ErrNotFound", err)
	}
	if err := s.Delete(t.Context(), "a/k"); err != nil {
		t.Errorf("Delete of nothing = %v, want nil", err)
	}
}

func testInvalidKeys(t *testing.T, s blob.Store) {
	for _, k := range []string{"", "/a", "a/", "a//b", "../a", "a/../b", ".", "a/.", "a\\b", "a b", "a/.tmp",
		"é", strings.Repeat("x", 129), "1/2/3/4/5/6/7/8/9"} {
		if _, err := s.Put(t.Context(), k, strings.NewReader("x")); !errors.Is(err, blob.ErrInvalidKey) {
			t.Errorf("Put(%q) = %v, want ErrInvalidKey", k, err)
		}
		if _, err := s.Open(t.Context(), k); !errors.Is(err, blob.ErrInvalidKey) {
			t.Errorf("Open(%q) = %v, want ErrInvalidKey", k, err)
		}
		if err := s.Delete(t.Context(), k); !errors.Is(err, blob.ErrInvalidKey) {
			t.Errorf("Delete(%q) = %v, want ErrInvalidKey", k, err)
		}
	}
}

func testEmpty(t *testing.T, s blob.Store) {
	put(t, s, "a/empty", nil)
	if got, err := read(t, s, "a/empty"); err != nil || len(got) != 0 {
		t.Errorf("empty content = %q, %v", got, err)
	}
	if _, err := s.Open(t.Context(), "a/never"); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("Open(never put) = %v, want ErrNotFound", err)
	}
}

// testPrefixes: a key and a longer key sharing its prefix are
// independent contents.
func testPrefixes(t *testing.T, s blob.Store) {
	put(t, s, "app_A/x/f_1", []byte("A"))
	put(t, s, "app_B/x/f_1", []byte("B"))
	if got, _ := read(t, s, "app_A/x/f_1"); string(got) != "A" {
		t.Errorf("app_A/x/f_1 = %q", got)
	}
	if err := s.Delete(t.Context(), "app_B/x/f_1"); err != nil {
		t.Fatal(err)
	}
	if got, _ := read(t, s, "app_A/x/f_1"); string(got) != "A" {
		t.Errorf("app_A/x/f_1 after deleting B's = %q", got)
	}
}
