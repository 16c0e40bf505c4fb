package shortcuts

import (
	"errors"
	"fmt"
	"strings"

	"github.com/xmppd/xmppd/xmppd"
	"github.com/xmppd/xmppd/xmppd/adhoc"
	"github.com/xmppd/xmppd/xmppd/dataform"
	"github.com/xmppd/xmppd/xmppd/wire"
)

// Command nodes on the server's domain.
const (
	NodeList   = "shortcuts/list"
	NodeSet    = "shortcuts/set"
	NodeDelete = "shortcuts/delete"
)

// Scopes in the list command's table.
const (
	scopeOwn    = "yours"
	scopeDomain = "domain"
)

func (e *Extension) registerCommands(r *xmppd.Registrar) error {
	local := func(from, _ xmppd.JID) bool { return from.Domain == e.domain && from.Local != "" }
	_, err := adhoc.ServerCommands(r,
		adhoc.Command{Node: NodeList, Name: "List text shortcuts", Allowed: local, Run: e.runList},
		adhoc.Command{Node: NodeSet, Name: "Add or change a text shortcut", Allowed: local, Run: e.runSet},
		adhoc.Command{Node: NodeDelete, Name: "Delete a text shortcut", Allowed: local, Run: e.runDelete},
	)
	return err
}

// runList answers in one stage: a result table and the same as text.
func (e *Extension) runList(req *adhoc.Request) (*adhoc.Response, error) {
	user := req.From.BareString()
	l, err := e.visible(user)
	if err != nil {
		return nil, err
	}
	if len(l) == 0 {
		return &adhoc.Response{Completed: true, Notes: []adhoc.Note{adhoc.Info("You have no text shortcuts yet.")}}, nil
	}
	reported := wire.NewElement("reported", dataform.NS).Append(
		dataform.FieldElement("name", "text-single", "Name"),
		dataform.FieldElement("text", "text-single", "Text"),
		dataform.FieldElement("scope", "text-single", "Scope"))
	form := dataform.New("result", "").Title("Text shortcuts").Append(reported)
	var text strings.Builder
	for _, sc := range l {
		scope := scopeOwn
		if sc.Owner != user {
			scope = scopeDomain
		}
		form.Append(wire.NewElement("item", dataform.NS).Append(
			dataform.FieldElement("name", "", "", "/"+sc.Name),
			dataform.FieldElement("text", "", "", sc.Text),
			dataform.FieldElement("scope", "", "", scope)))
		text.WriteString("/" + sc.Name + " → " + sc.Text)
		if scope == scopeDomain {
			text.WriteString(" (domain-wide)")
		}
		text.WriteByte('\n')
	}
	note := strings.TrimSuffix(text.String(), "\n")
	if len(note) > maxListNote {
		note = fmt.Sprintf("%d text shortcuts: see the table.", len(l))
	}
	return &adhoc.Response{Completed: true, Notes: []adhoc.Note{adhoc.Info(note)}, Form: form.Element()}, nil
}

// maxListNote bounds the list's text note (the table has everything), so
// long lists do not double an already large answer.
const maxListNote = 4096

// setForm asks for a name and a text, showing what was given.
func (e *Extension) setForm(name, text string) *wire.Element {
	return dataform.New("form", "").Title("Text shortcut").
		Instructions("Type /name in a chat to use the text. Giving the name of one of your shortcuts changes it.").
		Append(required(dataform.FieldElement("name", "text-single", "Name (letters, digits, - and _)", name)),
			required(dataform.FieldElement("text", "text-single", "Text, link or phone number", text))).
		Element()
}

func required(f *wire.Element) *wire.Element {
	return f.Append(wire.NewElement("required", dataform.NS))
}

