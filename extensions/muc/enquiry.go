package muc

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/xmppd/xmppd/xmppd/dataform"
	"github.com/xmppd/xmppd/xmppd/wire"
)

// Enquiry rooms (SPEC §1): the enquiry context is stored with the room,
// shown to every client as a second XEP-0128 form (FORM_TYPE
// urn:xmppd:enquiry:0) in the room's disco#info, and its visitor fields
// are edited by the room's owners and admins through the ad-hoc command
// enquiry-context (commands.go). One set of field names serves the form,
// the CLI (--context key=value) and the admin protocol.

// FormTypeEnquiry is the FORM_TYPE of the enquiry context form.
const FormTypeEnquiry = "urn:xmppd:enquiry:0"

// Channels an enquiry arrives by (SPEC §1).
const (
	ChannelTag           = "tag"
	ChannelWeblink       = "weblink"
	ChannelVirtualNumber = "virtual_number"
	ChannelSocial        = "social"
	ChannelThirdParty    = "third_party"
)

var channels = []string{ChannelTag, ChannelWeblink, ChannelVirtualNumber, ChannelSocial, ChannelThirdParty}

// Bounds of what a context holds: it is written by web visitors' browsers
// (through the web-chat code) and by staff, and shown in every disco#info.
const (
	maxContextValue  = 1024 // characters per value
	maxContextKey    = 64   // characters per field name
	maxContextExtras = 50   // extra visitor fields, and custom utm_* parameters
)

// EnquiryContext is what xmppd knows about an enquiry. Every field is
// optional.
type EnquiryContext struct {
	EnquiryID     string    `json:"enquiry_id,omitempty"`
	Channel       string    `json:"channel,omitempty"` // one of the Channel constants
	ChannelDetail string    `json:"channel_detail,omitempty"`
	Language      string    `json:"language,omitempty"`
	Location      string    `json:"location,omitempty"`
	StartTime     time.Time `json:"start_time,omitzero"`

	Visitor     Visitor           `json:"visitor,omitzero"`
	Device      Device            `json:"device,omitzero"`
	UTM         map[string]string `json:"utm,omitempty"` // full parameter name ("utm_source") → value
	Destination Destination       `json:"destination,omitzero"`
}

// Visitor describes the person who started the enquiry.
type Visitor struct {
	FirstName string `json:"first_name,omitempty"`
	LastName  string `json:"last_name,omitempty"`
	Phone     string `json:"phone,omitempty"`
	Email     string `json:"email,omitempty"`
	// Extra holds fields staff added later: name (without "visitor_") →
	// value.
	Extra map[string]string `json:"extra,omitempty"`
}

// Device describes the visitor's device.
type Device struct {
	Platform  string `json:"platform,omitempty"`
	UserAgent string `json:"user_agent,omitempty"`
	Screen    string `json:"screen,omitempty"`     // e.g. "1920x1080"
	LocalTime string `json:"local_time,omitempty"` // the visitor's clock, as the browser reported it
	Geo       string `json:"geo,omitempty"`        // e.g. "52.52,13.40"
}

// Destination is where the enquiry was addressed.
type Destination struct {
	Name     string `json:"name,omitempty"`
	Type     string `json:"type,omitempty"`
	Endpoint string `json:"endpoint,omitempty"`
}

// ContextField is one field of the context as the form shows it.
type ContextField struct {
	Var   string `json:"var"`
	Label string `json:"label"`
	Value string `json:"value"`
}

// standardUTM are the five common utm_* parameters, in form order.
var standardUTM = []string{"utm_campaign", "utm_content", "utm_medium", "utm_source", "utm_term"}

type strField struct {
	v, label string
	p        *string
}

// headFields, visitorFields and tailFields are the context's string
// fields, by group, in form order.
func (c *EnquiryContext) headFields() []strField {
	return []strField{
		{"enquiry_id", "Enquiry ID", &c.EnquiryID},
		{"channel", "Channel", &c.Channel},
		{"channel_detail", "Channel detail", &c.ChannelDetail},
		{"language", "Language", &c.Language},
		{"location", "Location", &c.Location},
	}
}

