package wire

import "testing"

func TestInsertChild(t *testing.T) {
	for _, tc := range []struct{ el, child, want string }{
		{"<message to='a'><body>x</body></message>", "<delay/>", "<message to='a'><body>x</body><delay/></message>"},
		{"<message to='a'/>", "<delay/>", "<message to='a'><delay/></message>"},
		{"<message/>\n", "<x/>", "<message><x/></message>"},
		{"<m a='/>'></m>  ", "<x/>", "<m a='/>'><x/></m>"},
		{"text", "<x/>", "text"},
	} {
		el := []byte(tc.el)
		if got := string(InsertChild(el, []byte(tc.child))); got != tc.want {
			t.Errorf("InsertChild(%q, %q) = %q, want %q", tc.el, tc.child, got, tc.want)
		}
		if string(el) != tc.el {
			t.Errorf("InsertChild modified its input %q", tc.el)
		}
	}
}
