package sqlite

import (
	"context"
	"fmt"

	"github.com/magpie-im/magpie/internal/store"
)

const fileColumns = `id, uploader_id, conv_id, name, content_type, size, sha256, created_at`

// CreateFile stores a file's metadata; see store.FileStore.
func (a *appStore) CreateFile(ctx context.Context, f store.File) error {
	_, err := a.exec(ctx, `INSERT INTO files (app_id, `+fileColumns+`) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)`,
		f.ID, f.UploaderID, f.ConvID, f.Name, f.ContentType, f.Size, f.SHA256, ms(f.CreatedAt))
	if err != nil {
		return fmt.Errorf("create file %s: %w", f.ID, translate(err))
	}
	return nil
}

// GetFile returns a file's metadata; see store.FileStore.
func (a *appStore) GetFile(ctx context.Context, id string) (store.File, error) {
	f, err := scanFile(a.queryRow(ctx, `SELECT `+fileColumns+` FROM files WHERE app_id = ?1 AND id = ?2`, id))
	if err != nil {
		return store.File{}, fmt.Errorf("get file %s: %w", id, translate(err))
	}
	return f, nil
}

// DeleteFile removes a file's metadata; see store.FileStore.
func (a *appStore) DeleteFile(ctx context.Context, id string) error {
	res, err := a.exec(ctx, `DELETE FROM files WHERE app_id = ?1 AND id = ?2`, id)
	if err := mustAffect(res, err); err != nil {
		return fmt.Errorf("delete file %s: %w", id, translate(err))
	}
	return nil
}

// ListFiles returns a page of files; see store.FileStore.
func (a *appStore) ListFiles(ctx context.Context, q store.FileQuery) ([]store.File, error) {
	from, where, args := `files`, ``, []any{q.After, q.Limit}
	switch {
	case q.UploaderID != "":
		from, where, args = `files INDEXED BY files_uploader`, ` AND uploader_id = ?4`, append(args, q.UploaderID)
		if q.ConvID != "" {
			where, args = where+` AND conv_id = ?5`, append(args, q.ConvID)
		}
	case q.ConvID != "":
		from, where, args = `files INDEXED BY files_conv`, ` AND conv_id = ?4`, append(args, q.ConvID)
	}
	rows, err := a.query(ctx, `SELECT `+fileColumns+` FROM `+from+` WHERE app_id = ?1 AND id > ?2`+where+
		` ORDER BY id LIMIT ?3`, args...)
	if err != nil {
		return nil, fmt.Errorf("list files: %w", translate(err))
	}
	out, err := collect(rows, scanFile)
	if err != nil {
		return nil, fmt.Errorf("list files: %w", translate(err))
	}
	return out, nil
}

func scanFile(r scanner) (store.File, error) {
	var f store.File
	var created int64
	err := r.Scan(&f.ID, &f.UploaderID, &f.ConvID, &f.Name, &f.ContentType, &f.Size, &f.SHA256, &created)
	f.CreatedAt = fromMS(created)
	return f, err
}
