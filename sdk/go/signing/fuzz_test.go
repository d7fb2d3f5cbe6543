package signing

import "testing"

// FuzzCanonicalQuery checks that CanonicalQuery never panics and that its
// output is a fixed point: canonicalising the canonical form returns itself.
func FuzzCanonicalQuery(f *testing.F) {
	for _, seed := range []string{
		"",
		"a=1",
		"limit=20&cursor=YWJj%3D%3D&b=2&a=1",
		"tag=b&tag=a&q=hello+world",
		"name=%e5%bc%a0%e4%b8%89&x=a~b_c.d-e",
		"flag&&=v&a=b=c",
		"a=%zz",
		"a=%",
		"%C3%28=%FF",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		canon, err := CanonicalQuery(raw)
		if err != nil {
			return
		}
		again, err := CanonicalQuery(canon)
		if err != nil {
			t.Fatalf("CanonicalQuery(%q) = %q, which does not canonicalise: %v", raw, canon, err)
		}
		if again != canon {
			t.Fatalf("CanonicalQuery(%q) = %q, canonicalised again = %q", raw, canon, again)
		}
		for i := 0; i < len(canon); i++ {
			if c := canon[i]; c != '%' && c != '&' && c != '=' && !unreserved(c) {
				t.Fatalf("CanonicalQuery(%q) = %q holds unencoded byte %q", raw, canon, c)
			}
		}
	})
}
