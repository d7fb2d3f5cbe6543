package store

import (
	"slices"
	"strings"
	"testing"
)

func TestIndexTokens(t *testing.T) {
	for _, tt := range []struct{ text, want string }{
		{"Hello, World!", "hello world"},
		{"Café crème brûlée", "cafe creme brulee"},
		{"Łódź Ørsted đaka", "lodz orsted daka"},
		{"ＦＵＬＬ ﬁne ½", "full fine 1 2"},
		{"e-mail_addr it's", "e mail addr it s"},
		{"我们今天", "我们 们今 今天 天"},
		{"北", "北"},
		{"iPhone手机2台", "iphone 手机 机 2 台"},
		{"コーヒー", "コー ーヒ ヒー ー"},
		{"한국어 검색", "한국 국어 어 검색 색"},
		{"🙂 -- ** ", ""},
	} {
		if got := IndexTokens(tt.text); got != tt.want {
			t.Errorf("IndexTokens(%q) = %q, want %q", tt.text, got, tt.want)
		}
	}
}

// IndexTokens writes the tokens tokenize finds, and fold's shortcut for
// ASCII text agrees with the full folding.
func TestIndexTokensAgreeWithTokenize(t *testing.T) {
	ascii := make([]byte, 128)
	for i := range ascii {
		ascii[i] = byte(i)
	}
	texts := []string{"", " ", string(ascii), "Hello, World! 42x", "MiXeD CaSe_and-dashes", "Café ÉTÉ", "ＡＢＣ def",
		"我们 today 今天!", "ÅNGSTRÖM ﬁ ½", "tab\tnew\nline", "x" + strings.Repeat("Ab9 ", 100)}
	for _, text := range texts {
		if got, want := IndexTokens(text), strings.Join(tokenize(text, false), " "); got != want {
			t.Errorf("IndexTokens(%q) = %q, tokenize gives %q", text, got, want)
		}
		if isASCII(text) {
			if got, want := fold(text), foldUnicode(text); got != want {
				t.Errorf("fold(%q) = %q, foldUnicode gives %q", text, got, want)
			}
		}
	}
}

func BenchmarkIndexTokens(b *testing.B) {
	text := "Hey Bob, are we still meeting at 10:30 tomorrow? Bring the Q3 report and the coffee, please."
	b.ReportAllocs()
	for b.Loop() {
		IndexTokens(text)
	}
}

func TestParseSearchQuery(t *testing.T) {
	for _, tt := range []struct {
		q    string
		want []SearchTerm
	}{
		{"Hello", []SearchTerm{{"hello"}}},
		{"  hello   WORLD ", []SearchTerm{{"hello"}, {"world"}}},
		{"e-mail", []SearchTerm{{"e", "mail"}}},
		{"a hello b", []SearchTerm{{"hello"}}},
		{"我们今天", []SearchTerm{{"我们", "们今", "今天"}}},
		{"北", []SearchTerm{{"北"}}},
		{"我们hello", []SearchTerm{{"我们", "们", "hello"}}},
		{`"near" NEAR(x y) -z *ww`, []SearchTerm{{"near"}, {"near", "x"}, {"ww"}}},
	} {
		got, err := ParseSearchQuery(tt.q)
		if err != nil || !slices.EqualFunc(got, tt.want, func(a, b SearchTerm) bool { return slices.Equal(a, b) }) {
			t.Errorf("ParseSearchQuery(%q) = %q, %v, want %q", tt.q, got, err, tt.want)
		}
	}
	// Every term of a query is found in the text it was taken from: the
	// query's tokens are the text's, in order, as a literal.
	for _, text := range []string{"我们今天去北京吃烤鸭", "iPhone手机坏了", "Meet me at the Station, 5pm!", "コーヒーを飲みました"} {
		doc := " " + IndexTokens(text)
		terms, err := ParseSearchQuery(text)
		if err != nil {
			t.Fatal(err)
		}
		for _, term := range terms {
			if !strings.Contains(doc, " "+strings.Join(term, " ")) {
				t.Errorf("term %q of %q not in its tokens %q", term, text, doc)
			}
		}
	}
}

func TestSearchText(t *testing.T) {
	for _, tt := range []struct{ typ, body, want string }{
		{"text", "hi there", "hi there"},
		{"file", `{"url":"https://x/y","name":"a.pdf","size":1}`, "a.pdf"},
		{"location", `{"latitude":1,"longitude":2,"name":"Home","address":"1 Main St"}`, "Home\n1 Main St"},
		{"custom", `{"text":"poll"}`, "poll"},
		{"custom", `{"text":5}`, ""},
		{"custom", `not json`, ""},
		{"image", `{"url":"https://x/hello.png"}`, ""},
		{"notice", `{"text":"joined"}`, ""},
	} {
		if got := SearchText(tt.typ, []byte(tt.body)); got != tt.want {
			t.Errorf("SearchText(%s, %s) = %q, want %q", tt.typ, tt.body, got, tt.want)
		}
		if got := Searchable(tt.typ); got != (tt.typ != "image" && tt.typ != "notice") {
			t.Errorf("Searchable(%s) = %v", tt.typ, got)
		}
	}
}

func FuzzParseSearchQuery(f *testing.F) {
	for _, s := range []string{"hello", `"a" OR b*`, "我们今天", "NEAR(x y)", "-x ^y {z}:w", strings.Repeat("ab ", 10)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		terms, err := ParseSearchQuery(q)
		if err != nil {
			return
		}
		if len(terms) == 0 || len(terms) > MaxSearchTerms {
			t.Fatalf("ParseSearchQuery(%q) = %d terms", q, len(terms))
		}
		for _, term := range terms {
			for _, tok := range term {
				if tok == "" || strings.ContainsAny(tok, "\" *:()^-{}") {
					t.Fatalf("ParseSearchQuery(%q): token %q", q, tok)
				}
			}
		}
	})
}
