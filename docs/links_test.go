package docs

import (
	"bufio"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode"
)

// TestLinks: every relative link in the repository's Markdown files (but
// node_modules) leads to a file or directory that exists, and a link with
// an anchor into a Markdown file to one of its headings.
func TestLinks(t *testing.T) {
	root := ".."
	var files []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "node_modules" || d.Name() == ".git") {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(p, ".md") {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 10 {
		t.Fatalf("found %d Markdown files under %s", len(files), root)
	}
	anchors := map[string]map[string]bool{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range linkRE.FindAllStringSubmatch(string(b), -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			path, anchor, _ := strings.Cut(target, "#")
			dest := f
			if path != "" {
				dest = filepath.Join(filepath.Dir(f), path)
			}
			if _, err := os.Stat(dest); err != nil {
				t.Errorf("%s: link %q: %v", f, target, err)
				continue
			}
			if anchor == "" || !strings.HasSuffix(dest, ".md") {
				continue
			}
			if anchors[dest] == nil {
				if anchors[dest], err = headingAnchors(dest); err != nil {
					t.Fatal(err)
				}
			}
			if !anchors[dest][anchor] {
				t.Errorf("%s: link %q: %s has no heading with that anchor", f, target, dest)
			}
		}
	}
}

// linkRE matches a Markdown link's target: ](target).
var linkRE = regexp.MustCompile(`\]\(([^)\s]+)\)`)

// headingAnchors returns the anchors of the Markdown file's headings
// (outside fenced code), as GitHub makes them: a repeated one gets -1,
// -2, … appended.
func headingAnchors(path string) (map[string]bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out, seen := map[string]bool{}, map[string]int{}
	fenced := false
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "```") {
			fenced = !fenced
		}
		level := len(line) - len(strings.TrimLeft(line, "#"))
		if fenced || level == 0 || level > 6 || !strings.HasPrefix(line[level:], " ") {
			continue
		}
		a := slug(line[level+1:])
		if n := seen[a]; n > 0 {
			out[fmt.Sprintf("%s-%d", a, n)] = true
		} else {
			out[a] = true
		}
		seen[a]++
	}
	return out, sc.Err()
}

// inlineLinkRE matches an inline link, whose text alone stays in a
// heading's anchor.
var inlineLinkRE = regexp.MustCompile(`\[([^\]]*)\]\([^)]*\)`)

// slug is GitHub's anchor of a heading's text (github-slugger): lower
// case, without punctuation but hyphens and underscores, symbols, and
// separators but spaces, which become hyphens. An en dash is dropped, so
// "01:55–02:15" becomes "01550215".
func slug(heading string) string {
	heading = inlineLinkRE.ReplaceAllString(strings.TrimSpace(heading), "$1")
	var b strings.Builder
	for _, r := range strings.ToLower(heading) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-', r == '_':
			b.WriteRune(r)
		case unicode.In(r, unicode.P, unicode.S, unicode.Cc, unicode.Co, unicode.Cf, unicode.Z, unicode.No):
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// TestSlug pins slug to the anchors GitHub makes.
func TestSlug(t *testing.T) {
	for heading, want := range map[string]string{
		"Upgrades without the router (2026-12-04, 01:55–02:15 UTC)": "upgrades-without-the-router-2026-12-04-01550215-utc",
		"One-to-one at 14,000/s: `magpie bench`":                    "one-to-one-at-14000s-magpie-bench",
		"The [fold](#x) and magpie_connections":                     "the-fold-and-magpie_connections",
		"a–b—c-d_e":                                                 "abc-d_e",
	} {
		if got := slug(heading); got != want {
			t.Errorf("slug(%q) = %q, want %q", heading, got, want)
		}
	}
}
