package wire

import "fmt"

// ErrorKind classifies bad input by the RFC 6120 §4.9.3 stream error condition
// the server must answer with before closing the stream.
type ErrorKind int

// Error kinds. The zero value is NotWellFormed so that an Error built without
// an explicit kind still maps to a sensible stream error.
const (
	NotWellFormed      ErrorKind = iota // <not-well-formed/>
	TooLarge                            // <policy-violation/>: size, depth or attribute limits
	BadNamespacePrefix                  // <bad-namespace-prefix/>: undeclared or illegal prefix
	Restricted                          // <restricted-xml/>: comments, PIs, DTDs, entity references (RFC 6120 §11.1)
	InvalidXML                          // <invalid-xml/>: invalid UTF-8, characters or character references
)

// Condition returns the RFC 6120 stream error condition name for k.
func (k ErrorKind) Condition() string {
	switch k {
	case TooLarge:
		return "policy-violation"
	case BadNamespacePrefix:
		return "bad-namespace-prefix"
	case Restricted:
		return "restricted-xml"
	case InvalidXML:
		return "invalid-xml"
	}
	return "not-well-formed"
}

func (k ErrorKind) String() string { return k.Condition() }

// Error reports input that violates XML 1.0 well-formedness, the XMPP XML
// restrictions or the configured Limits. The stream cannot continue after it.
type Error struct {
	Kind ErrorKind
	Msg  string
}

func (e *Error) Error() string { return "xmpp stream " + e.Kind.Condition() + ": " + e.Msg }

// Condition returns the RFC 6120 stream error condition name, e.g.
// "not-well-formed" or "policy-violation".
func (e *Error) Condition() string { return e.Kind.Condition() }

func newErr(k ErrorKind, format string, args ...any) *Error {
	if len(args) == 0 {
		return &Error{Kind: k, Msg: format}
	}
	return &Error{Kind: k, Msg: fmt.Sprintf(format, args...)}
}
