package store

import (
	"context"
	"time"
)

// FileStore keeps the metadata of an app's uploaded files (package files);
// their contents are in a blob store, under keys the files service derives
// from the app and file ids. It is part of AppStore, so every method is
// scoped to one app.
type FileStore interface {
	// CreateFile stores f; ErrConflict if the app has a file with this id.
	CreateFile(ctx context.Context, f File) error
	// GetFile returns a file, or ErrNotFound.
	GetFile(ctx context.Context, id string) (File, error)
	// DeleteFile removes a file's metadata; ErrNotFound if there is none.
	DeleteFile(ctx context.Context, id string) error
	// ListFiles returns up to q.Limit files with id > q.After, by id:
	// those of one uploader (q.UploaderID), or shared to one conversation
	// (q.ConvID), or both, or every file of the app when both are empty.
	ListFiles(ctx context.Context, q FileQuery) ([]File, error)
}

// File is an uploaded file's metadata.
type File struct {
	ID string
	// UploaderID is the user who uploaded it; empty when the app's backend
	// uploaded it for nobody in particular.
	UploaderID string
	// ConvID is the conversation it is shared to: its members may get its
	// URL, and messages of that conversation only may reference it.
	ConvID      string
	Name        string
	ContentType string
	Size        int64
	SHA256      string // hex, lower case
	CreatedAt   time.Time
}

// FileQuery selects files for ListFiles.
type FileQuery struct {
	UploaderID string
	ConvID     string
	After      string
	Limit      int
}
