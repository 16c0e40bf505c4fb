package pep

import (
	"slices"
	"strconv"
	"time"

	"github.com/xmppd/xmppd/store"
	"github.com/xmppd/xmppd/xmppd"
	"github.com/xmppd/xmppd/xmppd/dataform"
	"github.com/xmppd/xmppd/xmppd/wire"
	"mellium.im/xmpp/stanza"
)

// Limits on names clients choose; bookmark item ids are room JIDs, which
// RFC 7622 allows up to 3071 bytes.
const (
	maxNodeName = 1024
	maxItemID   = 3072
)

// pubsubError is a stanza error with a XEP-0060 pubsub#errors condition
// ("" for none).
func pubsubError(typ stanza.ErrorType, cond stanza.Condition, app, text string) error {
	se := xmppd.StanzaError(typ, cond, text)
	if app == "" {
		return se
	}
	return xmppd.AppError{Err: se, App: wire.NewElement(app, NSErrors)}
}

func errUnsupported(feature string) error {
	return xmppd.AppError{
		Err: xmppd.StanzaError(stanza.Cancel, stanza.FeatureNotImplemented, "not supported by this PEP service: "+feature),
		App: wire.NewElement("unsupported", NSErrors, wire.Attr{Name: "feature", Value: feature}),
	}
}

func errNoNode(node string) error {
	return xmppd.StanzaError(stanza.Cancel, stanza.ItemNotFound, "no such node: "+node)
}

var errNotOwner = xmppd.StanzaError(stanza.Auth, stanza.Forbidden, "only the account owner may change its PEP nodes")

// action returns the first child of payload in ns other than the
// companions (publish-options, configure) that qualify it.
func action(payload *wire.Element, ns string) *wire.Element {
	for _, c := range payload.Children {
		if c.NS != ns || c.Name == "publish-options" || (c.Name == "configure" && ns == NS) {
			continue
		}
		return c
	}
	return nil
}

// nodeAttr reads and checks the node attribute of a request.
func nodeAttr(el *wire.Element) (string, error) {
	node := el.Attr("node")
	if node == "" {
		return "", pubsubError(stanza.Modify, stanza.BadRequest, "nodeid-required", "the request names no node")
	}
	if len(node) > maxNodeName {
		return "", pubsubError(stanza.Modify, stanza.NotAcceptable, "", "node name longer than "+strconv.Itoa(maxNodeName)+" bytes")
	}
	return node, nil
}

func isOwner(iq *xmppd.IQ) bool { return iq.From.Bare() == iq.To.Bare() }

// pubsubSet handles publish, retract and create.
func (e *Extension) pubsubSet(iq *xmppd.IQ) (*wire.Element, error) {
	act := action(iq.Payload, NS)
	if act == nil {
		return nil, xmppd.StanzaError(stanza.Modify, stanza.BadRequest, "empty pubsub request")
	}
	switch act.Name {
	case "publish", "retract", "create":
	case "subscribe", "unsubscribe", "options":
		return nil, errUnsupported("subscribe")
	default:
		return nil, errUnsupported(act.Name)
	}
	if !isOwner(iq) {
		return nil, errNotOwner
	}
	node, err := nodeAttr(act)
	if err != nil {
		if act.Name == "create" && act.Attr("node") == "" {
			return nil, pubsubError(stanza.Modify, stanza.NotAcceptable, "nodeid-required", "instant nodes are not supported")
		}
		return nil, err
	}
	owner := iq.To.Bare()
	switch act.Name {
	case "publish":
		return e.publish(iq, owner, node, act)
	case "retract":
		return nil, e.retract(owner, node, act)
	default:
		return nil, e.create(owner, node, iq.Payload.Child("configure", NS))
	}
}

