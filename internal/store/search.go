package store

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// SearchStore finds messages by keyword. It is part of AppStore, so every
// method is scoped to one app.
//
// What is searchable is a message's search text (SearchText): the text of a
// text message, the name of a file, the name and address of a location,
// the "text" field of a custom message. Engines index the tokens of
// IndexTokens and match the terms of ParseSearchQuery, so that they agree
// on what a query finds: every term must match; a term is a phrase of
// tokens whose last token matches as a prefix ("hel" finds "hello", "e-ma"
// finds "E-mail"); case and diacritics are ignored ("cafe" finds "Café");
// Chinese, Japanese and Korean text, which has no spaces between words, is
// indexed as overlapping pairs of characters, so that any two or more
// consecutive characters of it are found, and a single one as the start of
// a pair.
//
// An appended message is found by a search that begins after
// AppendMessages returned (an engine that indexes asynchronously catches up
// before it searches; the SQLite engine does so up to a bound, beyond which
// results lag by at most a few index intervals: see its package). An
// edited message is found by its new text only, and a recalled, erased or
// deleted one no more, once the call that changed it returned.
type SearchStore interface {
	// SearchMessages returns up to q.Limit messages that q.UserID may read
	// (the conversations it is a member of; in each, messages at or after
	// its entry's FirstSeq and after its ClearedSeq), not recalled, that
	// match every term of q.Terms and q's filters, newest first: by
	// CreatedAt, then conversation id, then seq, all descending. q.After
	// continues a search after the key of the last message of a page.
	SearchMessages(ctx context.Context, q MessageSearch) ([]Message, error)
}

// MessageSearch is a keyword search of one user's messages.
type MessageSearch struct {
	// UserID is the searching user; required.
	UserID string
	// ConvID restricts the search to one conversation; empty searches all
	// the user's conversations.
	ConvID string
	// Terms are the query's terms, from ParseSearchQuery: at least one.
	Terms []SearchTerm
	// SenderID keeps only the messages of one sender; empty: any.
	SenderID string
	// Types keeps only messages of these types; empty: any.
	Types []string
	// From and To bound CreatedAt, inclusive; zero: unbounded.
	From, To time.Time
	// After, if set, continues after this key (the last one returned).
	After *SearchKey
	// Limit caps the messages returned; it must be positive.
	Limit int
}

// SearchKey is a message's position in search results.
type SearchKey struct {
	CreatedAt time.Time
	ConvID    string
	Seq       int64
}

// Key returns the message's position in search results.
func (m Message) Key() SearchKey {
	return SearchKey{CreatedAt: m.CreatedAt, ConvID: m.ConvID, Seq: m.Seq}
}

// Before reports whether k comes before o in search results (newest first).
func (k SearchKey) Before(o SearchKey) bool {
	if !k.CreatedAt.Equal(o.CreatedAt) {
		return k.CreatedAt.After(o.CreatedAt)
	}
	if k.ConvID != o.ConvID {
		return k.ConvID > o.ConvID
	}
	return k.Seq > o.Seq
}

// SearchTerm is one term of a query: a phrase of tokens, the last of which
// matches as a prefix.
type SearchTerm []string

// Query limits. A longer query, or one with more terms, is refused; a term
// whose only token is a single letter or digit (not a CJK character) is
// dropped, as a word too short to search for.
const (
	MaxSearchQueryBytes = 256
	MaxSearchTerms      = 8
	MaxSearchTokens     = 128
)

// Errors of ParseSearchQuery.
var (
	ErrSearchEmpty   = errors.New("the query has no word to search for")
	ErrSearchTooLong = errors.New("the query is too long")
	ErrSearchInvalid = errors.New("the query is not valid UTF-8")
)

// ParseSearchQuery splits a query into its terms: the runs of text between
// spaces, each tokenized as IndexTokens does (a CJK run that ends a term
// without its final single character, so that the term also matches where
// the text goes on). Every character that is not a letter or a digit
// separates tokens: no character has a meaning of its own (quotes,
// operators and wildcards are punctuation like any other).
func ParseSearchQuery(q string) ([]SearchTerm, error) {
	if !utf8.ValidString(q) {
		return nil, ErrSearchInvalid
	}
	if len(q) > MaxSearchQueryBytes {
		return nil, ErrSearchTooLong
	}
	var terms []SearchTerm
	n := 0
	for _, field := range strings.FieldsFunc(q, unicode.IsSpace) {
		toks := tokenize(field, true)
		if len(toks) == 0 {
			continue
		}
		if len(toks) == 1 && utf8.RuneCountInString(toks[0]) == 1 && !isCJK([]rune(toks[0])[0]) {
			continue // a single letter or digit
		}
		n += len(toks)
		terms = append(terms, SearchTerm(toks))
	}
	if len(terms) > MaxSearchTerms || n > MaxSearchTokens {
		return nil, ErrSearchTooLong
	}
	if len(terms) == 0 {
		return nil, ErrSearchEmpty
	}
	return terms, nil
}

