package sms

import "fmt"

// checkNumber reports why s is not an E.164 number as the gateway takes
// it: '+', then 8 to 15 digits, the first not 0 (a country code never
// starts with 0). nil means s is fine.
func checkNumber(s string) error {
	if len(s) == 0 || s[0] != '+' {
		return fmt.Errorf("%q is not an E.164 phone number: it must start with '+' and the country code", s)
	}
	digits := s[1:]
	for i := 0; i < len(digits); i++ {
		if c := digits[i]; c < '0' || c > '9' {
			return fmt.Errorf("%q is not an E.164 phone number: only digits may follow the '+'", s)
		}
	}
	switch {
	case len(digits) < 8 || len(digits) > 15:
		return fmt.Errorf("%q is not an E.164 phone number: it needs 8 to 15 digits, not %d", s, len(digits))
	case digits[0] == '0':
		return fmt.Errorf("%q is not an E.164 phone number: no country code starts with 0", s)
	}
	return nil
}
