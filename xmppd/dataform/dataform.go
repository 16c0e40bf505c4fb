// Package dataform is XEP-0004 Data Forms over wire.Element: parsing a
// submitted form (Parse, Find) and building a form to send (New). It is a
// library shared by the extensions and mamproto, not an extension; what a
// field means, and which values are acceptable, is the caller's business.
package dataform

import (
	"strings"

	"github.com/xmppd/xmppd/xmppd/wire"
)

// NS is the XEP-0004 namespace.
const NS = "jabber:x:data"

// Field is one field of a parsed form.
type Field struct {
	Var string
	// Values are the <value/> texts as sent, untrimmed, in order.
	Values []string
}

// Value is the field's first value, trimmed; "" when it has none.
func (f Field) Value() string {
	if len(f.Values) == 0 {
		return ""
	}
	return strings.TrimSpace(f.Values[0])
}

// Form is a parsed form.
type Form struct {
	Type string // form, submit, cancel, result
	// FormType is the trimmed first value of the FORM_TYPE field (the
	// last one, if repeated); HasFormType says whether there was one,
	// since a form without it is not the same as one with an empty value.
	FormType    string
	HasFormType bool
	// Fields are the other fields with a var, in document order. A var
	// given twice appears twice (the caps hash, XEP-0115, must see both).
	Fields []Field
}

// Parse reads the form x, a <x xmlns='jabber:x:data'/>.
func Parse(x *wire.Element) *Form {
	f := &Form{Type: x.Attr("type")}
	for _, fe := range x.ChildrenNamed("field", NS) {
		v := fe.Attr("var")
		var vals []string
		for _, ve := range fe.ChildrenNamed("value", NS) {
			vals = append(vals, ve.Text)
		}
		switch v {
		case "FORM_TYPE":
			f.HasFormType = true
			if len(vals) > 0 {
				f.FormType = strings.TrimSpace(vals[0])
			}
		case "":
			// Only fixed fields go without a var; they carry nothing.
		default:
			f.Fields = append(f.Fields, Field{Var: v, Values: vals})
		}
	}
	return f
}

// Find parses the first jabber:x:data child of parent; nil when there is
// none.
func Find(parent *wire.Element) *Form {
	x := parent.Child("x", NS)
	if x == nil {
		return nil
	}
	return Parse(x)
}

// Vars are the distinct field vars in the order they first appear.
func (f *Form) Vars() []string {
	seen := make(map[string]bool, len(f.Fields))
	var out []string
	for _, fl := range f.Fields {
		if !seen[fl.Var] {
			seen[fl.Var] = true
			out = append(out, fl.Var)
		}
	}
	return out
}

// Values are the untrimmed values of field v (its last occurrence, if
// repeated); nil when the form has no such field or it has no value.
func (f *Form) Values(v string) []string {
	for i := len(f.Fields) - 1; i >= 0; i-- {
		if f.Fields[i].Var == v {
			return f.Fields[i].Values
		}
	}
	return nil
}

// Value is the trimmed first value of field v; "" when there is none.
func (f *Form) Value(v string) string {
	return Field{Values: f.Values(v)}.Value()
}

// ParseBool reads an xs:boolean ("1", "true", "0", "false"; trimming is
// the caller's choice); ok is false for anything else.
func ParseBool(s string) (b, ok bool) {
	switch s {
	case "1", "true":
		return true, true
	case "0", "false":
		return false, true
	}
	return false, false
}

// FormatBool writes an xs:boolean the way most clients expect it.
func FormatBool(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// Option is one choice of a list field.
type Option struct {
	Label string // left out when empty
	Value string
}

// Builder assembles a form to send.
type Builder struct {
	typ, formType string
	title         string
	instructions  []string
	fields        []*wire.Element
}

// New starts a form of type typ (form, submit, result). A non-empty
// formType becomes the hidden FORM_TYPE field, first of the fields.
func New(typ, formType string) *Builder {
	return &Builder{typ: typ, formType: formType}
}

// Title sets the form's title.
func (b *Builder) Title(s string) *Builder {
	b.title = s
	return b
}

// Instructions adds a paragraph of instructions.
func (b *Builder) Instructions(s string) *Builder {
	b.instructions = append(b.instructions, s)
	return b
}

// Field adds a field; typ and label are left out when empty, and it has
// one <value/> per value.
func (b *Builder) Field(v, typ, label string, values ...string) *Builder {
	b.fields = append(b.fields, FieldElement(v, typ, label, values...))
	return b
}

// Bool adds a boolean field.
func (b *Builder) Bool(v, label string, val bool) *Builder {
	return b.Field(v, "boolean", label, FormatBool(val))
}

// List adds a list-single field with its current value and its options.
func (b *Builder) List(v, label, value string, options ...Option) *Builder {
	f := FieldElement(v, "list-single", label, value)
	for _, o := range options {
		oe := wire.NewElement("option", NS)
		if o.Label != "" {
			oe.SetAttr("label", o.Label)
		}
		f.Append(oe.Append(wire.NewElement("value", NS).SetText(o.Value)))
	}
	b.fields = append(b.fields, f)
	return b
}

// Append adds fields built elsewhere, e.g. with a <validate/> child.
func (b *Builder) Append(fields ...*wire.Element) *Builder {
	b.fields = append(b.fields, fields...)
	return b
}

// Element renders the form: title, instructions, then the fields, the
// order XEP-0004's schema wants.
func (b *Builder) Element() *wire.Element {
	x := wire.NewElement("x", NS)
	if b.typ != "" {
		x.SetAttr("type", b.typ)
	}
	if b.title != "" {
		x.Append(wire.NewElement("title", NS).SetText(b.title))
	}
	for _, s := range b.instructions {
		x.Append(wire.NewElement("instructions", NS).SetText(s))
	}
	if b.formType != "" {
		x.Append(FieldElement("FORM_TYPE", "hidden", "", b.formType))
	}
	return x.Append(b.fields...)
}

// FieldElement is one <field/>; typ and label are left out when empty.
func FieldElement(v, typ, label string, values ...string) *wire.Element {
	f := wire.NewElement("field", NS, wire.Attr{Name: "var", Value: v})
	if typ != "" {
		f.SetAttr("type", typ)
	}
	if label != "" {
		f.SetAttr("label", label)
	}
	for _, val := range values {
		f.Append(wire.NewElement("value", NS).SetText(val))
	}
	return f
}
