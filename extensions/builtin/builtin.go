// Package builtin is the one explicit, ordered list of the extensions a
// standard xmppd runs. Order matters only for registration (and so for the
// order of equal-priority hooks); tests build servers from any subset.
package builtin

import (
	"github.com/xmppd/xmppd/extensions/blocking"
	"github.com/xmppd/xmppd/extensions/carbons"
	"github.com/xmppd/xmppd/extensions/csi"
	"github.com/xmppd/xmppd/extensions/disco"
	"github.com/xmppd/xmppd/extensions/edits"
	"github.com/xmppd/xmppd/extensions/inbox"
	"github.com/xmppd/xmppd/extensions/mam"
	"github.com/xmppd/xmppd/extensions/muc"
	"github.com/xmppd/xmppd/extensions/offline"
	"github.com/xmppd/xmppd/extensions/pep"
	"github.com/xmppd/xmppd/extensions/ping"
	"github.com/xmppd/xmppd/extensions/preview"
	"github.com/xmppd/xmppd/extensions/private"
	"github.com/xmppd/xmppd/extensions/push"
	"github.com/xmppd/xmppd/extensions/roster"
	"github.com/xmppd/xmppd/extensions/shortcuts"
	"github.com/xmppd/xmppd/extensions/sms"
	"github.com/xmppd/xmppd/extensions/upload"
	"github.com/xmppd/xmppd/extensions/vcard"
	"github.com/xmppd/xmppd/extensions/version"
	"github.com/xmppd/xmppd/extensions/webchat"
	"github.com/xmppd/xmppd/xmppd"
)

// All returns fresh instances of every built-in extension.
func All() []xmppd.Extension {
	return []xmppd.Extension{
		disco.New(),
		ping.New(),
		version.New(),
		roster.New(),
		blocking.New(),
		edits.New(),
		offline.New(),
		mam.New(),
		inbox.New(),
		push.New(),
		vcard.New(),
		pep.New(),
		private.New(),
		carbons.New(),
		csi.New(),
		muc.New(),
		upload.New(),
		preview.New(),
		shortcuts.New(),
		sms.New(),
		webchat.New(),
	}
}
