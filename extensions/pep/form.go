package pep

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/xmppd/xmppd/xmppd/wire"
)

// field is one submitted data form field (XEP-0004).
type field struct {
	Var    string
	Values []string
}

// dataForm is a submitted XEP-0004 form: its FORM_TYPE and the other
// fields in document order.
type dataForm struct {
	Type     string // form, submit, cancel, result
	FormType string
	Fields   []field
}

// parseForm reads the first jabber:x:data child of parent; nil when there
// is none.
func parseForm(parent *wire.Element) *dataForm {
	x := parent.Child("x", nsData)
	if x == nil {
		return nil
	}
	f := &dataForm{Type: x.Attr("type")}
	for _, fe := range x.ChildrenNamed("field", nsData) {
		v := fe.Attr("var")
		var vals []string
		for _, ve := range fe.ChildrenNamed("value", nsData) {
			vals = append(vals, ve.Text)
		}
		if v == "FORM_TYPE" {
			if len(vals) > 0 {
				f.FormType = strings.TrimSpace(vals[0])
			}
			continue
		}
		if v == "" {
			continue
		}
		f.Fields = append(f.Fields, field{Var: v, Values: vals})
	}
	return f
}

func (f field) value() string {
	if len(f.Values) == 0 {
		return ""
	}
	return strings.TrimSpace(f.Values[0])
}

// parseBool reads an xs:boolean.
func parseBool(s string) (bool, bool) {
	switch s {
	case "1", "true":
		return true, true
	case "0", "false":
		return false, true
	}
	return false, false
}

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
func (c *nodeConfig) set(f field) error {
	v := f.value()
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
		b, ok := parseBool(v)
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
func (c *nodeConfig) apply(f *dataForm) error {
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
func (c nodeConfig) matches(f *dataForm) (string, bool) {
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
	x := wire.NewElement("x", nsData, wire.Attr{Name: "type", Value: "form"})
	x.Append(formField("FORM_TYPE", "hidden", "", NSNodeConfig))
	x.Append(formField("pubsub#title", "text-single", "A friendly name for the node", c.Title))
	x.Append(boolField("pubsub#deliver_notifications", "Deliver event notifications", c.Notify))
	x.Append(boolField("pubsub#deliver_payloads", "Deliver payloads with event notifications", c.Payloads))
	x.Append(boolField("pubsub#notify_delete", "Notify subscribers when the node is deleted or purged", c.NotifyDelete))
	x.Append(boolField("pubsub#notify_retract", "Notify subscribers when items are retracted", c.NotifyRetract))
	x.Append(boolField("pubsub#persist_items", "Persist items to storage", c.Persist))
	x.Append(formField("pubsub#max_items", "text-single", "Max number of items to persist (or \"max\")", formatMaxItems(c.MaxItems)))
	x.Append(listField("pubsub#access_model", "Who may subscribe and retrieve items", c.AccessModel,
		accessOpen, accessPresence, accessWhitelist))
	x.Append(listField("pubsub#send_last_published_item", "When to send the last published item", c.SendLast,
		sendNever, sendOnSub, sendPresence))
	return x
}

func formField(v, typ, label, value string) *wire.Element {
	f := wire.NewElement("field", nsData, wire.Attr{Name: "var", Value: v}, wire.Attr{Name: "type", Value: typ})
	if label != "" {
		f.SetAttr("label", label)
	}
	return f.Append(wire.NewElement("value", nsData).SetText(value))
}

func boolField(v, label string, b bool) *wire.Element {
	s := "0"
	if b {
		s = "1"
	}
	return formField(v, "boolean", label, s)
}

func listField(v, label, value string, options ...string) *wire.Element {
	f := formField(v, "list-single", label, value)
	for _, o := range options {
		f.Append(wire.NewElement("option", nsData).Append(wire.NewElement("value", nsData).SetText(o)))
	}
	return f
}
