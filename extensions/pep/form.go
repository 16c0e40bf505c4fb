package pep

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/xmppd/xmppd/xmppd/dataform"
	"github.com/xmppd/xmppd/xmppd/wire"
)

// parseMaxItems reads pubsub#max_items: a positive number or "max" (0).
func parseMaxItems(s string) (int, bool) {
	if s == "max" {
		return 0, true
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return 0, false
	}
	return n, true
}

func formatMaxItems(n int) string {
	if n == 0 {
		return "max"
	}
	return strconv.Itoa(n)
}

// set applies one field to c; it fails on a value the service does not
// support, naming the field.
func (c *nodeConfig) set(f dataform.Field) error {
	v := f.Value()
	bad := func() error { return fmt.Errorf("unsupported value %q for %s", v, f.Var) }
	switch f.Var {
	case "pubsub#access_model":
		switch v {
		case accessPresence, accessOpen, accessWhitelist:
			c.AccessModel = v
		default:
			return bad()
		}
	case "pubsub#max_items":
		n, ok := parseMaxItems(v)
		if !ok {
			return bad()
		}
		c.MaxItems = n
	case "pubsub#send_last_published_item":
		switch v {
		case sendNever, sendOnSub, sendPresence:
			c.SendLast = v
		default:
			return bad()
		}
	case "pubsub#persist_items", "pubsub#deliver_notifications", "pubsub#deliver_payloads",
		"pubsub#notify_retract", "pubsub#notify_delete":
		b, ok := dataform.ParseBool(v)
		if !ok {
			return bad()
		}
		*c.boolField(f.Var) = b
	case "pubsub#title":
		c.Title = v
	default:
		if c.Extra == nil {
			c.Extra = make(map[string]string)
		}
		c.Extra[f.Var] = strings.Join(f.Values, "\n")
	}
	return nil
}

func (c *nodeConfig) boolField(name string) *bool {
	switch name {
	case "pubsub#persist_items":
		return &c.Persist
	case "pubsub#deliver_notifications":
		return &c.Notify
	case "pubsub#deliver_payloads":
		return &c.Payloads
	case "pubsub#notify_retract":
		return &c.NotifyRetract
	case "pubsub#notify_delete":
		return &c.NotifyDelete
	}
	return nil
}

// apply sets every field of f on c.
func (c *nodeConfig) apply(f *dataform.Form) error {
	for _, fl := range f.Fields {
		if err := c.set(fl); err != nil {
			return err
		}
	}
	return nil
}

// matches reports whether every field of f already holds on c, the
// publish-options precondition check (XEP-0060 §7.1.5); it names the first
// field that does not.
func (c nodeConfig) matches(f *dataform.Form) (string, bool) {
	for _, fl := range f.Fields {
		want := c
		want.Extra = nil
		if err := want.set(fl); err != nil {
			return fl.Var, false
		}
		if want.Extra != nil {
			if c.Extra == nil || c.Extra[fl.Var] != want.Extra[fl.Var] {
				return fl.Var, false
			}
			continue
		}
		if !want.equal(c) {
			return fl.Var, false
		}
	}
	return "", true
}

func (c nodeConfig) equal(o nodeConfig) bool {
	return c.AccessModel == o.AccessModel && c.MaxItems == o.MaxItems && c.Persist == o.Persist &&
		c.SendLast == o.SendLast && c.Notify == o.Notify && c.Payloads == o.Payloads &&
		c.NotifyRetract == o.NotifyRetract && c.NotifyDelete == o.NotifyDelete && c.Title == o.Title
}

// configForm renders c as a pubsub#node_config form (XEP-0060 §8.2).
func (c nodeConfig) configForm() *wire.Element {
	return dataform.New("form", NSNodeConfig).
		Field("pubsub#title", "text-single", "A friendly name for the node", c.Title).
		Bool("pubsub#deliver_notifications", "Deliver event notifications", c.Notify).
		Bool("pubsub#deliver_payloads", "Deliver payloads with event notifications", c.Payloads).
		Bool("pubsub#notify_delete", "Notify subscribers when the node is deleted or purged", c.NotifyDelete).
		Bool("pubsub#notify_retract", "Notify subscribers when items are retracted", c.NotifyRetract).
		Bool("pubsub#persist_items", "Persist items to storage", c.Persist).
		Field("pubsub#max_items", "text-single", "Max number of items to persist (or \"max\")", formatMaxItems(c.MaxItems)).
		List("pubsub#access_model", "Who may subscribe and retrieve items", c.AccessModel,
			options(accessOpen, accessPresence, accessWhitelist)...).
		List("pubsub#send_last_published_item", "When to send the last published item", c.SendLast,
			options(sendNever, sendOnSub, sendPresence)...).
		Element()
}

// options are unlabelled list options.
func options(values ...string) []dataform.Option {
	out := make([]dataform.Option, len(values))
	for i, v := range values {
		out[i] = dataform.Option{Value: v}
	}
	return out
}
