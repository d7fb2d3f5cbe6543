package store

import "strings"

// DefaultUploadTypes are the media types users may upload to an app that
// sets no Settings.UploadTypes: images, audio, video, PDF, plain text and
// CSV, JSON, ZIP archives and office documents.
var DefaultUploadTypes = []string{
	"image/*", "video/*", "audio/*",
	"application/pdf", "text/plain", "text/csv", "application/json", "application/zip",
	"application/msword", "application/vnd.ms-excel", "application/vnd.ms-powerpoint",
	"application/vnd.openxmlformats-officedocument.wordprocessingml.document",
	"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
	"application/vnd.openxmlformats-officedocument.presentationml.presentation",
}

// AllowedUploadTypes returns the media type patterns of the files users
// may upload: UploadTypes, or DefaultUploadTypes when it is empty.
func (s Settings) AllowedUploadTypes() []string {
	if len(s.UploadTypes) == 0 {
		return DefaultUploadTypes
	}
	return s.UploadTypes
}

// MediaTypeMatches reports whether the media type typ (lower case, without
// parameters) matches one of the patterns: "type/subtype" exactly,
// "type/*" any subtype of the type, "*/*" anything.
func MediaTypeMatches(patterns []string, typ string) bool {
	major, _, ok := strings.Cut(typ, "/")
	if !ok {
		return false
	}
	for _, p := range patterns {
		p = strings.ToLower(p)
		if p == "*/*" || p == typ || p == major+"/*" {
			return true
		}
	}
	return false
}
