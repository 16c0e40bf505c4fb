package config

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

// The SPEC §6 extension sections, as stand-ins for the real extensions'
// config structs: only the key names, types and defaults matter here.
type (
	exampleMessages struct {
		CorrectionWindow Duration `toml:"correction_window"`
		RetractionWindow Duration `toml:"retraction_window"`
	}
	exampleMUC struct {
		Domain string `toml:"domain"`
	}
	exampleUpload struct {
		Domain      string   `toml:"domain"`
		MaxFileSize Size     `toml:"max_file_size"`
		UserQuota   Size     `toml:"user_quota"`
		ExpireAfter Duration `toml:"expire_after"`
	}
	examplePreview struct {
		Enabled      bool `toml:"enabled"`
		AllowPrivate bool `toml:"allow_private"`
	}
	exampleEnquiry struct {
		GuestDomain string   `toml:"guest_domain"`
		Staff       []string `toml:"staff"`
		Destination string   `toml:"destination"`
	}
	exampleSMS struct {
		Domain         string `toml:"domain"`
		ProviderURL    string `toml:"provider_url"`
		ProviderFormat string `toml:"provider_format"`
		InboundSecret  string `toml:"inbound_secret"`
	}
)

const examplePath = "../../config.example.toml"

// config.example.toml loads, documents every core key with its default,
// and carries the SPEC §6 extension sections with their SPEC values.
func TestExampleFile(t *testing.T) {
	c, err := Load(examplePath)
	if err != nil {
		t.Fatal(err)
	}

	// Every core key is present in the file...
	keys := coreKeys(reflect.TypeFor[Config](), nil)
	if len(keys) != 24 {
		t.Errorf("found %d core keys by reflection, want 24: %v", len(keys), keys)
	}
	for _, key := range keys {
		if !c.md.IsDefined(key...) {
			t.Errorf("config.example.toml does not document %s", strings.Join(key, "."))
		}
	}
	// ...with the built-in default as its value.
	got := *c
	got.path, got.md, got.raw = "", Default().md, nil
	if !reflect.DeepEqual(&got, Default()) {
		t.Errorf("config.example.toml core values differ from Default():\n got %+v\nwant %+v", &got, Default())
	}

	// Extension sections decode into the SPEC §6 shapes with the SPEC values.
	var (
		messages exampleMessages
		muc      exampleMUC
		upload   exampleUpload
		preview  examplePreview
		enquiry  = exampleEnquiry{Staff: []string{"default@example.com"}}
		sms      exampleSMS
	)
	for name, v := range map[string]any{
		"messages": &messages, "muc": &muc, "upload": &upload,
		"preview": &preview, "enquiry": &enquiry, "sms": &sms,
	} {
		if err := c.Section(name, v); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.CheckUnknown(); err != nil {
		t.Fatalf("config.example.toml has keys no section decodes:\n%v", err)
	}
	want := []any{
		exampleMessages{Duration{5 * time.Minute}, Duration{5 * time.Minute}},
		exampleMUC{"conference.localhost"},
		exampleUpload{"upload.localhost", 100 * MB, 1 * GB, Duration{720 * time.Hour}},
		examplePreview{Enabled: true, AllowPrivate: false},
		exampleEnquiry{GuestDomain: "", Staff: []string{}, Destination: "Support"},
		exampleSMS{"sms.localhost", "", "json", ""},
	}
	for i, got := range []any{messages, muc, upload, preview, enquiry, sms} {
		if !reflect.DeepEqual(got, want[i]) {
			t.Errorf("section = %+v; want %+v", got, want[i])
		}
	}

	// Had an extension not been registered, its section would be unknown.
	c, err = Load(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	for name, v := range map[string]any{
		"messages": &messages, "muc": &muc, "upload": &upload,
		"preview": &preview, "enquiry": &enquiry,
	} {
		if err := c.Section(name, v); err != nil {
			t.Fatal(err)
		}
	}
	wantErr(t, c.CheckUnknown(), `config `+examplePath+`: unknown section "sms"`)
}

// coreKeys lists the dotted keys of the TOML-tagged fields of t, recursing
// into tables (structs other than Duration).
func coreKeys(t reflect.Type, prefix []string) [][]string {
	var keys [][]string
	for sf := range t.Fields() {
		tag := sf.Tag.Get("toml")
		if tag == "" || !sf.IsExported() {
			continue
		}
		key := append(append([]string(nil), prefix...), tag)
		if sf.Type.Kind() == reflect.Struct && sf.Type != reflect.TypeFor[Duration]() {
			keys = append(keys, coreKeys(sf.Type, key)...)
			continue
		}
		keys = append(keys, key)
	}
	return keys
}
