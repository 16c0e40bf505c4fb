package dataform_test

import (
	"slices"
	"testing"

	"github.com/xmppd/xmppd/xmppd/dataform"
	"github.com/xmppd/xmppd/xmppd/wire"
)

func parse(t *testing.T, s string) *wire.Element {
	t.Helper()
	el, err := wire.Parse([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return el
}

func TestParse(t *testing.T) {
	f := dataform.Parse(parse(t, "<x xmlns='jabber:x:data' type='submit'>"+
		"<field var='FORM_TYPE' type='hidden'><value> urn:example </value></field>"+
		"<field var='a'><value> one </value><value>two</value></field>"+
		"<field type='fixed'><value>ignored</value></field>"+
		"<field var='b'/>"+
		"<field var='a'><value>again</value></field>"+
		"<field var='c' xmlns='urn:other'><value>other namespace</value></field>"+
		"</x>"))
	if f.Type != "submit" || f.FormType != "urn:example" || !f.HasFormType {
		t.Fatalf("type %q, FORM_TYPE %q (%v)", f.Type, f.FormType, f.HasFormType)
	}
	if got := f.Vars(); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("Vars = %q", got)
	}
	if len(f.Fields) != 3 || !slices.Equal(f.Fields[0].Values, []string{" one ", "two"}) {
		t.Errorf("Fields = %+v", f.Fields)
	}
	if got := f.Fields[0].Value(); got != "one" {
		t.Errorf("first field Value = %q", got)
	}
	// A repeated var: its last occurrence counts.
	if got := f.Values("a"); !slices.Equal(got, []string{"again"}) {
		t.Errorf(`Values("a") = %q`, got)
	}
	if got := f.Value("b"); got != "" {
		t.Errorf(`Value("b") = %q`, got)
	}
	if f.Values("missing") != nil || f.Value("c") != "" {
		t.Error("a field that is not there has values")
	}
}

func TestParseNoFormType(t *testing.T) {
	f := dataform.Parse(parse(t, "<x xmlns='jabber:x:data'><field var='FORM_TYPE'/></x>"))
	if !f.HasFormType || f.FormType != "" {
		t.Errorf("empty FORM_TYPE: %q (%v)", f.FormType, f.HasFormType)
	}
	f = dataform.Parse(parse(t, "<x xmlns='jabber:x:data' type='cancel'/>"))
	if f.HasFormType || f.Type != "cancel" || len(f.Fields) != 0 {
		t.Errorf("cancel form: %+v", f)
	}
}

func TestFind(t *testing.T) {
	if dataform.Find(parse(t, "<configure xmlns='urn:p'><x xmlns='urn:other'/></configure>")) != nil {
		t.Error("found a form in the wrong namespace")
	}
	f := dataform.Find(parse(t, "<configure xmlns='urn:p'><x xmlns='jabber:x:data' type='submit'>"+
		"<field var='k'><value>v</value></field></x><x xmlns='jabber:x:data' type='result'/></configure>"))
	if f == nil || f.Type != "submit" || f.Value("k") != "v" {
		t.Errorf("Find = %+v", f)
	}
}

func TestParseBool(t *testing.T) {
	for s, want := range map[string][2]bool{
		"1": {true, true}, "true": {true, true}, "0": {false, true}, "false": {false, true},
		"yes": {false, false}, "": {false, false}, " 1": {false, false},
	} {
		if b, ok := dataform.ParseBool(s); b != want[0] || ok != want[1] {
			t.Errorf("ParseBool(%q) = %v, %v", s, b, ok)
		}
	}
	if dataform.FormatBool(true) != "1" || dataform.FormatBool(false) != "0" {
		t.Error("FormatBool")
	}
}

func TestBuilder(t *testing.T) {
	x := dataform.New("form", "urn:example").
		Field("name", "text-single", "Name", "Ann").
		Instructions("Fill it in.").
		Bool("on", "", true).
		List("pick", "Pick", "b", dataform.Option{Value: "a"}, dataform.Option{Label: "Bee", Value: "b"}).
		Field("empty", "", "").
		Append(wire.NewElement("reported", dataform.NS)).
		Title("Example").
		Element()
	want := "<x xmlns='jabber:x:data' type='form'><title>Example</title><instructions>Fill it in.</instructions>" +
		"<field var='FORM_TYPE' type='hidden'><value>urn:example</value></field>" +
		"<field var='name' type='text-single' label='Name'><value>Ann</value></field>" +
		"<field var='on' type='boolean'><value>1</value></field>" +
		"<field var='pick' type='list-single' label='Pick'><value>b</value>" +
		"<option><value>a</value></option><option label='Bee'><value>b</value></option></field>" +
		"<field var='empty'/><reported/></x>"
	if got := x.String(); got != want {
		t.Errorf("form\n got %s\nwant %s", got, want)
	}
	// What is built parses back.
	f := dataform.Parse(x)
	if f.Type != "form" || f.FormType != "urn:example" || f.Value("name") != "Ann" || f.Value("pick") != "b" {
		t.Errorf("round trip: %+v", f)
	}
	if got := dataform.New("submit", "").Element().String(); got != "<x xmlns='jabber:x:data' type='submit'/>" {
		t.Errorf("empty submit form: %s", got)
	}
}
