package keyring

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestSealOpen(t *testing.T) {
	k, err := New(bytes.Repeat([]byte{7}, KeySize))
	if err != nil {
		t.Fatal(err)
	}
	sealed := k.Seal([]byte("msk_secret"), []byte("app_1"))
	if bytes.Contains(sealed, []byte("msk_secret")) {
		t.Fatal("sealed value contains the plaintext")
	}
	got, err := k.Open(sealed, []byte("app_1"))
	if err != nil || string(got) != "msk_secret" {
		t.Fatalf("Open = %q, %v, want msk_secret", got, err)
	}
	if _, err := k.Open(sealed, []byte("app_2")); !errors.Is(err, ErrOpen) {
		t.Fatalf("Open with other owner = %v, want ErrOpen", err)
	}
	sealed[len(sealed)-1] ^= 1
	if _, err := k.Open(sealed, []byte("app_1")); !errors.Is(err, ErrOpen) {
		t.Fatalf("Open tampered = %v, want ErrOpen", err)
	}
	if _, err := k.Open([]byte{1, 2}, nil); !errors.Is(err, ErrOpen) {
		t.Fatalf("Open short = %v, want ErrOpen", err)
	}
	other, _ := New(bytes.Repeat([]byte{8}, KeySize))
	if _, err := other.Open(k.Seal([]byte("x"), nil), nil); !errors.Is(err, ErrOpen) {
		t.Fatalf("Open under another key = %v, want ErrOpen", err)
	}
}

func TestNewRejectsShortKey(t *testing.T) {
	if _, err := New(make([]byte, 16)); err == nil {
		t.Fatal("New(16 bytes) succeeded, want error")
	}
}

func TestLoadOrCreate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "master.key")
	key, created, err := LoadOrCreate(path)
	if err != nil || !created || len(key) != KeySize {
		t.Fatalf("first LoadOrCreate = %d bytes, %v, %v", len(key), created, err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Fatalf("key file mode = %v, want 0600", perm)
	}
	again, created, err := LoadOrCreate(path)
	if err != nil || created || !bytes.Equal(again, key) {
		t.Fatalf("second LoadOrCreate = created %v, err %v, same key %v", created, err, bytes.Equal(again, key))
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadOrCreate(path); err == nil {
		t.Fatal("LoadOrCreate accepted a world-readable key file")
	}
}

func TestParseKey(t *testing.T) {
	for _, s := range []string{"", "not base64!", "AAAA"} {
		if _, err := ParseKey(s); err == nil {
			t.Errorf("ParseKey(%q) succeeded, want error", s)
		}
	}
}

func TestMAC(t *testing.T) {
	k, _ := New(bytes.Repeat([]byte{7}, KeySize))
	again, _ := New(bytes.Repeat([]byte{7}, KeySize))
	other, _ := New(bytes.Repeat([]byte{8}, KeySize))
	m := k.MAC("file-url\x00app_1", []byte("f_1"))
	if len(m) != 32 {
		t.Fatalf("MAC is %d bytes, want 32", len(m))
	}
	if !bytes.Equal(m, again.MAC("file-url\x00app_1", []byte("f_1"))) {
		t.Error("two keyrings with the same master key disagree")
	}
	for name, x := range map[string][]byte{
		"another purpose":    k.MAC("file-url\x00app_2", []byte("f_1")),
		"other data":         k.MAC("file-url\x00app_1", []byte("f_2")),
		"another master key": other.MAC("file-url\x00app_1", []byte("f_1")),
	} {
		if bytes.Equal(m, x) {
			t.Errorf("MAC with %s is the same", name)
		}
	}
}