// runSet shows the form, then stores what was submitted; a bad entry
// shows the form again with what is wrong.
func (e *Extension) runSet(req *adhoc.Request) (*adhoc.Response, error) {
	switch {
	case req.Stage == 0:
		return &adhoc.Response{Form: e.setForm("", "")}, nil
	case req.Form == nil:
		return &adhoc.Response{Form: e.setForm("", ""), Notes: []adhoc.Note{adhoc.Error("Fill in the form.")}}, nil
	}
	if req.Form.Type == "cancel" {
		return &adhoc.Response{Completed: true, Notes: []adhoc.Note{adhoc.Info("Nothing changed.")}}, nil
	}
	user := req.From.BareString()
	name, text := req.Form.Value("name"), strings.Join(req.Form.Values("text"), "\n")
	sc, replaced, err := e.put(user, name, text)
	if err != nil {
		msg := err.Error()
		if errors.Is(err, errLimit) {
			msg = "You have " + itoa(e.Config.MaxPerUser) + " shortcuts, the most allowed: delete one, or give the name of one you have to change it."
		}
		return &adhoc.Response{Form: e.setForm(name, text), Notes: []adhoc.Note{adhoc.Error(msg)}}, nil
	}
	e.log.Info("shortcut set", "owner", user, "name", sc.Name, "replaced", replaced)
	note := "Added /" + sc.Name + "."
	if replaced {
		note = "Changed /" + sc.Name + "."
	}
	return &adhoc.Response{Completed: true, Notes: []adhoc.Note{adhoc.Info(note)}}, nil
}

// runDelete offers the user's own shortcuts and deletes those picked.
func (e *Extension) runDelete(req *adhoc.Request) (*adhoc.Response, error) {
	user := req.From.BareString()
	own, err := e.list(user)
	if err != nil {
		return nil, err
	}
	if len(own) == 0 {
		return &adhoc.Response{Completed: true, Notes: []adhoc.Note{adhoc.Info("You have no text shortcuts of your own to delete.")}}, nil
	}
	switch {
	case req.Stage == 0:
		return &adhoc.Response{Form: deleteForm(own)}, nil
	case req.Form == nil:
		return &adhoc.Response{Form: deleteForm(own), Notes: []adhoc.Note{adhoc.Error("Pick the shortcuts to delete.")}}, nil
	}
	if req.Form.Type == "cancel" {
		return &adhoc.Response{Completed: true, Notes: []adhoc.Note{adhoc.Info("Nothing deleted.")}}, nil
	}
	var picked []string
	for _, v := range req.Form.Values("names") {
		if v = strings.TrimSpace(v); v != "" {
			picked = append(picked, v)
		}
	}
	if len(picked) == 0 {
		return &adhoc.Response{Form: deleteForm(own), Notes: []adhoc.Note{adhoc.Error("Pick the shortcuts to delete.")}}, nil
	}
	var done, problems []string
	for _, name := range picked {
		sc, err := e.del(user, name)
		switch {
		case errors.Is(err, errNoShortcut) && e.isDomainWide(name):
			problems = append(problems, name+" is domain-wide: only an operator can change it")
		case err != nil:
			problems = append(problems, err.Error())
		default:
			done = append(done, "/"+sc.Name)
			e.log.Info("shortcut deleted", "owner", user, "name", sc.Name)
		}
	}
	res := &adhoc.Response{Completed: true}
	if len(done) > 0 {
		res.Notes = append(res.Notes, adhoc.Info("Deleted "+strings.Join(done, ", ")+"."))
	}
	if len(problems) > 0 {
		res.Notes = append(res.Notes, adhoc.Error(strings.Join(problems, "; ")))
	}
	return res, nil
}

func deleteForm(own []Shortcut) *wire.Element {
	f := required(dataform.FieldElement("names", "list-multi", "Shortcuts to delete"))
	for _, sc := range own {
		f.Append(wire.NewElement("option", dataform.NS, wire.Attr{Name: "label", Value: "/" + sc.Name + " → " + sc.Text}).
			Append(wire.NewElement("value", dataform.NS).SetText(sc.Name)))
	}
	return dataform.New("form", "").Title("Delete text shortcuts").Append(f).Element()
}

// isDomainWide says whether the domain has a shortcut named name.
func (e *Extension) isDomainWide(name string) bool {
	n, err := ParseName(name)
	if err != nil {
		return false
	}
	_, err = e.db.Map(storeEntries).Get(e.domain, key(n))
	return err == nil
}
