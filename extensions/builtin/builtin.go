// Package builtin is the one explicit, ordered list of the extensions a
// standard xmppd runs. Order matters only for registration (and so for the
// order of equal-priority hooks); tests build servers from any subset.
package builtin

import (
	"github.com/xmppd/xmppd/xmppd"
)

// All returns fresh instances of every built-in extension.
func All() []xmppd.Extension {
	return []xmppd.Extension{}
}
