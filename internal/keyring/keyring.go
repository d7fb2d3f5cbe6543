// Package keyring owns the installation master key, the sealing of
// secrets at rest (app secrets, push credentials, webhook secrets) with
// AES-256-GCM under that key, and message authentication codes with keys
// derived from it (signed file URLs).
package keyring

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// KeySize is the master key length in bytes (AES-256).
const KeySize = 32

// ErrOpen is returned when a sealed value cannot be opened: it was sealed
// under another key or has been tampered with.
var ErrOpen = errors.New("keyring: cannot open sealed value")

// Keyring seals and opens small secrets. It is safe for concurrent use.
type Keyring struct {
	aead cipher.AEAD
	mac  []byte // the root of MAC keys, derived from the master key
}

// New returns a keyring for a 32-byte master key.
func New(key []byte) (*Keyring, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("keyring: master key is %d bytes, want %d", len(key), KeySize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("keyring: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("keyring: %w", err)
	}
	// A separate key for MACs, so that no key is used by two algorithms.
	mac, err := hkdf.Key(sha256.New, key, nil, "magpie keyring mac v1", sha256.Size)
	if err != nil {
		return nil, fmt.Errorf("keyring: %w", err)
	}
	return &Keyring{aead: aead, mac: mac}, nil
}

// MAC returns the HMAC-SHA256 of data under a key derived from the master
// key for the given purpose (such as "file-url" and an app id): MACs of
// one purpose do not verify for another, and none can be made without the
// master key. Every process of an installation computes the same MAC.
func (k *Keyring) MAC(purpose string, data []byte) []byte {
	sub := hmac.New(sha256.New, k.mac)
	sub.Write([]byte(purpose))
	m := hmac.New(sha256.New, sub.Sum(nil))
	m.Write(data)
	return m.Sum(nil)
}

// Seal encrypts plaintext. The additional data binds the sealed value to its
// owner (for example the app id), so a sealed value copied to another owner
// does not open.
func (k *Keyring) Seal(plaintext, additional []byte) []byte {
	nonce := make([]byte, k.aead.NonceSize(), k.aead.NonceSize()+len(plaintext)+k.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		panic(fmt.Sprintf("keyring: crypto/rand: %v", err)) // crypto/rand never fails on supported platforms
	}
	return k.aead.Seal(nonce, nonce, plaintext, additional)
}

// Open decrypts a value produced by Seal with the same additional data.
func (k *Keyring) Open(sealed, additional []byte) ([]byte, error) {
	n := k.aead.NonceSize()
	if len(sealed) < n+k.aead.Overhead() {
		return nil, ErrOpen
	}
	plain, err := k.aead.Open(nil, sealed[:n], sealed[n:], additional)
	if err != nil {
		return nil, ErrOpen
	}
	return plain, nil
}

// ParseKey decodes a master key given as standard base64.
func ParseKey(s string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil {
		return nil, fmt.Errorf("keyring: master key is not base64: %w", err)
	}
	if len(key) != KeySize {
		return nil, fmt.Errorf("keyring: master key is %d bytes, want %d", len(key), KeySize)
	}
	return key, nil
}

// Load reads the base64 master key stored at path. It refuses a key file
// readable by group or others.
func Load(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("keyring: %w", err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("keyring: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("keyring: %s is accessible by group or others (mode %v); chmod 600 it", path, fi.Mode().Perm())
	}
	return ParseKey(string(data))
}

// LoadOrCreate reads the base64 master key stored at path, creating the file
// (mode 0600) with a fresh random key when it does not exist. It reports
// whether it created the key. It refuses a key file readable by others.
func LoadOrCreate(path string) (key []byte, created bool, err error) {
	key, err = Load(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return key, false, err
	}
	key = make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, false, fmt.Errorf("keyring: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, false, fmt.Errorf("keyring: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, false, fmt.Errorf("keyring: %w", err)
	}
	if _, err := f.WriteString(base64.StdEncoding.EncodeToString(key) + "\n"); err != nil {
		f.Close()
		return nil, false, fmt.Errorf("keyring: write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, false, fmt.Errorf("keyring: sync %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return nil, false, fmt.Errorf("keyring: %w", err)
	}
	return key, true, nil
}
