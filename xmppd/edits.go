package xmppd

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/xmppd/xmppd/xmppd/wire"
)

// MessageEdit describes an accepted correction (XEP-0308) or retraction
// (XEP-0424) of an earlier message. The filter that checked the sender and
// the time window sets it on Packet.Edit, so the archives that hold the
// original (MAM, room archives) can act on it without finding it again:
// a retraction turns the archived original into a tombstone.
type MessageEdit struct {
	Retract bool   // false: a correction
	Target  string // the id the client referenced
	Sender  JID    // the original's author (real bare JID)
	At      time.Time
	// Archived lists where the original and its earlier corrections are
	// archived, so a retraction replaces every version with a tombstone.
	Archived []ArchiveRef
	// URLs are the http(s) URLs the original and its corrections shared.
	URLs []string
}

// ArchiveRef names one archived copy of a message: the archive's owner (a
// bare JID: a user or a room) and the message's id in that archive.
type ArchiveRef struct {
	Owner string `json:"o"`
	ID    string `json:"i"`
}

// RetractedEvent is a message retracted by its author or moderated away in
// a room, told through MessageRetracted once the retraction is accepted:
// the upload service deletes the files the message shared.
type RetractedEvent struct {
	Sender JID // the original's author (real bare JID)
	By     JID // who retracted it: the author, or a room moderator
	// Where is the conversation: the room, or the 1:1 peer of Sender; ID
	// the id the retraction referenced.
	Where JID
	ID    string
	// URLs are the http(s) URLs the original shared (MessageURLs).
	URLs []string
}

// MessageRetracted runs after a retraction or moderation was accepted.
// Handlers observe and return Pass; they run on the retracting stanza's
// path, so slow work (deleting files) must be quick or done elsewhere.
var MessageRetracted = HookPoint[*RetractedEvent]{"message/retracted"}

const nsOOB = "jabber:x:oob"

// MessageURLs returns the http(s) URLs a message shares: the XEP-0066
// <x xmlns='jabber:x:oob'><url/>, the URLs written in the body, and the
// sources of XEP-0447 / XEP-0385 style shared files. Duplicates are
// dropped. Only messages that mention "http" are parsed.
func MessageURLs(st *wire.Stanza) []string {
	if !bytes.Contains(st.Raw, []byte("http")) {
		return nil
	}
	el, err := st.Element()
	if err != nil {
		return nil
	}
	var urls []string
	add := func(u string) {
		if (hasPrefixFold(u, "https://") || hasPrefixFold(u, "http://")) && !slices.Contains(urls, u) {
			urls = append(urls, u)
		}
	}
	for _, c := range el.Children {
		switch {
		case c.Name == "x" && c.NS == nsOOB:
			add(c.ChildText("url", nsOOB))
		case c.Name == "body" && c.NS == "jabber:client":
			for _, w := range strings.Fields(c.Text) {
				add(strings.TrimRight(w, ".,;:!?)]}>'\""))
			}
		default:
			walkURIs(c, add)
		}
	}
	return urls
}

// walkURIs finds 'uri' and 'target' attributes below el (XEP-0372
// references to shared files, XEP-0447 url-data targets).
func walkURIs(el *wire.Element, add func(string)) {
	for _, a := range el.Attrs {
		if a.Name == "uri" || a.Name == "target" {
			add(a.Value)
		}
	}
	for _, c := range el.Children {
		walkURIs(c, add)
	}
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// MessageIndex is what the edits extension tells other extensions about
// recent messages, without them importing it: the MUC service finds the
// author, every archived version and the shared URLs of a message a
// moderator removes (XEP-0425).
type MessageIndex interface {
	// Lookup describes the message a room's id (stanza-id, origin-id or
	// id attribute) names; false if the index does not know it.
	Lookup(room JID, id string) (*MessageEdit, bool)
}

// ProvideMessageIndex installs the message index; one extension provides it.
func (r *Registrar) ProvideMessageIndex(ix MessageIndex) error {
	if r.srv.messageIndex != nil {
		return errors.New("a message index is already provided")
	}
	r.srv.messageIndex = ix
	return nil
}

// MessageIndex returns the message index, or nil when none is provided.
func (srv *Server) MessageIndex() MessageIndex { return srv.messageIndex }
