package config

import (
	"fmt"
	"math/big"
	"strings"
	"time"
)

// Size is a number of bytes. In TOML it is a string with a unit, such as
// "256KB" or "1GiB", or a bare integer number of bytes. Decimal units (KB,
// MB, GB, TB) are powers of 1000 and binary units (KiB, MiB, GiB, TiB) powers
// of 1024, as in IEC 80000-13; units are case-insensitive because operators
// write "mb" and "MB" interchangeably and never mean millibits.
type Size int64

// Size units, for extension defaults such as 100 * config.MB.
const (
	B   Size = 1
	KB  Size = 1000
	MB  Size = 1000 * KB
	GB  Size = 1000 * MB
	TB  Size = 1000 * GB
	KiB Size = 1 << 10
	MiB Size = 1 << 20
	GiB Size = 1 << 30
	TiB Size = 1 << 40
)

// sizeUnits maps a lower-case unit to its multiplier.
var sizeUnits = map[string]Size{
	"": B, "b": B,
	"kb": KB, "mb": MB, "gb": GB, "tb": TB,
	"kib": KiB, "mib": MiB, "gib": GiB, "tib": TiB,
}

// formatUnits is the order String tries units in: largest magnitude first,
// so 1073741824 prints as "1GiB" rather than "1048576KiB", and decimal
// before binary at the same magnitude, so 256000 prints as "256KB" rather
// than "250KiB".
var formatUnits = []struct {
	name string
	size Size
}{
	{"TB", TB}, {"TiB", TiB}, {"GB", GB}, {"GiB", GiB},
	{"MB", MB}, {"MiB", MiB}, {"KB", KB}, {"KiB", KiB},
}

const sizeHelp = `use a number of bytes or a number with a unit: B, KB, MB, GB, TB, KiB, MiB, GiB or TiB, e.g. "256KB"`

// ParseSize parses a size such as "100MB", "1.5GiB", "10 B" or "4096".
// Fractions are allowed as long as the result is a whole number of bytes.
func ParseSize(s string) (Size, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return 0, fmt.Errorf("empty size; %s", sizeHelp)
	}
	if t[0] == '-' {
		return 0, fmt.Errorf("size %q must not be negative", s)
	}
	// Split the leading number (digits with at most one inner dot) from the unit.
	i, dot := 0, false
	for i < len(t) && (t[i] >= '0' && t[i] <= '9' || t[i] == '.' && !dot) {
		dot = dot || t[i] == '.'
		i++
	}
	num, unit := t[:i], strings.TrimSpace(t[i:])
	if num == "" || num[0] == '.' || num[len(num)-1] == '.' {
		return 0, fmt.Errorf("%q is not a size; %s", s, sizeHelp)
	}
	mult, ok := sizeUnits[strings.ToLower(unit)]
	if !ok {
		return 0, fmt.Errorf("%q is not a size: unknown unit %q; %s", s, unit, sizeHelp)
	}
	// big.Rat keeps "1.5GB" exact and catches overflow, which float64 would not.
	r, ok := new(big.Rat).SetString(num)
	if !ok {
		return 0, fmt.Errorf("%q is not a size; %s", s, sizeHelp)
	}
	r.Mul(r, new(big.Rat).SetInt64(int64(mult)))
	if !r.IsInt() {
		return 0, fmt.Errorf("size %q is not a whole number of bytes", s)
	}
	if !r.Num().IsInt64() {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	return Size(r.Num().Int64()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler; the TOML decoder hands
// it strings as they are and integers in decimal.
func (s *Size) UnmarshalText(text []byte) error {
	v, err := ParseSize(string(text))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// MarshalText implements encoding.TextMarshaler with the largest unit that
// divides the size exactly, so a written config reads like a hand-written one.
func (s Size) MarshalText() ([]byte, error) {
	return []byte(s.String()), nil
}

// String formats s as MarshalText does: "256KB", "1GiB", "10B", "0".
func (s Size) String() string {
	if s == 0 {
		return "0"
	}
	for _, u := range formatUnits {
		if s%u.size == 0 {
			return fmt.Sprintf("%d%s", s/u.size, u.name)
		}
	}
	return fmt.Sprintf("%dB", int64(s))
}

// Duration is a time.Duration that reads and writes as a Go duration string
// in TOML ("30s", "5m", "720h"), so it can be a value in a TOML file rather
// than a bare count of nanoseconds.
type Duration struct{ time.Duration }

const durationHelp = `use a number with a unit: ms, s, m or h, e.g. "30s", "5m", "720h"`

// ParseDuration parses a non-negative duration in time.ParseDuration syntax.
func ParseDuration(s string) (Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		return Duration{}, fmt.Errorf("%q is not a duration; %s", s, durationHelp)
	}
	if d < 0 {
		return Duration{}, fmt.Errorf("duration %q must not be negative", s)
	}
	return Duration{d}, nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(text []byte) error {
	v, err := ParseDuration(string(text))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) {
	return []byte(d.String()), nil
}

// String is time.Duration's format without the trailing zero units that
// make "720h" read as "720h0m0s".
func (d Duration) String() string {
	s := d.Duration.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}
