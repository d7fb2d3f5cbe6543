package keyword

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Normalize returns s as the filter compares it: full-width ASCII and the
// ideographic space mapped to ASCII, letters case-folded (Unicode simple case
// folding to lower case, with Turkish İ and ı folded to i) and each byte of
// invalid UTF-8 replaced by U+FFFD. Each rune of s becomes exactly one rune
// of the result. It does not trim, collapse spaces or decompose accents.
func Normalize(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		b.WriteRune(foldRune(r))
	}
	return b.String()
}

// foldRune maps r to the representative of its equivalence class: lower case
// for letters, ASCII for full-width ASCII. foldRune(foldRune(r)) ==
// foldRune(r) for every rune.
func foldRune(r rune) rune {
	if r < utf8.RuneSelf {
		if 'A' <= r && r <= 'Z' {
			r += 'a' - 'A'
		}
		return r
	}
	return foldNonASCII(r)
}

// foldNonASCII is foldRune for r >= utf8.RuneSelf, apart so that the
// ASCII path inlines.
func foldNonASCII(r rune) rune {
	switch {
	case 0xFF01 <= r && r <= 0xFF5E: // full-width ASCII
		return foldRune(r - 0xFF01 + '!')
	case r == 0x3000: // ideographic space
		return ' '
	case r == 0x130 || r == 0x131: // Turkish İ and ı
		return 'i'
	case 0x2E80 <= r && r < 0xA640, 0xAC00 <= r && r < 0xFB00, 0x1F000 <= r:
		return r // CJK, kana, Hangul, emoji: no case
	}
	// The smallest rune of the simple case-folding orbit names the class;
	// its lower case is the representative (for example Σ σ ς → σ,
	// K k K(Kelvin) → k).
	m := r
	for c := unicode.SimpleFold(r); c != r; c = unicode.SimpleFold(c) {
		m = min(m, c)
	}
	return unicode.ToLower(m)
}