func (c *EnquiryContext) visitorFields() []strField {
	return []strField{
		{"visitor_first_name", "Visitor first name", &c.Visitor.FirstName},
		{"visitor_last_name", "Visitor last name", &c.Visitor.LastName},
		{"visitor_phone", "Visitor phone", &c.Visitor.Phone},
		{"visitor_email", "Visitor email", &c.Visitor.Email},
	}
}

func (c *EnquiryContext) tailFields() (device, destination []strField) {
	return []strField{
			{"device_platform", "Device platform", &c.Device.Platform},
			{"device_user_agent", "Device user agent", &c.Device.UserAgent},
			{"device_screen", "Device screen size", &c.Device.Screen},
			{"device_local_time", "Device local time", &c.Device.LocalTime},
			{"device_geo", "Device geo location", &c.Device.Geo},
		}, []strField{
			{"destination_name", "Destination name", &c.Destination.Name},
			{"destination_type", "Destination type", &c.Destination.Type},
			{"destination_endpoint", "Destination endpoint", &c.Destination.Endpoint},
		}
}

func sortedKeys(m map[string]string) []string {
	l := make([]string, 0, len(m))
	for k := range m {
		l = append(l, k)
	}
	slices.Sort(l)
	return l
}

// Fields returns the fields that have a value, in form order: enquiry,
// visitor (extra fields sorted), device, UTM (the five standard parameters,
// then custom ones sorted), destination.
func (c *EnquiryContext) Fields() []ContextField {
	var l []ContextField
	add := func(fs []strField) {
		for _, f := range fs {
			if *f.p != "" {
				l = append(l, ContextField{f.v, f.label, *f.p})
			}
		}
	}
	add(c.headFields())
	if !c.StartTime.IsZero() {
		l = append(l, ContextField{"start_time", "Start time", c.StartTime.UTC().Format(time.RFC3339)})
	}
	add(c.visitorFields())
	for _, k := range sortedKeys(c.Visitor.Extra) {
		l = append(l, ContextField{"visitor_" + k, "Visitor " + strings.ReplaceAll(k, "_", " "), c.Visitor.Extra[k]})
	}
	device, destination := c.tailFields()
	add(device)
	for _, k := range c.utmKeys() {
		l = append(l, ContextField{k, k, c.UTM[k]})
	}
	add(destination)
	return l
}

// utmKeys returns the UTM parameters present: standard ones first, then
// custom ones sorted.
func (c *EnquiryContext) utmKeys() []string {
	var l []string
	for _, k := range standardUTM {
		if c.UTM[k] != "" {
			l = append(l, k)
		}
	}
	for _, k := range sortedKeys(c.UTM) {
		if !slices.Contains(standardUTM, k) {
			l = append(l, k)
		}
	}
	return l
}

// Get returns a field's value ("" when unset or unknown).
func (c *EnquiryContext) Get(key string) string {
	for _, f := range c.Fields() {
		if f.Var == key {
			return f.Value
		}
	}
	return ""
}

// normKey lower-cases a field name and spells spaces and dashes as "_".
func normKey(k string) string {
	return strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' {
			return '_'
		}
		return unicode.ToLower(r)
	}, strings.TrimSpace(k))
}

