package main

import (
	"flag"
	"fmt"
	"net/url"
	"strings"
)

// filesFlags configure uploaded files: where their contents live, the
// operator's cap on their size, and the public base URL of signed file
// URLs.
type filesFlags struct {
	dir       string
	maxUpload int64
	publicURL string
}

func (f *filesFlags) register(fs *flag.FlagSet, dev bool) {
	if dev {
		fs.StringVar(&f.dir, "files-dir", "", "directory of uploaded files' contents; empty means <data>/files")
	} else {
		fs.StringVar(&f.dir, "files-dir", "", "directory of uploaded files' contents, on a volume every gateway mounts (ReadWriteMany); empty disables uploads (503 files_unavailable)")
	}
	fs.Int64Var(&f.maxUpload, "max-upload-bytes", 100<<20, "the operator's cap on one uploaded file, in bytes: no app may set max_upload_bytes above it (apps default to 20 MiB)")
	fs.StringVar(&f.publicURL, "public-url", "", "base URL clients reach the API at, such as https://im.example.com: signed file URLs are absolute under it; empty makes them relative")
}

// check validates the flags.
func (f filesFlags) check() error {
	if f.maxUpload < 1 {
		return fmt.Errorf("--max-upload-bytes must be positive")
	}
	if f.publicURL == "" {
		return nil
	}
	u, err := url.Parse(f.publicURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("--public-url %q: want an http or https URL without query, such as https://im.example.com", f.publicURL)
	}
	return nil
}

// base returns the public URL without a trailing slash.
func (f filesFlags) base() string { return strings.TrimRight(f.publicURL, "/") }
