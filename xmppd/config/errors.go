package config

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
)

// Error is a configuration problem. Its message is one line that names the
// file, the key and the problem, because it is what an operator sees when
// start-up stops.
type Error struct {
	File string // config file path; "" for the built-in defaults
	Key  string // dotted key such as "limits.max_stanza_size"; "" for the file as a whole
	Line int    // 1-based line of a TOML syntax error; 0 otherwise
	Msg  string // the problem
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("config ")
	if e.File == "" {
		b.WriteString("built-in defaults")
	} else {
		b.WriteString(e.File)
	}
	b.WriteString(": ")
	if e.Line > 0 {
		fmt.Fprintf(&b, "line %d: ", e.Line)
	}
	if e.Key != "" {
		b.WriteString(e.Key)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errorf returns an *Error for key in this configuration, so extensions
// validating their own sections report problems the same way the core does:
//
//	c.Errorf("muc.domain", "%q is not a subdomain of %q", m.Domain, c.Domain)
func (c *Config) Errorf(key, format string, args ...any) error {
	return &Error{File: c.path, Key: key, Msg: fmt.Sprintf(format, args...)}
}

// syntaxError turns a TOML parse error into one line with its line number.
func (c *Config) syntaxError(err error, data []byte) error {
	var pe toml.ParseError
	if errors.As(err, &pe) {
		line := pe.Position.Line
		// The lexer counts a line as soon as it reads its newline, so an
		// error at the end of line 2 ("[c2s" then newline) says line 3;
		// the byte offset is exact.
		if start := pe.Position.Start; start > 0 && start <= len(data) {
			line = 1 + bytes.Count(data[:start], []byte("\n"))
		}
		return &Error{File: c.path, Line: line, Msg: pe.Message}
	}
	return &Error{File: c.path, Msg: err.Error()}
}

// tomlErr matches the errors BurntSushi/toml returns from decoding as plain
// strings: "toml: line 3 (last key \"muc.domain\"): message".
var tomlErr = regexp.MustCompile(`^toml: (?:line \d+ )?\(last key ("(?:[^"\\]|\\.)*")\): (.*)$`)

var (
	incompatible = regexp.MustCompile(`^incompatible types: TOML value has type (.+); destination has type (.+)$`)
	notTable     = regexp.MustCompile(`^type mismatch for .+: expected table but found (.+)$`)
)

// decodeError turns a decoding error into an *Error naming the dotted key
// and saying in TOML terms (not Go's) what was expected.
func (c *Config) decodeError(err error) error {
	var pe toml.ParseError
	if errors.As(err, &pe) {
		// Raised by our UnmarshalText (bad size or duration) or a range check.
		return &Error{File: c.path, Key: pe.LastKey, Msg: pe.Message}
	}
	msg, key := err.Error(), ""
	if m := tomlErr.FindStringSubmatch(msg); m != nil {
		if k, uerr := strconv.Unquote(m[1]); uerr == nil {
			key, msg = k, m[2]
		}
	} else {
		msg = strings.TrimPrefix(msg, "toml: ")
	}
	if m := incompatible.FindStringSubmatch(msg); m != nil {
		msg = fmt.Sprintf("expected %s, got %s", destName(m[2]), tomlTypeName(m[1]))
	} else if m := notTable.FindStringSubmatch(msg); m != nil {
		msg = "expected a table, got " + tomlTypeName(m[1])
	}
	return &Error{File: c.path, Key: key, Msg: msg}
}

// tomlTypeName names the Go type the TOML parser produced as the TOML type
// the operator wrote.
func tomlTypeName(goType string) string {
	switch goType {
	case "string":
		return "a string"
	case "int64":
		return "an integer"
	case "float64":
		return "a float"
	case "bool":
		return "a boolean"
	case "[]any", "[]interface {}":
		return "an array"
	case "map[string]any", "map[string]interface {}":
		return "a table"
	case "[]map[string]any", "[]map[string]interface {}":
		return "an array of tables"
	case "time.Time":
		return "a date-time"
	}
	return goType
}

// destName names the destination kind BurntSushi/toml reports.
func destName(dst string) string {
	switch dst {
	case "string", "primitive (string-like)":
		return "a string"
	case "integer":
		return "an integer"
	case "float":
		return "a number"
	case "boolean":
		return "a boolean (true or false)"
	case "slice":
		return "an array"
	case "map":
		return "a table"
	}
	return dst
}

// field is a key a struct accepts: its toml tag, or for an untagged field
// its Go name, which BurntSushi/toml matches case-insensitively.
type field struct {
	name   string
	tagged bool
}

// fieldsOf lists the keys a table decoded into t accepts, following
// embedded structs as the decoder does. It returns nil for non-structs
// (maps, Primitive), which accept any key.
func fieldsOf(t reflect.Type) []field {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || t == reflect.TypeFor[toml.Primitive]() {
		return nil
	}
	var fs []field
	for i := range t.NumField() {
		sf := t.Field(i)
		tag, _, _ := strings.Cut(sf.Tag.Get("toml"), ",")
		if tag == "-" {
			continue
		}
		if sf.Anonymous && tag == "" {
			fs = append(fs, fieldsOf(sf.Type)...)
			continue
		}
		if !sf.IsExported() {
			continue
		}
		if tag != "" {
			fs = append(fs, field{name: tag, tagged: true})
		} else {
			fs = append(fs, field{name: sf.Name})
		}
	}
	return fs
}

// accepts reports whether key matches a field exactly as TOML intends:
// tagged names are case-sensitive like TOML keys.
func accepts(fs []field, key string) bool {
	for _, f := range fs {
		if f.name == key || !f.tagged && strings.EqualFold(f.name, key) {
			return true
		}
	}
	return false
}

// suggest returns the candidate closest to name if it is a plausible typo.
func suggest(name string, candidates []string) string {
	best, bestDist := "", 3 // at most two edits away
	for _, cand := range candidates {
		d := editDistance(strings.ToLower(name), strings.ToLower(cand))
		if d < bestDist && d < max(len(name), len(cand))/2+1 {
			best, bestDist = cand, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
