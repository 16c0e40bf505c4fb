package pep

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/xmppd/xmppd/store"
	"github.com/xmppd/xmppd/xmppd"
)

// Store names.
const (
	storeNodes = "pep/nodes"
	storeItems = "pep/items"
)

// Access models.
const (
	accessPresence  = "presence"
	accessOpen      = "open"
	accessWhitelist = "whitelist"
)

// send_last_published_item values.
const (
	sendNever    = "never"
	sendOnSub    = "on_sub"
	sendPresence = "on_sub_and_presence"
)

// nodeConfig is a node's configuration (XEP-0060 §16.4.4 pubsub#node_config
// fields the service acts on).
type nodeConfig struct {
	AccessModel   string `json:"access_model"`
	MaxItems      int    `json:"max_items"` // 0 = "max"
	Persist       bool   `json:"persist_items"`
	SendLast      string `json:"send_last_published_item"`
	Notify        bool   `json:"deliver_notifications"`
	Payloads      bool   `json:"deliver_payloads"`
	NotifyRetract bool   `json:"notify_retract"`
	NotifyDelete  bool   `json:"notify_delete"`
	Title         string `json:"title,omitempty"`
	// Extra keeps other pubsub#… fields given at creation, so that a later
	// publish-options naming them can be checked.
	Extra map[string]string `json:"extra,omitempty"`
}

// defaultConfig is XEP-0163 §5's recommended defaults.
func defaultConfig() nodeConfig {
	return nodeConfig{
		AccessModel:   accessPresence,
		MaxItems:      1,
		Persist:       true,
		SendLast:      sendPresence,
		Notify:        true,
		Payloads:      true,
		NotifyRetract: false,
		NotifyDelete:  true,
	}
}

// nodeRecord is what "pep/nodes" holds per node.
type nodeRecord struct {
	Config nodeConfig `json:"config"`
	Items  []string   `json:"items"` // item ids, oldest first
}

// itemRecord is what "pep/items" holds per item.
type itemRecord struct {
	Published time.Time `json:"t"`
	Payload   string    `json:"x"` // the payload element as XML, "" for none
}

// item is an item as read back.
type item struct {
	ID string
	itemRecord
}

// itemsOwner is the "pep/items" owner key of one node: node names cannot
// contain NUL (XML cannot carry it).
func itemsOwner(owner xmppd.JID, node string) string {
	return owner.BareString() + "\x00" + node
}

// nodeTx wraps the two stores inside one transaction.
type nodeTx struct {
	nodes, items store.TxMap
}

func newNodeTx(tx *store.Tx) nodeTx {
	return nodeTx{nodes: tx.Map(storeNodes), items: tx.Map(storeItems)}
}

// node reads a node; ok is false when it does not exist.
func (t nodeTx) node(owner xmppd.JID, node string) (rec nodeRecord, ok bool, err error) {
	b, err := t.nodes.Get(owner.BareString(), node)
	if errors.Is(err, store.ErrNotFound) {
		return rec, false, nil
	}
	if err != nil {
		return rec, false, err
	}
	if err := json.Unmarshal(b, &rec); err != nil {
		return rec, false, fmt.Errorf("PEP node %q of %s: corrupt record: %w", node, owner.BareString(), err)
	}
	return rec, true, nil
}

func (t nodeTx) putNode(owner xmppd.JID, node string, rec nodeRecord) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	return t.nodes.Put(owner.BareString(), node, b)
}

// nodeNames lists an account's nodes in name order.
func (t nodeTx) nodeNames(owner xmppd.JID) ([]string, error) {
	var names []string
	err := t.nodes.All(owner.BareString(), func(k string, _ []byte) error {
		names = append(names, k)
		return nil
	})
	return names, err
}

func (t nodeTx) item(owner xmppd.JID, node, id string) (item, bool, error) {
	b, err := t.items.Get(itemsOwner(owner, node), id)
	if errors.Is(err, store.ErrNotFound) {
		return item{}, false, nil
	}
	if err != nil {
		return item{}, false, err
	}
	it := item{ID: id}
	if err := json.Unmarshal(b, &it.itemRecord); err != nil {
		return item{}, false, fmt.Errorf("PEP item %q of node %q of %s: corrupt record: %w", id, node, owner.BareString(), err)
	}
	return it, true, nil
}

func (t nodeTx) putItem(owner xmppd.JID, node string, it item) error {
	b, err := json.Marshal(it.itemRecord)
	if err != nil {
		return err
	}
	return t.items.Put(itemsOwner(owner, node), it.ID, b)
}

func (t nodeTx) deleteItem(owner xmppd.JID, node, id string) error {
	return t.items.Delete(itemsOwner(owner, node), id)
}

// trim drops the oldest items beyond limit; it returns the dropped ids.
func (t nodeTx) trim(owner xmppd.JID, node string, rec *nodeRecord, limit int) ([]string, error) {
	if len(rec.Items) <= limit {
		return nil, nil
	}
	drop := slices.Clone(rec.Items[:len(rec.Items)-limit])
	for _, id := range drop {
		if err := t.deleteItem(owner, node, id); err != nil {
			return nil, err
		}
	}
	rec.Items = slices.Clone(rec.Items[len(rec.Items)-limit:])
	return drop, nil
}

// deleteNode drops a node and its items.
func (t nodeTx) deleteNode(owner xmppd.JID, node string) error {
	if err := t.items.DeleteOwner(itemsOwner(owner, node)); err != nil {
		return err
	}
	return t.nodes.Delete(owner.BareString(), node)
}

// loadNode reads a node in its own read transaction.
func (e *Extension) loadNode(owner xmppd.JID, node string) (rec nodeRecord, ok bool, err error) {
	err = e.db.View(func(tx *store.Tx) error {
		rec, ok, err = newNodeTx(tx).node(owner, node)
		return err
	})
	return rec, ok, err
}

// deleteAccount drops every node of owner.
func (e *Extension) deleteAccount(owner xmppd.JID) error {
	unlock := e.owner.lock(owner)
	defer unlock()
	return e.db.Update(func(tx *store.Tx) error {
		t := newNodeTx(tx)
		names, err := t.nodeNames(owner)
		if err != nil {
			return err
		}
		for _, n := range names {
			if err := t.items.DeleteOwner(itemsOwner(owner, n)); err != nil {
				return err
			}
		}
		return t.nodes.DeleteOwner(owner.BareString())
	})
}
