package observe

import (
	"context"

	"github.com/magpie-im/magpie/internal/store"
)

func (a *appStore) CreateFile(ctx context.Context, f store.File) error {
	ctx, c := a.begin(ctx, "CreateFile")
	return c.end(ctx, a.as.CreateFile(ctx, f))
}

func (a *appStore) GetFile(ctx context.Context, id string) (store.File, error) {
	ctx, c := a.begin(ctx, "GetFile")
	f, err := a.as.GetFile(ctx, id)
	return f, c.end(ctx, err)
}

func (a *appStore) DeleteFile(ctx context.Context, id string) error {
	ctx, c := a.begin(ctx, "DeleteFile")
	return c.end(ctx, a.as.DeleteFile(ctx, id))
}

func (a *appStore) ListFiles(ctx context.Context, q store.FileQuery) ([]store.File, error) {
	ctx, c := a.begin(ctx, "ListFiles")
	fs, err := a.as.ListFiles(ctx, q)
	return fs, c.end(ctx, err)
}
