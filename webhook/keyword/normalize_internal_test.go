package keyword

import (
	"testing"
	"unicode"
)

// TestFoldRuneStable checks, for every rune, that folding is idempotent and
// that case variants in one simple-folding orbit fold alike.
func TestFoldRuneStable(t *testing.T) {
	for r := rune(0); r <= unicode.MaxRune; r++ {
		f := foldRune(r)
		if g := foldRune(f); g != f {
			t.Errorf("foldRune(%U) = %U, but foldRune(%U) = %U", r, f, f, g)
		}
		if c := unicode.SimpleFold(r); foldRune(c) != f {
			t.Errorf("foldRune(%U) = %U, but foldRune(%U) = %U for its case variant", r, f, c, foldRune(c))
		}
	}
}

// TestFoldRuneFastPaths checks the uncased ranges foldRune skips against
// the generic folding.
func TestFoldRuneFastPaths(t *testing.T) {
	for r := rune(0); r <= unicode.MaxRune; r++ {
		if 0xFF01 <= r && r <= 0xFF5E || r == 0x3000 || r == 0x130 || r == 0x131 {
			continue
		}
		m := r
		for c := unicode.SimpleFold(r); c != r; c = unicode.SimpleFold(c) {
			m = min(m, c)
		}
		if want := unicode.ToLower(m); foldRune(r) != want {
			t.Errorf("foldRune(%U) = %U, want %U", r, foldRune(r), want)
		}
	}
}
