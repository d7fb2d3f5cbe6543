package mongo

import (
	"context"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/magpie-im/magpie/internal/store"
)

// collFiles holds one document per uploaded file (its metadata; the
// content is in the blob store).
const collFiles = "files"

func init() {
	collectionNames = append(collectionNames, collFiles)
	indexes[collFiles] = []index{
		// A user's uploads by id (ListFiles by uploader, user erasure).
		{name: "app_uploader_id", keys: bson.D{{Key: "_id.app", Value: 1}, {Key: "uploader", Value: 1}, {Key: "_id.id", Value: 1}}},
		// A conversation's files by id (ListFiles by conversation).
		{name: "app_conv_id", keys: bson.D{{Key: "_id.app", Value: 1}, {Key: "conv", Value: 1}, {Key: "_id.id", Value: 1}}},
		// The app's files by id (ListFiles of the whole app).
		{name: "app_id", keys: bson.D{{Key: "_id.app", Value: 1}, {Key: "_id.id", Value: 1}}},
	}
}

type fileDoc struct {
	ID          appKey    `bson:"_id"`
	Uploader    string    `bson:"uploader"`
	Conv        string    `bson:"conv"`
	Name        string    `bson:"name"`
	ContentType string    `bson:"content_type"`
	Size        int64     `bson:"size"`
	SHA256      string    `bson:"sha256"`
	CreatedAt   time.Time `bson:"created_at"`
}

func (d fileDoc) record() store.File {
	return store.File{ID: d.ID.ID, UploaderID: d.Uploader, ConvID: d.Conv, Name: d.Name, ContentType: d.ContentType,
		Size: d.Size, SHA256: d.SHA256, CreatedAt: utc(d.CreatedAt)}
}

func (a *appStore) files() *mongo.Collection {
	return a.s.client.Database(a.s.dbName).Collection(collFiles)
}

// CreateFile stores a file's metadata; see store.FileStore.
func (a *appStore) CreateFile(ctx context.Context, f store.File) error {
	_, err := a.files().InsertOne(ctx, fileDoc{ID: a.key(f.ID), Uploader: f.UploaderID, Conv: f.ConvID, Name: f.Name,
		ContentType: f.ContentType, Size: f.Size, SHA256: f.SHA256, CreatedAt: f.CreatedAt})
	if err != nil {
		return errorf(err, "create file %s", f.ID)
	}
	return nil
}

// GetFile returns a file's metadata; see store.FileStore.
func (a *appStore) GetFile(ctx context.Context, id string) (store.File, error) {
	d, err := findOne[fileDoc](ctx, a.files(), byID(a.key(id)))
	if err != nil {
		return store.File{}, fmt.Errorf("get file %s: %w", id, err)
	}
	return d.record(), nil
}

// DeleteFile removes a file's metadata; see store.FileStore.
func (a *appStore) DeleteFile(ctx context.Context, id string) error {
	res, err := a.files().DeleteOne(ctx, byID(a.key(id)))
	if err != nil {
		return errorf(err, "delete file %s", id)
	}
	if res.DeletedCount == 0 {
		return fmt.Errorf("delete file %s: %w", id, store.ErrNotFound)
	}
	return nil
}

// ListFiles returns a page of files; see store.FileStore.
func (a *appStore) ListFiles(ctx context.Context, q store.FileQuery) ([]store.File, error) {
	filter := a.scope(bson.E{Key: "_id.id", Value: bson.D{{Key: "$gt", Value: q.After}}})
	if q.UploaderID != "" {
		filter = append(filter, bson.E{Key: "uploader", Value: q.UploaderID})
	}
	if q.ConvID != "" {
		filter = append(filter, bson.E{Key: "conv", Value: q.ConvID})
	}
	ds, err := findAll[fileDoc](ctx, a.files(), filter, page("_id.id", q.Limit))
	if err != nil {
		return nil, fmt.Errorf("list files: %w", err)
	}
	return records(ds, fileDoc.record), nil
}
