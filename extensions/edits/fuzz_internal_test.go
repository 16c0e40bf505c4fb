package edits

import (
	"testing"

	"github.com/xmppd/xmppd/xmppd/wire"
)

// FuzzEditOf: any message is a correction, a retraction or neither;
// nothing panics, and the ids found are the message's own.
func FuzzEditOf(f *testing.F) {
	for _, seed := range []string{
		`<message id='c1'><body>x</body><replace xmlns='urn:xmpp:message-correct:0' id='o1'/></message>`,
		`<message id='r1'><retract xmlns='urn:xmpp:message-retract:1' id='o1'/></message>`,
		`<message id='r2'><apply-to xmlns='urn:xmpp:fasten:0' id='o2'><retract xmlns='urn:xmpp:message-retract:0'/></apply-to></message>`,
		`<message id='m'><origin-id xmlns='urn:xmpp:sid:0' id='m'/><body>plain</body></message>`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := wire.ParseStanza(b)
		if err != nil {
			return
		}
		_, _ = editOf(st)
		for _, id := range ids(st) {
			if id == "" {
				t.Fatal("an empty id indexed")
			}
		}
	})
}
