package upload_test

import (
	"net/http"
	"testing"

	"github.com/xmppd/xmppd/extensions/edits"
	"github.com/xmppd/xmppd/xmppd"
	"github.com/xmppd/xmppd/xmppd/wire"
)

// TestRetractedMessageDeletesItsFile: end to end with the edits
// extension, a file shared in a 1:1 message is gone (404, thumbnail too)
// once its author retracts the message; a file in a message that was not
// retracted stays.
func TestRetractedMessageDeletesItsFile(t *testing.T) {
	e, bob := withBob(t, []xmppd.Extension{edits.New()})
	m, public := e.share(t, bob, "oops.png", "image/png", pngFile(t, 400, 300, false))
	_, kept := e.share(t, bob, "keep.png", "image/png", pngFile(t, 40, 30, false))

	e.alice.Send("<message to='bob@localhost' type='chat' id='r1'><retract xmlns='urn:xmpp:message-retract:1' id='oops.png'/><body>/me retracted a message</body></message>")
	bob.Expect("retraction", func(el *wire.Element) bool { return el.Name == "message" && el.Attr("id") == "r1" })
	wantStatus(t, do(t, "GET", e.local(public), nil), http.StatusNotFound)
	wantStatus(t, do(t, "GET", e.local(m.thumbURI), nil), http.StatusNotFound)
	wantStatus(t, do(t, "GET", e.local(kept), nil), http.StatusOK)
}
