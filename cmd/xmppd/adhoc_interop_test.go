package main

import (
	"slices"
	"strings"
	"testing"
)

// TestSlixmppAdhocAgainstBinary: slixmpp's XEP-0050 plugin finds the
// built binary's shortcut commands, adds a shortcut through the form with
// its session workflow, sees a bad name refused with the form shown again,
// and lists the shortcut back.
func TestSlixmppAdhocAgainstBinary(t *testing.T) {
	in := newSlixmppInstance(t, "alice")
	in.mustCLI("", "shortcut", "add", "hotline", "+1 800 555 0100")
	type step struct {
		FirstStatus string     `json:"first_status"`
		Fields      []string   `json:"fields"`
		Actions     []string   `json:"actions"`
		Status      string     `json:"status"`
		Notes       [][]string `json:"notes"`
		FormAgain   bool       `json:"form_again"`
		Cancel      string     `json:"cancel"`
	}
	var res struct {
		Feature struct {
			HasFeature bool `json:"has_feature"`
		} `json:"feature"`
		Commands struct {
			Items [][]string `json:"items"`
		} `json:"commands"`
		Add     step `json:"add"`
		BadName step `json:"bad_name"`
		List    struct {
			Status string              `json:"status"`
			Items  []map[string]string `json:"items"`
			Notes  [][]string          `json:"notes"`
		} `json:"list"`
	}
	runSlixmpp(t, in, "slixmpp_adhoc.py", &res)
	if !res.Feature.HasFeature {
		t.Errorf("disco#info of localhost lacks http://jabber.org/protocol/commands")
	}
	var nodes []string
	for _, it := range res.Commands.Items {
		if len(it) != 3 || it[0] != "localhost" || it[2] == "" {
			t.Errorf("command item %q", it)
			continue
		}
		nodes = append(nodes, it[1])
	}
	if !slices.Equal(nodes, []string{"shortcuts/delete", "shortcuts/list", "shortcuts/set"}) {
		t.Errorf("commands: %q", res.Commands.Items)
	}
	a := res.Add
	if a.FirstStatus != "executing" || !slices.Equal(a.Fields, []string{"name", "text"}) || !slices.Equal(a.Actions, []string{"complete"}) ||
		a.Status != "completed" || len(a.Notes) != 1 || a.Notes[0][1] != "Added /Meet." {
		t.Errorf("add: %+v", a)
	}
	b := res.BadName
	if b.Status != "executing" || !b.FormAgain || len(b.Notes) != 1 || b.Notes[0][0] != "error" ||
		!strings.Contains(b.Notes[0][1], `"no spaces please"`) || b.Cancel != "canceled" {
		t.Errorf("bad name: %+v", b)
	}
	l := res.List
	if l.Status != "completed" || len(l.Items) != 2 ||
		l.Items[0]["name"] != "/hotline" || l.Items[0]["scope"] != "domain" ||
		l.Items[1]["name"] != "/Meet" || l.Items[1]["text"] != "https://meet.example.org/team" || l.Items[1]["scope"] != "yours" {
		t.Errorf("list: %+v", l)
	}
	// The shortcut is stored where the operator sees it.
	if out := in.mustCLI("", "shortcut", "list", "--user", "alice"); out != "/Meet  https://meet.example.org/team\n" {
		t.Errorf("shortcut list --user alice: %q", out)
	}
}
