package signing

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// param is one decoded query parameter, held in its canonical encoding.
type param struct {
	name, value string
}

// CanonicalQuery returns the canonical form of rawQuery (the part of the
// request target after '?', without the '?') used in the string to sign.
//
// Parameters are split on '&'; empty segments are dropped and a segment
// without '=' is a name with an empty value. Names and values are
// percent-decoded, with '+' meaning a space, then re-encoded per RFC 3986:
// the unreserved characters A-Z a-z 0-9 - _ . ~ are kept and every other byte
// becomes %XX with upper-case hex (so a space is %20). The parameters are
// sorted by encoded name, then by encoded value, comparing bytes, and joined
// as name=value pairs separated by '&'. Sorting the encoded forms, which are
// plain ASCII, gives every language the same order.
//
// It returns an error if rawQuery holds a malformed percent escape.
// CanonicalQuery is idempotent: canonicalising its output returns the output.
func CanonicalQuery(rawQuery string) (string, error) {
	if rawQuery == "" {
		return "", nil
	}
	var params []param
	for segment := range strings.SplitSeq(rawQuery, "&") {
		if segment == "" {
			continue
		}
		rawName, rawValue, _ := strings.Cut(segment, "=")
		name, err := url.QueryUnescape(rawName)
		if err != nil {
			return "", fmt.Errorf("canonical query: name %q: %w", rawName, err)
		}
		value, err := url.QueryUnescape(rawValue)
		if err != nil {
			return "", fmt.Errorf("canonical query: value of %q: %w", rawName, err)
		}
		params = append(params, param{name: encode(name), value: encode(value)})
	}
	slices.SortFunc(params, func(a, b param) int {
		if c := strings.Compare(a.name, b.name); c != 0 {
			return c
		}
		return strings.Compare(a.value, b.value)
	})
	var sb strings.Builder
	for i, p := range params {
		if i > 0 {
			sb.WriteByte('&')
		}
		sb.WriteString(p.name)
		sb.WriteByte('=')
		sb.WriteString(p.value)
	}
	return sb.String(), nil
}

// encode percent-encodes s per RFC 3986, leaving only unreserved characters
// as they are and using upper-case hex.
func encode(s string) string {
	n := 0
	for i := 0; i < len(s); i++ {
		if !unreserved(s[i]) {
			n++
		}
	}
	if n == 0 {
		return s
	}
	const hex = "0123456789ABCDEF"
	buf := make([]byte, 0, len(s)+2*n)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if unreserved(c) {
			buf = append(buf, c)
			continue
		}
		buf = append(buf, '%', hex[c>>4], hex[c&0x0f])
	}
	return string(buf)
}

// unreserved reports whether c is an RFC 3986 unreserved character.
func unreserved(c byte) bool {
	switch {
	case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9':
		return true
	case c == '-', c == '_', c == '.', c == '~':
		return true
	}
	return false
}