// Searchable reports whether messages of this type may have a search text
// (SearchText): text, file, location and custom.
func Searchable(typ string) bool {
	switch typ {
	case "text", "file", "location", "custom":
		return true
	}
	return false
}

// SearchText returns the searchable text of a message body of the given
// type: the text of a text message; the name of a file; the name and
// address of a location; the top-level "text" string of a custom message.
// Other types (image, audio, video, notices) have none.
func SearchText(typ string, body []byte) string {
	switch typ {
	case "text":
		return string(body)
	case "file":
		return jsonStrings(body, "name")
	case "location":
		return jsonStrings(body, "name", "address")
	case "custom":
		return jsonStrings(body, "text")
	}
	return ""
}

// jsonStrings returns the string fields of a JSON object, joined by a
// newline; "" if body is not an object.
func jsonStrings(body []byte, fields ...string) string {
	var f map[string]json.RawMessage
	if json.Unmarshal(body, &f) != nil {
		return ""
	}
	var parts []string
	for _, name := range fields {
		var s string
		if v, ok := f[name]; ok && json.Unmarshal(v, &s) == nil && s != "" {
			parts = append(parts, s)
		}
	}
	return strings.Join(parts, "\n")
}

// IndexTokens returns the tokens under which a search text is indexed,
// joined by single spaces: its runs of letters and digits, folded (Unicode
// compatibility decomposition, diacritics removed, lower case), and for
// each run of CJK characters its overlapping pairs of characters followed
// by its last character alone. Empty when the text has no token.
func IndexTokens(text string) string {
	var b strings.Builder
	b.Grow(len(text))
	scanTokens(text, false, func(tok []rune) {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		for _, r := range tok {
			b.WriteRune(r)
		}
	})
	return b.String()
}

// MessageIndexTokens returns IndexTokens of a message's search text.
func MessageIndexTokens(typ string, body []byte) string { return IndexTokens(SearchText(typ, body)) }

// tokenize splits text into folded tokens; query drops the trailing single
// character of a CJK run that ends the text.
func tokenize(text string, query bool) []string {
	var toks []string
	scanTokens(text, query, func(tok []rune) { toks = append(toks, string(tok)) })
	return toks
}

// scanTokens calls emit with each folded token of text, in order (see
// tokenize); emit must not keep the slice.
func scanTokens(text string, query bool, emit func([]rune)) {
	folded := fold(text)
	var word, cjk []rune
	flushWord := func() {
		if len(word) > 0 {
			emit(word)
			word = word[:0]
		}
	}
	flushCJK := func(last bool) {
		switch n := len(cjk); {
		case n == 1:
			emit(cjk)
		case n > 1:
			for i := 0; i+1 < n; i++ {
				emit(cjk[i : i+2])
			}
			if !(query && last) {
				emit(cjk[n-1:])
			}
		}
		cjk = cjk[:0]
	}
	for _, r := range folded {
		switch {
		case isCJK(r):
			flushWord()
			cjk = append(cjk, r)
		case unicode.IsLetter(r) || unicode.IsNumber(r):
			flushCJK(false)
			word = append(word, r)
		default:
			flushWord()
			flushCJK(false)
		}
	}
	flushWord()
	flushCJK(true)
}

// fold decomposes text (NFKD: "ｆｕｌｌ" is "full", "ﬁ" is "fi"), drops
// its combining marks ("é" is "e"), folds the few Latin letters that do
// not decompose ("ł" is "l"), lower-cases it and recomposes what remains
// (Hangul syllables).
func fold(text string) string {
	if isASCII(text) {
		// Decomposition and composition leave ASCII as it is, and no
		// ASCII letter has a mark or a stroke.
		return strings.ToLower(text)
	}
	return foldUnicode(text)
}

// foldUnicode is fold for any text.
func foldUnicode(text string) string {
	d := norm.NFKD.String(text)
	var b strings.Builder
	b.Grow(len(d))
	for _, r := range d {
		if unicode.Is(unicode.Mn, r) {
			continue
		}
		r = unicode.ToLower(r)
		if f, ok := latinFold[r]; ok {
			r = f
		}
		b.WriteRune(r)
	}
	return norm.NFC.String(b.String())
}

// isASCII reports whether s is all ASCII.
func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// latinFold maps the Latin letters with a stroke, which Unicode does not
// decompose, to their base letters.
var latinFold = map[rune]rune{'ł': 'l', 'ø': 'o', 'đ': 'd', 'ħ': 'h', 'ŀ': 'l', 'ŧ': 't', 'ƀ': 'b', 'ƶ': 'z', 'ı': 'i'}

// isCJK reports whether r is written without spaces between words:
// Han, Hiragana, Katakana (with its prolonged sound mark), Hangul and
// Bopomofo.
func isCJK(r rune) bool {
	if r < 0x1100 {
		return false
	}
	return unicode.In(r, unicode.Han, unicode.Hiragana, unicode.Katakana, unicode.Hangul, unicode.Bopomofo) ||
		r == 'ー' || r == '々' || r == '〆'
}
