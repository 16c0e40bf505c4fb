package muc

import (
	"reflect"
	"testing"

	"github.com/xmppd/xmppd/xmppd/dataform"
	"github.com/xmppd/xmppd/xmppd/wire"
)

// contextOf rebuilds a context from the fields it shows (what staff and
// the CLI see).
func contextOf(t *testing.T, c *EnquiryContext) EnquiryContext {
	t.Helper()
	kv := map[string]string{}
	for _, f := range c.Fields() {
		kv[f.Var] = f.Value
	}
	again, err := ParseEnquiryContext(kv)
	if err != nil {
		t.Fatalf("the fields of %+v are refused: %v", c, err)
	}
	return again
}

// FuzzEnquiryContext: any context argument (the admin protocol's JSON,
// the CLI's key=value pairs) is refused or gives a context that its own
// fields, and its enquiry form in disco#info, show exactly.
func FuzzEnquiryContext(f *testing.F) {
	for _, seed := range []string{
		`{"channel":"Virtual Number","visitor_first_name":" Ada ","utm_source":"news","utm_x.y":"1","visitor-Company":"ACME","start_time":"2025-03-01T09:30:00+01:00"}`,
		`{"start_time":"2025-03-01T09:30:00.5Z"}`,
		`{"channel":"carrier pigeon"}`,
		`{"utm_":"x"}`,
		`{"device_screen":"1920x1080","destination_endpoint":"https://example.com/desk","enquiry_id":"E-1"}`,
		`{"visitor_phone":"+49\u0000"}`,
		`[1]`,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, arg string) {
		kv, err := decodeContextArg(arg)
		if err != nil {
			return
		}
		c, err := ParseEnquiryContext(kv)
		if err != nil {
			return
		}
		if again := contextOf(t, &c); !reflect.DeepEqual(again, c) {
			t.Fatalf("context %+v shows fields that give %+v", c, again)
		}
		x, err := wire.Parse([]byte(c.enquiryForm().String()))
		if err != nil {
			t.Fatalf("the enquiry form does not parse: %v", err)
		}
		form := dataform.Parse(x)
		for _, fl := range c.Fields() {
			if got := form.Value(fl.Var); got != fl.Value {
				t.Fatalf("field %s = %q shows as %q in the form", fl.Var, fl.Value, got)
			}
		}
	})
}

// FuzzVisitorForm: any submitted enquiry-context command form either is
// refused and changes nothing, or changes only the visitor's details, and
// the form then shown, submitted as it is, changes nothing more.
func FuzzVisitorForm(f *testing.F) {
	for _, seed := range []string{
		`<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>urn:xmppd:enquiry:0</value></field><field var='visitor_first_name'><value>Grace</value></field><field var='visitor_company'><value></value></field><field var='new_field_name'><value>Shoe Size</value></field><field var='new_field_value'><value>42</value></field></x>`,
		`<x xmlns='jabber:x:data' type='submit'><field var='utm_source'><value>evil</value></field></x>`,
		`<x xmlns='jabber:x:data' type='submit'><field var='new_field_value'><value>orphan</value></field></x>`,
		`<x xmlns='jabber:x:data' type='submit'><field var='Visitor Email'><value>a@b</value><value>c@d</value></field></x>`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		x, err := wire.Parse(b)
		if err != nil {
			return
		}
		c, err := ParseEnquiryContext(map[string]string{"channel": "weblink", "utm_source": "ads",
			"visitor_first_name": "Ada", "visitor_company": "ACME", "device_platform": "Linux"})
		if err != nil {
			t.Fatal(err)
		}
		before := *c.clone()
		if err := c.applyVisitorForm(dataform.Parse(x)); err != nil {
			if !reflect.DeepEqual(c, before) {
				t.Fatalf("a refused form (%v) changed the context: %+v -> %+v", err, before, c)
			}
			return
		}
		after := c
		after.Visitor, before.Visitor = Visitor{}, Visitor{}
		if !reflect.DeepEqual(after, before) {
			t.Fatalf("the visitor form changed more than the visitor: %+v -> %+v", before, after)
		}
		if again := contextOf(t, &c); !reflect.DeepEqual(again, c) {
			t.Fatalf("context %+v shows fields that give %+v", c, again)
		}
		shown, err := wire.Parse([]byte(c.visitorForm().String()))
		if err != nil {
			t.Fatalf("the visitor form does not parse: %v", err)
		}
		same := c
		if err := same.applyVisitorForm(dataform.Parse(shown)); err != nil || !reflect.DeepEqual(same, c) {
			t.Fatalf("submitting the form as shown: %+v -> %+v (%v)", c, same, err)
		}
	})
}