// publish stores one item, creating the node when needed, and notifies.
func (e *Extension) publish(iq *xmppd.IQ, owner xmppd.JID, node string, pub *wire.Element) (*wire.Element, error) {
	items := pub.ChildrenNamed("item", NS)
	switch {
	case len(items) == 0:
		return nil, pubsubError(stanza.Modify, stanza.BadRequest, "item-required", "publish carries no item")
	case len(items) > 1:
		return nil, pubsubError(stanza.Modify, stanza.BadRequest, "invalid-payload", "publish one item per request")
	}
	itEl := items[0]
	if len(itEl.Children) != 1 {
		if len(itEl.Children) == 0 {
			return nil, pubsubError(stanza.Modify, stanza.BadRequest, "payload-required", "the item carries no payload")
		}
		return nil, pubsubError(stanza.Modify, stanza.BadRequest, "invalid-payload", "an item carries exactly one payload element")
	}
	payload := string(itEl.Children[0].AppendXML(nil))
	if int64(len(payload)) > int64(e.Config.MaxItemSize) {
		return nil, pubsubError(stanza.Modify, stanza.NotAcceptable, "payload-too-big",
			"item larger than "+e.Config.MaxItemSize.String())
	}
	id := itEl.Attr("id")
	if id == "" {
		id = e.srv.NextID()
	}
	if len(id) > maxItemID {
		return nil, pubsubError(stanza.Modify, stanza.NotAcceptable, "", "item id longer than "+strconv.Itoa(maxItemID)+" bytes")
	}
	var opts *dataform.Form
	if po := iq.Payload.Child("publish-options", NS); po != nil {
		opts = dataform.Find(po)
		if opts != nil && opts.FormType != "" && opts.FormType != NSPublishOptions {
			return nil, pubsubError(stanza.Modify, stanza.BadRequest, "invalid-options", "publish-options FORM_TYPE must be "+NSPublishOptions)
		}
	}

	it := item{ID: id, itemRecord: itemRecord{Published: time.Now().UTC(), Payload: payload}}
	unlock := e.owner.lock(owner)
	defer unlock()
	var cfg nodeConfig
	err := e.db.Update(func(tx *store.Tx) error {
		t := newNodeTx(tx)
		rec, ok, err := t.node(owner, node)
		if err != nil {
			return err
		}
		if ok {
			if opts != nil {
				if f, ok := rec.Config.matches(opts); !ok {
					return pubsubError(stanza.Cancel, stanza.Conflict, "precondition-not-met",
						"node "+node+" exists with a different "+f)
				}
			}
		} else {
			if err := e.checkNodeCount(t, owner); err != nil {
				return err
			}
			rec.Config = defaultConfig()
			if opts != nil {
				if err := rec.Config.apply(opts); err != nil {
					return pubsubError(stanza.Cancel, stanza.Conflict, "precondition-not-met", err.Error())
				}
			}
		}
		rec.Items = append(slices.DeleteFunc(rec.Items, func(s string) bool { return s == id }), id)
		if _, err := t.trim(owner, node, &rec, e.limit(rec.Config)); err != nil {
			return err
		}
		if err := t.putItem(owner, node, it); err != nil {
			return err
		}
		cfg = rec.Config
		return t.putNode(owner, node, rec)
	})
	if err != nil {
		return nil, err
	}
	if cfg.Notify {
		e.notify(owner, node, cfg, itemsEvent(node, []item{it}, cfg.Payloads), time.Time{})
	}
	xmppd.RunHook(e.srv, xmppd.PEPPublished, &xmppd.PEPEvent{Owner: owner, Node: node, ItemID: id, Payload: itEl.Children[0]})
	res := wire.NewElement("pubsub", NS).Append(
		wire.NewElement("publish", NS, wire.Attr{Name: "node", Value: node}).Append(
			wire.NewElement("item", NS, wire.Attr{Name: "id", Value: id})))
	return res, nil
}

// limit is the number of items a node keeps.
func (e *Extension) limit(c nodeConfig) int {
	if c.MaxItems == 0 || c.MaxItems > e.Config.MaxItems {
		return e.Config.MaxItems
	}
	return c.MaxItems
}

func (e *Extension) checkNodeCount(t nodeTx, owner xmppd.JID) error {
	names, err := t.nodeNames(owner)
	if err != nil {
		return err
	}
	if len(names) >= e.Config.MaxNodes {
		return xmppd.StanzaError(stanza.Wait, stanza.ResourceConstraint,
			"too many PEP nodes (limit "+strconv.Itoa(e.Config.MaxNodes)+")")
	}
	return nil
}

