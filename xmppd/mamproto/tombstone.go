package mamproto

import (
	"errors"
	"fmt"
	"time"

	"github.com/xmppd/xmppd/store"
	"github.com/xmppd/xmppd/xmppd"
	"github.com/xmppd/xmppd/xmppd/wire"
)

// Namespaces of retraction (XEP-0424) and moderation (XEP-0425).
const (
	NSRetract  = "urn:xmpp:message-retract:1"
	NSModerate = "urn:xmpp:message-moderate:1"

	nsSID        = "urn:xmpp:sid:0"
	nsOccupantID = "urn:xmpp:occupant-id:0"
)

// Retracted describes the <retracted/> element of a tombstone.
type Retracted struct {
	ID string    // the retraction message's id, so clients match the two (XEP-0424 §4)
	At time.Time // when the retraction happened
	// Moderated is the <moderated xmlns='urn:xmpp:message-moderate:1'/>
	// element of a moderator's retraction (XEP-0425 §4), nil otherwise;
	// Reason is the moderator's reason.
	Moderated *wire.Element
	Reason    string
}

// Element returns the <retracted/> element.
func (r Retracted) Element() *wire.Element {
	el := wire.NewElement("retracted", NSRetract, wire.Attr{Name: "stamp", Value: r.At.UTC().Format(time.RFC3339)})
	if r.ID != "" {
		el.SetAttr("id", r.ID)
	}
	if r.Moderated != nil {
		el.Append(r.Moderated)
	}
	if r.Reason != "" {
		el.Append(wire.NewElement("reason", NSRetract).SetText(r.Reason))
	}
	return el
}

// Tombstone returns an archived stanza with its content replaced by
// <retracted/>: the addresses, type and id stay, and of its children only
// the ids (origin-id, stanza-id, occupant-id), so a client syncing the
// archive can match the tombstone to the message and to the retraction
// but learns nothing of the body, the files or the references.
func Tombstone(archived []byte, r Retracted) ([]byte, error) {
	el, err := wire.Parse(archived)
	if err != nil {
		return nil, fmt.Errorf("reading an archived message for its tombstone: %w", err)
	}
	kept := el.Children[:0]
	for _, c := range el.Children {
		if c.NS == nsSID || c.NS == nsOccupantID {
			kept = append(kept, c)
		}
	}
	el.Children = append(kept, r.Element())
	el.Text = ""
	return el.AppendXML(nil), nil
}

// TombstoneAll replaces, in archive a, every copy refs names with a
// tombstone. Copies a does not hold are skipped: the refs may name other
// archives (a user's and a room's), and a copy may never have been kept
// (archiving preferences) or may have expired.
func TombstoneAll(a store.TxArchive, refs []xmppd.ArchiveRef, r Retracted) error {
	for _, ref := range refs {
		it, err := a.Get(ref.Owner, ref.ID)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		tomb, err := Tombstone(it.Value, r)
		if err != nil {
			return err
		}
		if err := a.Replace(ref.Owner, ref.ID, tomb); err != nil {
			return err
		}
	}
	return nil
}
