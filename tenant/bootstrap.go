package tenant

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/magpie-im/magpie/internal/store"
)

const bootstrapKey = "bootstrap"

// Bootstrap describes an installation's first-start records. The password
// and secret are set only by the call that created them.
type Bootstrap struct {
	Created          bool   `json:"-"`
	OperatorEmail    string `json:"operator_email"`
	OperatorPassword string `json:"-"`
	TenantID         string `json:"tenant_id"`
	AppID            string `json:"app_id"`
	AppKey           string `json:"app_key"`
	AppSecret        string `json:"-"`
}

// EnsureBootstrap creates, on an installation's first start, an operator
// account, a demo tenant and a demo app. Later calls return what the first
// created, without secrets.
func (s *Service) EnsureBootstrap(ctx context.Context, operatorEmail string) (Bootstrap, error) {
	raw, err := s.store.GetMeta(ctx, bootstrapKey)
	if err == nil {
		var b Bootstrap
		if err := json.Unmarshal([]byte(raw), &b); err != nil {
			return Bootstrap{}, fmt.Errorf("decode bootstrap record: %w", err)
		}
		return b, nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return Bootstrap{}, fmt.Errorf("get bootstrap record: %w", err)
	}
	b := Bootstrap{Created: true, OperatorEmail: operatorEmail, OperatorPassword: newID("", 12)}
	if _, err := s.CreateMember(ctx, MemberInput{
		Email: operatorEmail, Name: "Operator", Role: store.RoleOperator, Password: b.OperatorPassword,
	}); err != nil {
		return Bootstrap{}, fmt.Errorf("create operator: %w", err)
	}
	t, err := s.CreateTenant(ctx, "Demo")
	if err != nil {
		return Bootstrap{}, err
	}
	app, sec, err := s.CreateApp(ctx, t.ID, "Demo app")
	if err != nil {
		return Bootstrap{}, err
	}
	b.TenantID, b.AppID, b.AppKey, b.AppSecret = t.ID, app.ID, app.Key, sec.Plain
	rec, err := json.Marshal(b)
	if err != nil {
		return Bootstrap{}, fmt.Errorf("encode bootstrap record: %w", err)
	}
	if err := s.store.PutMeta(ctx, bootstrapKey, string(rec)); err != nil {
		return Bootstrap{}, fmt.Errorf("put bootstrap record: %w", err)
	}
	s.log.InfoContext(ctx, "installation bootstrapped", "tenant_id", t.ID, "app_id", app.ID)
	return b, nil
}