// retract removes items; with notify='true' (or the node's notify_retract
// when the attribute is absent) subscribers learn about it.
func (e *Extension) retract(owner xmppd.JID, node string, ret *wire.Element) error {
	var ids []string
	for _, it := range ret.ChildrenNamed("item", NS) {
		id := it.Attr("id")
		if id == "" {
			return pubsubError(stanza.Modify, stanza.BadRequest, "item-required", "retract needs item ids")
		}
		ids = append(ids, id)
	}
	if len(ids) == 0 {
		return pubsubError(stanza.Modify, stanza.BadRequest, "item-required", "retract needs an item")
	}
	notifyAttr, notifySet := dataform.ParseBool(ret.Attr("notify"))
	return e.withNode(owner, node, func(t nodeTx, rec *nodeRecord) error {
		for _, id := range ids {
			if !slices.Contains(rec.Items, id) {
				return xmppd.StanzaError(stanza.Cancel, stanza.ItemNotFound, "no item "+id+" in node "+node)
			}
		}
		for _, id := range ids {
			if err := t.deleteItem(owner, node, id); err != nil {
				return err
			}
		}
		rec.Items = slices.DeleteFunc(rec.Items, func(s string) bool { return slices.Contains(ids, s) })
		return t.putNode(owner, node, *rec)
	}, func(cfg nodeConfig) {
		for _, id := range ids {
			xmppd.RunHook(e.srv, xmppd.PEPPublished, &xmppd.PEPEvent{Owner: owner, Node: node, ItemID: id, Retracted: true})
		}
		notify := cfg.NotifyRetract
		if notifySet {
			notify = notifyAttr
		}
		if notify {
			ev := wire.NewElement("items", NSEvent, wire.Attr{Name: "node", Value: node})
			for _, id := range ids {
				ev.Append(wire.NewElement("retract", NSEvent, wire.Attr{Name: "id", Value: id}))
			}
			e.notify(owner, node, cfg, ev.AppendXML(nil), time.Time{})
		}
	})
}

// create makes a node explicitly (XEP-0060 §8.1), with an optional
// configuration form.
func (e *Extension) create(owner xmppd.JID, node string, configure *wire.Element) error {
	cfg := defaultConfig()
	if configure != nil {
		if f := dataform.Find(configure); f != nil {
			if f.FormType != "" && f.FormType != NSNodeConfig {
				return xmppd.StanzaError(stanza.Modify, stanza.BadRequest, "configure FORM_TYPE must be "+NSNodeConfig)
			}
			if err := cfg.apply(f); err != nil {
				return xmppd.StanzaError(stanza.Modify, stanza.NotAcceptable, err.Error())
			}
		}
	}
	unlock := e.owner.lock(owner)
	defer unlock()
	return e.db.Update(func(tx *store.Tx) error {
		t := newNodeTx(tx)
		_, ok, err := t.node(owner, node)
		if err != nil {
			return err
		}
		if ok {
			return xmppd.StanzaError(stanza.Cancel, stanza.Conflict, "node "+node+" already exists")
		}
		if err := e.checkNodeCount(t, owner); err != nil {
			return err
		}
		return t.putNode(owner, node, nodeRecord{Config: cfg})
	})
}

// canRead reports whether requester may retrieve the items of owner's node.
func (e *Extension) canRead(owner, requester xmppd.JID, cfg nodeConfig) bool {
	if requester.Bare() == owner {
		return true
	}
	switch cfg.AccessModel {
	case accessOpen:
		return true
	case accessPresence:
		ro := e.srv.Roster()
		return ro != nil && ro.HasSubscriber(owner, requester.Bare())
	}
	return false
}

// accessError is the XEP-0060 §6.5.9 error for a refused retrieval.
func accessError(cfg nodeConfig) error {
	if cfg.AccessModel == accessPresence {
		return pubsubError(stanza.Auth, stanza.NotAuthorized, "presence-subscription-required",
			"the node is only for contacts subscribed to the owner's presence")
	}
	return pubsubError(stanza.Cancel, stanza.NotAllowed, "closed-node", "the node is private to its owner")
}

