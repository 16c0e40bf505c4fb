package config

import (
	"reflect"
	"strings"
	"testing"
)

const examplePath = "../../config.example.toml"

// config.example.toml loads, documents every core key with its default,
// (its extension sections are checked in cmd/xmppd).
func TestExampleFile(t *testing.T) {
	c, err := Load(examplePath)
	if err != nil {
		t.Fatal(err)
	}

	// Every core key is present in the file...
	keys := coreKeys(reflect.TypeFor[Config](), nil)
	if len(keys) != 37 {
		t.Errorf("found %d core keys by reflection, want 37: %v", len(keys), keys)
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

	// Extension sections are checked against the real extensions by
	// cmd/xmppd's TestExampleConfigIsAccepted.
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