func validSuffix(s string) bool {
	if s == "" || len(s) > maxContextKey {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

func checkValue(key, v string) error {
	if !utf8.ValidString(v) {
		return fmt.Errorf("enquiry context field %s: not UTF-8", key)
	}
	if n := utf8.RuneCountInString(v); n > maxContextValue {
		return fmt.Errorf("enquiry context field %s: %d characters, at most %d", key, n, maxContextValue)
	}
	for _, r := range v {
		if unicode.IsControl(r) || r == utf8.RuneError || r == 0xFFFE || r == 0xFFFF {
			return fmt.Errorf("enquiry context field %s: control characters are not allowed", key)
		}
	}
	return nil
}

// Set sets the field key (a form field name, e.g. "visitor_phone",
// "utm_source", "visitor_company") to value; an empty value clears it.
// The error names the field.
func (c *EnquiryContext) Set(key, value string) error {
	key = normKey(key)
	value = strings.TrimSpace(value)
	if err := checkValue(key, value); err != nil {
		return err
	}
	for _, group := range [][]strField{c.headFields(), c.visitorFields()} {
		for _, f := range group {
			if f.v == key {
				if key == "channel" && value != "" {
					ch := normKey(value)
					if !slices.Contains(channels, ch) {
						return fmt.Errorf("enquiry context field channel: %q is not one of %s", value, strings.Join(channels, ", "))
					}
					value = ch
				}
				*f.p = value
				return nil
			}
		}
	}
	device, destination := c.tailFields()
	for _, f := range append(device, destination...) {
		if f.v == key {
			*f.p = value
			return nil
		}
	}
	switch {
	case key == "start_time":
		if value == "" {
			c.StartTime = time.Time{}
			return nil
		}
		t, err := time.Parse(time.RFC3339, value)
		if err != nil {
			return fmt.Errorf("enquiry context field start_time: %q is not an RFC 3339 time (e.g. 2025-03-01T09:30:00Z)", value)
		}
		// Whole seconds: what the fields and forms show (RFC 3339) is
		// what is stored.
		c.StartTime = t.UTC().Truncate(time.Second)
		return nil
	case strings.HasPrefix(key, "visitor_"):
		name := strings.TrimPrefix(key, "visitor_")
		if !validSuffix(name) {
			return fmt.Errorf("enquiry context field %s: an extra visitor field is named visitor_ plus up to %d of a-z, 0-9, _ and .", key, maxContextKey)
		}
		return setExtra(&c.Visitor.Extra, key, name, value)
	case strings.HasPrefix(key, "utm_"):
		if !validSuffix(strings.TrimPrefix(key, "utm_")) {
			return fmt.Errorf("enquiry context field %s: a UTM parameter is named utm_ plus up to %d of a-z, 0-9, _ and .", key, maxContextKey)
		}
		return setExtra(&c.UTM, key, key, value)
	}
	return fmt.Errorf("enquiry context: unknown field %q (fields are listed in README, section Rooms)", key)
}

func setExtra(m *map[string]string, key, name, value string) error {
	if value == "" {
		delete(*m, name)
		return nil
	}
	if *m == nil {
		*m = make(map[string]string)
	}
	if _, ok := (*m)[name]; !ok && len(*m) >= maxContextExtras {
		return fmt.Errorf("enquiry context field %s: at most %d such fields", key, maxContextExtras)
	}
	(*m)[name] = value
	return nil
}

// normalised returns a checked copy of c: every field goes through Set, so
// a context built in Go obeys the same rules as one from the CLI or a form.
func (c EnquiryContext) normalised() (EnquiryContext, error) {
	var out EnquiryContext
	for _, f := range c.Fields() {
		if f.Var == "start_time" {
			continue
		}
		if err := out.Set(f.Var, f.Value); err != nil {
			return EnquiryContext{}, err
		}
	}
	out.StartTime = c.StartTime.UTC().Truncate(time.Second)
	return out, nil
}

// clone returns a deep copy of c.
func (c *EnquiryContext) clone() *EnquiryContext {
	d := *c
	d.UTM = maps.Clone(c.UTM)
	d.Visitor.Extra = maps.Clone(c.Visitor.Extra)
	return &d
}

// ParseEnquiryContext reads a context from field name → value pairs (the
// CLI's --context key=value flags), applied in name order.
func ParseEnquiryContext(kv map[string]string) (EnquiryContext, error) {
	var c EnquiryContext
	for _, k := range sortedKeys(kv) {
		if err := c.Set(k, kv[k]); err != nil {
			return EnquiryContext{}, err
		}
	}
	return c, nil
}

// decodeContextArg reads the admin protocol's context argument: a JSON
// object of field name → value.
func decodeContextArg(s string) (map[string]string, error) {
	if s == "" {
		return nil, nil
	}
	var m map[string]string
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return nil, fmt.Errorf("enquiry context: argument is not a JSON object of strings: %w", err)
	}
	return m, nil
}

var channelLabels = map[string]string{
	ChannelTag: "tag", ChannelWeblink: "weblink", ChannelVirtualNumber: "virtual number",
	ChannelSocial: "social", ChannelThirdParty: "third party",
}

// announcement is the text of the room's system message when the enquiry
// starts: channel, UTM parameters, visitor details, destination.
func (c *EnquiryContext) announcement() string {
	var b strings.Builder
	b.WriteString("New enquiry")
	if c.EnquiryID != "" {
		b.WriteString(" " + c.EnquiryID)
	}
	if c.Channel != "" {
		b.WriteString(" via " + channelLabels[c.Channel])
	}
	if c.ChannelDetail != "" {
		b.WriteString(" " + c.ChannelDetail)
	}
	// The UTM parameters in the order marketers read them.
	var utm []string
	order := []string{"utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content"}
	for _, k := range order {
		if v := c.UTM[k]; v != "" {
			utm = append(utm, k+"="+v)
		}
	}
	for _, k := range sortedKeys(c.UTM) {
		if !slices.Contains(order, k) {
			utm = append(utm, k+"="+c.UTM[k])
		}
	}
	if len(utm) > 0 {
		b.WriteString(" (" + strings.Join(utm, ", ") + ")")
	}
	var who []string
	if name := strings.TrimSpace(c.Visitor.FirstName + " " + c.Visitor.LastName); name != "" {
		who = append(who, name)
	}
	for _, v := range []string{c.Visitor.Phone, c.Visitor.Email} {
		if v != "" {
			who = append(who, v)
		}
	}
	for _, k := range sortedKeys(c.Visitor.Extra) {
		who = append(who, strings.ReplaceAll(k, "_", " ")+": "+c.Visitor.Extra[k])
	}
	if len(who) > 0 {
		b.WriteString(" from " + strings.Join(who, ", "))
	}
	if c.Destination.Name != "" {
		b.WriteString(" to " + c.Destination.Name)
	}
	return b.String()
}

// enquiryForm is the context as a XEP-0004 result form, for disco#info
// (XEP-0128). Fields without a value are left out.
func (c *EnquiryContext) enquiryForm() *wire.Element {
	x := dataform.New("result", FormTypeEnquiry)
	for _, f := range c.Fields() {
		typ := "text-single"
		if f.Var == "channel" {
			typ = "list-single"
		}
		x.Field(f.Var, typ, f.Label, f.Value)
	}
	return x.Element()
}

// visitorForm is the enquiry-context command's form: the visitor fields,
// prefilled, plus a pair to add a field.
func (c *EnquiryContext) visitorForm() *wire.Element {
	x := dataform.New("form", FormTypeEnquiry).Title("Enquiry: visitor details").Instructions(
		"Edit the visitor's details. To add a field, fill in new_field_name and new_field_value; " +
			"an empty value removes an added field.")
	for _, f := range c.visitorFields() {
		x.Field(f.v, "text-single", f.label, *f.p)
	}
	for _, k := range sortedKeys(c.Visitor.Extra) {
		x.Field("visitor_"+k, "text-single", "Visitor "+strings.ReplaceAll(k, "_", " "), c.Visitor.Extra[k])
	}
	return x.Field("new_field_name", "text-single", "New field: name").
		Field("new_field_value", "text-single", "New field: value").
		Element()
}

// applyVisitorForm changes the visitor fields by a submitted
// enquiry-context form. Only visitor fields may be edited there.
func (c *EnquiryContext) applyVisitorForm(f *dataform.Form) error {
	if f.FormType != "" && f.FormType != FormTypeEnquiry {
		return fmt.Errorf("unexpected FORM_TYPE %s", f.FormType)
	}
	next := *c
	next.Visitor.Extra = make(map[string]string, len(c.Visitor.Extra))
	for k, v := range c.Visitor.Extra {
		next.Visitor.Extra[k] = v
	}
	first := func(name string) string {
		if v := f.Values(name); len(v) > 0 {
			return strings.Join(v, " ")
		}
		return ""
	}
	for _, name := range f.Vars() {
		switch {
		case name == "new_field_name" || name == "new_field_value":
		case strings.HasPrefix(normKey(name), "visitor_"):
			if err := next.Set(name, first(name)); err != nil {
				return err
			}
		default:
			return fmt.Errorf("only visitor fields can be edited here, not %s", name)
		}
	}
	newName, newValue := normKey(first("new_field_name")), first("new_field_value")
	switch {
	case newName != "":
		if !strings.HasPrefix(newName, "visitor_") {
			newName = "visitor_" + newName
		}
		if err := next.Set(newName, newValue); err != nil {
			return err
		}
	case newValue != "":
		return fmt.Errorf("new_field_value needs a new_field_name")
	}
	if len(next.Visitor.Extra) == 0 {
		next.Visitor.Extra = nil
	}
	*c = next
	return nil
}