// pubsubGet handles items retrieval.
func (e *Extension) pubsubGet(iq *xmppd.IQ) (*wire.Element, error) {
	act := action(iq.Payload, NS)
	if act == nil {
		return nil, xmppd.StanzaError(stanza.Modify, stanza.BadRequest, "empty pubsub request")
	}
	switch act.Name {
	case "items":
	case "subscriptions":
		return nil, errUnsupported("retrieve-subscriptions")
	case "affiliations":
		return nil, errUnsupported("retrieve-affiliations")
	default:
		return nil, errUnsupported(act.Name)
	}
	node, err := nodeAttr(act)
	if err != nil {
		return nil, err
	}
	maxN := 0
	if s := act.Attr("max_items"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return nil, xmppd.StanzaError(stanza.Modify, stanza.BadRequest, "max_items must be a positive number")
		}
		maxN = n
	}
	var wanted []string
	for _, it := range act.ChildrenNamed("item", NS) {
		if id := it.Attr("id"); id != "" {
			wanted = append(wanted, id)
		}
	}
	owner := iq.To.Bare()
	var got []item
	err = e.db.View(func(tx *store.Tx) error {
		t := newNodeTx(tx)
		rec, ok, err := t.node(owner, node)
		if err != nil {
			return err
		}
		if !ok {
			return errNoNode(node)
		}
		if !e.canRead(owner, iq.From, rec.Config) {
			return accessError(rec.Config)
		}
		ids := rec.Items
		if wanted != nil {
			ids = slices.DeleteFunc(slices.Clone(wanted), func(id string) bool { return !slices.Contains(rec.Items, id) })
		} else if maxN > 0 && len(ids) > maxN {
			ids = ids[len(ids)-maxN:]
		}
		for _, id := range ids {
			it, ok, err := t.item(owner, node, id)
			if err != nil {
				return err
			}
			if ok {
				got = append(got, it)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	itemsEl := wire.NewElement("items", NS, wire.Attr{Name: "node", Value: node})
	for _, it := range got {
		el := wire.NewElement("item", NS, wire.Attr{Name: "id", Value: it.ID})
		if it.Payload != "" {
			p, err := wire.Parse([]byte(it.Payload))
			if err != nil {
				e.log.Error("stored PEP item unreadable", "jid", owner.BareString(), "node", node, "item", it.ID, "err", err)
				continue
			}
			el.Append(p)
		}
		itemsEl.Append(el)
	}
	return wire.NewElement("pubsub", NS).Append(itemsEl), nil
}

// ownerGet answers configure and default.
func (e *Extension) ownerGet(iq *xmppd.IQ) (*wire.Element, error) {
	act := action(iq.Payload, NSOwner)
	if act == nil {
		return nil, xmppd.StanzaError(stanza.Modify, stanza.BadRequest, "empty pubsub#owner request")
	}
	if !isOwner(iq) {
		return nil, errNotOwner
	}
	switch act.Name {
	case "default":
		return wire.NewElement("pubsub", NSOwner).Append(
			wire.NewElement("default", NSOwner).Append(defaultConfig().configForm())), nil
	case "configure":
	case "subscriptions":
		return nil, errUnsupported("manage-subscriptions")
	case "affiliations":
		return nil, errUnsupported("modify-affiliations")
	default:
		return nil, errUnsupported(act.Name)
	}
	node, err := nodeAttr(act)
	if err != nil {
		return nil, err
	}
	rec, ok, err := e.loadNode(iq.To.Bare(), node)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errNoNode(node)
	}
	return wire.NewElement("pubsub", NSOwner).Append(
		wire.NewElement("configure", NSOwner, wire.Attr{Name: "node", Value: node}).Append(rec.Config.configForm())), nil
}

// ownerSet handles configure, delete and purge.
func (e *Extension) ownerSet(iq *xmppd.IQ) (*wire.Element, error) {
	act := action(iq.Payload, NSOwner)
	if act == nil {
		return nil, xmppd.StanzaError(stanza.Modify, stanza.BadRequest, "empty pubsub#owner request")
	}
	if !isOwner(iq) {
		return nil, errNotOwner
	}
	switch act.Name {
	case "configure", "delete", "purge":
	case "subscriptions":
		return nil, errUnsupported("manage-subscriptions")
	case "affiliations":
		return nil, errUnsupported("modify-affiliations")
	default:
		return nil, errUnsupported(act.Name)
	}
	node, err := nodeAttr(act)
	if err != nil {
		return nil, err
	}
	owner := iq.To.Bare()
	switch act.Name {
	case "configure":
		return nil, e.configure(owner, node, act)
	case "delete":
		return nil, e.deleteNode(owner, node)
	default:
		return nil, e.purge(owner, node)
	}
}

// configure applies a submitted node_config form (XEP-0060 §8.2.4).
func (e *Extension) configure(owner xmppd.JID, node string, act *wire.Element) error {
	f := dataform.Find(act)
	if f == nil {
		return xmppd.StanzaError(stanza.Modify, stanza.BadRequest, "configure needs a data form")
	}
	if f.FormType != "" && f.FormType != NSNodeConfig {
		return xmppd.StanzaError(stanza.Modify, stanza.BadRequest, "configure FORM_TYPE must be "+NSNodeConfig)
	}
	return e.withNode(owner, node, func(t nodeTx, rec *nodeRecord) error {
		if f.Type == "cancel" {
			return nil
		}
		if err := rec.Config.apply(f); err != nil {
			return xmppd.StanzaError(stanza.Modify, stanza.NotAcceptable, err.Error())
		}
		if _, err := t.trim(owner, node, rec, e.limit(rec.Config)); err != nil {
			return err
		}
		return t.putNode(owner, node, *rec)
	}, nil)
}

// deleteNode drops a node and tells subscribers (XEP-0060 §8.4).
func (e *Extension) deleteNode(owner xmppd.JID, node string) error {
	return e.withNode(owner, node, func(t nodeTx, _ *nodeRecord) error {
		return t.deleteNode(owner, node)
	}, func(cfg nodeConfig) {
		e.nodeGone(owner, node, cfg, "delete")
	})
}

// purge drops every item of a node (XEP-0060 §8.5).
func (e *Extension) purge(owner xmppd.JID, node string) error {
	return e.withNode(owner, node, func(t nodeTx, rec *nodeRecord) error {
		if err := t.items.DeleteOwner(itemsOwner(owner, node)); err != nil {
			return err
		}
		rec.Items = nil
		return t.putNode(owner, node, *rec)
	}, func(cfg nodeConfig) {
		e.nodeGone(owner, node, cfg, "purge")
	})
}

// nodeGone announces that every item of a node went, with the node
// (event "delete") or without it ("purge"): to other extensions through
// xmppd.PEPPublished and, with notify_delete, to subscribers.
func (e *Extension) nodeGone(owner xmppd.JID, node string, cfg nodeConfig, event string) {
	xmppd.RunHook(e.srv, xmppd.PEPPublished, &xmppd.PEPEvent{Owner: owner, Node: node, Retracted: true})
	if cfg.NotifyDelete {
		ev := wire.NewElement(event, NSEvent, wire.Attr{Name: "node", Value: node})
		e.notify(owner, node, cfg, ev.AppendXML(nil), time.Time{})
	}
}

// withNode changes an existing node of owner: under the owner's lock, in
// one write transaction, it loads the node (errNoNode when there is none)
// and runs change on it; change writes back what it altered. Once that
// has committed, announce (if not nil) gets the node's configuration as
// change left it, still under the lock, so that notifications go out in
// commit order (ownerLocks).
func (e *Extension) withNode(owner xmppd.JID, node string, change func(t nodeTx, rec *nodeRecord) error, announce func(cfg nodeConfig)) error {
	unlock := e.owner.lock(owner)
	defer unlock()
	var cfg nodeConfig
	err := e.db.Update(func(tx *store.Tx) error {
		t := newNodeTx(tx)
		rec, ok, err := t.node(owner, node)
		if err != nil {
			return err
		}
		if !ok {
			return errNoNode(node)
		}
		if err := change(t, &rec); err != nil {
			return err
		}
		cfg = rec.Config
		return nil
	})
	if err != nil {
		return err
	}
	if announce != nil {
		announce(cfg)
	}
	return nil
}

// discoItems lists the nodes of an account the requester may read
// (XEP-0060 §5.2), or with a node the ids of its items (§5.5).
func (e *Extension) discoItems(iq *xmppd.IQ) (*wire.Element, error) {
	owner := iq.To.Bare()
	node := iq.Payload.Attr("node")
	q := wire.NewElement("query", nsDiscoItems)
	if node != "" {
		q.SetAttr("node", node)
	}
	err := e.db.View(func(tx *store.Tx) error {
		t := newNodeTx(tx)
		if node != "" {
			rec, ok, err := t.node(owner, node)
			if err != nil {
				return err
			}
			if !ok || !e.canRead(owner, iq.From, rec.Config) {
				return errNoNode(node)
			}
			for _, id := range rec.Items {
				q.Append(wire.NewElement("item", nsDiscoItems,
					wire.Attr{Name: "jid", Value: owner.String()}, wire.Attr{Name: "name", Value: id}))
			}
			return nil
		}
		names, err := t.nodeNames(owner)
		if err != nil {
			return err
		}
		for _, n := range names {
			rec, ok, err := t.node(owner, n)
			if err != nil || !ok || !e.canRead(owner, iq.From, rec.Config) {
				continue
			}
			el := wire.NewElement("item", nsDiscoItems,
				wire.Attr{Name: "jid", Value: owner.String()}, wire.Attr{Name: "node", Value: n})
			if rec.Config.Title != "" {
				el.SetAttr("name", rec.Config.Title)
			}
			q.Append(el)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return q, nil
}
