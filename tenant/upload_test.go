package tenant_test

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/magpie-im/magpie/internal/keyring"
	"github.com/magpie-im/magpie/internal/store"
	"github.com/magpie-im/magpie/internal/store/sqlite"
	"github.com/magpie-im/magpie/tenant"
)

// TestUploadLimitsAndTypes: an app's upload limit defaults to 20 MiB, may
// not exceed the operator's cap, and is clamped to it; its upload types are
// media type patterns.
func TestUploadLimitsAndTypes(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	keys, _ := keyring.New(bytes.Repeat([]byte{3}, keyring.KeySize))
	s := tenant.New(st, keys, tenant.Config{MaxUploadBytes: 50 << 20})
	tn, _ := s.CreateTenant(ctx, "Acme")
	app, _, err := s.CreateApp(ctx, tn.ID, "Chat")
	if err != nil {
		t.Fatal(err)
	}
	if got := s.EffectiveLimits(app).MaxUploadBytes; got != 20<<20 {
		t.Errorf("default upload limit = %d, want 20 MiB", got)
	}
	if _, err := s.UpdateApp(ctx, app.ID, tenant.AppUpdate{Limits: &store.Limits{MaxUploadBytes: 50<<20 + 1}}); !errors.Is(err, tenant.ErrInvalid) ||
		!strings.Contains(err.Error(), "limits.max_upload_bytes") {
		t.Errorf("a limit above the cap = %v, want invalid limits.max_upload_bytes", err)
	}
	app, err = s.UpdateApp(ctx, app.ID, tenant.AppUpdate{Limits: &store.Limits{MaxUploadBytes: 1 << 20}})
	if err != nil || s.EffectiveLimits(app).MaxUploadBytes != 1<<20 {
		t.Errorf("a limit of 1 MiB = %v, effective %d", err, s.EffectiveLimits(app).MaxUploadBytes)
	}
	// An operator lowering the cap later clamps what apps set.
	lower := tenant.New(st, keys, tenant.Config{MaxUploadBytes: 1000})
	if got := lower.EffectiveLimits(app).MaxUploadBytes; got != 1000 {
		t.Errorf("effective limit under a lower cap = %d, want 1000", got)
	}
	if got := tenant.New(st, keys, tenant.Config{}).MaxUploadBytesCap(); got != tenant.DefaultMaxUploadBytesCap {
		t.Errorf("default cap = %d", got)
	}

	for _, ok := range [][]string{{"image/*"}, {"*/*"}, {"application/vnd.openxmlformats-officedocument.wordprocessingml.document", "text/plain"}} {
		if _, err := s.UpdateApp(ctx, app.ID, tenant.AppUpdate{Settings: &store.Settings{UploadTypes: ok}}); err != nil {
			t.Errorf("upload types %v = %v", ok, err)
		}
	}
	for _, bad := range [][]string{{"image"}, {"Image/PNG"}, {"*/png"}, {"image/"}, {"image/png; q=1"}, {""}, make([]string, 101)} {
		if _, err := s.UpdateApp(ctx, app.ID, tenant.AppUpdate{Settings: &store.Settings{UploadTypes: bad}}); !errors.Is(err, tenant.ErrInvalid) {
			t.Errorf("upload types %q = %v, want invalid", bad, err)
		}
	}
	if !store.MediaTypeMatches(store.Settings{}.AllowedUploadTypes(), "image/heic") ||
		store.MediaTypeMatches(store.Settings{}.AllowedUploadTypes(), "text/html") ||
		!store.MediaTypeMatches([]string{"*/*"}, "text/html") ||
		store.MediaTypeMatches([]string{"image/png"}, "image/jpeg") {
		t.Error("MediaTypeMatches disagrees with the patterns")
	}
}
