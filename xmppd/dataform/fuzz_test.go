package dataform

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/xmppd/xmppd/xmppd/wire"
)

// FuzzParse: any element parses into a form without a panic; the form's
// accessors agree with its fields; and a form rebuilt from what was
// parsed (Builder, serialised, parsed again) reads back the same, so
// values survive escaping exactly.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>urn:xmpp:mam:2</value></field><field var='with'><value>juliet@capulet.lit</value></field><field var='start'><value>2010-08-07T00:00:00Z</value></field></x>`,
		`<iq xmlns='jabber:client'><query xmlns='urn:xmpp:mam:2'><x xmlns='jabber:x:data'><field var='ids'><value> a </value><value>b</value></field><field var='ids'><value>c</value></field></x></query></iq>`,
		`<x xmlns='jabber:x:data' type='form'><title>T</title><instructions>i</instructions><field type='fixed'><value>no var</value></field><field var='FORM_TYPE'/><field var='FORM_TYPE'><value> ns </value></field><field var='list' type='list-single'><option label='L'><value>v</value></option><value>v</value></field></x>`,
		`<x xmlns='jabber:x:data'><field var='v'><value>a&amp;b&#xD;&#xA;<i>in</i>c</value></field></x>`,
		`<x xmlns='urn:other'><field var='v'/></x>`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		el, err := wire.Parse(data)
		if err != nil {
			return
		}
		form := Find(el)
		if el.Name == "x" && el.NS == NS {
			form = Parse(el)
		}
		if form == nil {
			return
		}
		vars := form.Vars()
		seen := map[string]bool{}
		for _, v := range vars {
			if v == "" || v == "FORM_TYPE" || seen[v] {
				t.Fatalf("Vars %q: empty, FORM_TYPE or repeated", vars)
			}
			seen[v] = true
			var last []string
			for _, fl := range form.Fields {
				if fl.Var == v {
					last = fl.Values
				}
			}
			if !slices.Equal(form.Values(v), last) {
				t.Fatalf("Values(%q) = %q, want the last field's %q", v, form.Values(v), last)
			}
			if want := strings.TrimSpace(append(last, "")[0]); form.Value(v) != want {
				t.Fatalf("Value(%q) = %q, want %q", v, form.Value(v), want)
			}
		}
		if form.FormType != strings.TrimSpace(form.FormType) || form.FormType != "" && !form.HasFormType {
			t.Fatalf("FormType %q (has %v)", form.FormType, form.HasFormType)
		}

		b := New(form.Type, form.FormType)
		if form.HasFormType && form.FormType == "" {
			b.Append(FieldElement("FORM_TYPE", "hidden", ""))
		}
		for _, fl := range form.Fields {
			b.Field(fl.Var, "", "", fl.Values...)
		}
		out := b.Element().AppendXML(nil)
		el2, err := wire.Parse(out)
		if err != nil {
			t.Fatalf("rebuilt form %q does not parse: %v", out, err)
		}
		back := Parse(el2)
		if back.Type != form.Type || back.FormType != form.FormType || back.HasFormType != form.HasFormType ||
			len(back.Fields) != len(form.Fields) {
			t.Fatalf("round trip of %q via %q: %+v, want %+v", data, out, back, form)
		}
		for i := range back.Fields {
			a, b := back.Fields[i], form.Fields[i]
			if a.Var != b.Var || !reflect.DeepEqual(a.Values, b.Values) && (len(a.Values)+len(b.Values) > 0) {
				t.Fatalf("round trip of %q via %q: field %d is %+v, want %+v", data, out, i, a, b)
			}
		}
	})
}
