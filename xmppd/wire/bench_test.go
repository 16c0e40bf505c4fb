package wire

import "testing"

// A typical ~250 byte 1:1 chat message.
const benchMessage = `<message to='juliet@capulet.example/balcony' from='romeo@montague.example/orchard' type='chat' id='ktx72v49' xml:lang='en'>` +
	`<body>Art thou not Romeo, and a Montague?</body><active xmlns='http://jabber.org/protocol/chatstates'/>` +
	`<request xmlns='urn:xmpp:receipts'/></message>`

// repeatReader serves data over and over, in reads of up to chunk bytes.
type repeatReader struct {
	data []byte
	pos  int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		k := copy(p[n:], r.data[r.pos:])
		n += k
		r.pos = (r.pos + k) % len(r.data)
	}
	return n, nil
}

func BenchmarkNextMessage(b *testing.B) {
	r := NewReader(&repeatReader{data: []byte(benchMessage + "\n")}, Limits{})
	var s Stanza
	b.SetBytes(int64(len(benchMessage)))
	b.ReportAllocs()
	for b.Loop() {
		if err := r.Next(&s); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRewrite(b *testing.B) {
	var s Stanza
	if err := NewReader(&repeatReader{data: []byte(benchMessage)}, Limits{}).Next(&s); err != nil {
		b.Fatal(err)
	}
	b.Run("reuse", func(b *testing.B) {
		dst := make([]byte, 0, 512)
		b.ReportAllocs()
		for b.Loop() {
			dst = s.Rewrite(dst[:0], "juliet@capulet.example/balcony", "romeo@montague.example/orchard")
		}
	})
	b.Run("new", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = s.Rewrite(nil, "juliet@capulet.example/balcony", "romeo@montague.example/orchard")
		}
	})
}

func BenchmarkStanzaElement(b *testing.B) {
	var s Stanza
	if err := NewReader(&repeatReader{data: []byte(benchMessage)}, Limits{}).Next(&s); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Element(); err != nil {
			b.Fatal(err)
		}
	}
}
