package config

import (
	"strings"
	"testing"
	"time"
)

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Size
	}{
		{"0", 0},
		{"10B", 10},
		{"10b", 10},
		{"4096", 4096},
		{"512KB", 512_000},
		{"256kb", 256_000},
		{"100MB", 100_000_000},
		{"1GB", 1_000_000_000},
		{"2TB", 2_000_000_000_000},
		{"1KiB", 1024},
		{"1kib", 1024},
		{"4MiB", 4 << 20},
		{"1GiB", 1 << 30},
		{"1TiB", 1 << 40},
		{"1.5GB", 1_500_000_000},
		{"0.5KiB", 512},
		{" 100 MB ", 100_000_000},
		{"9223372036854775807", 1<<63 - 1},
	} {
		got, err := ParseSize(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
	for _, tc := range []struct{ in, wantErr string }{
		{"", "empty size"},
		{"  ", "empty size"},
		{"100 parsecs", `"100 parsecs" is not a size: unknown unit "parsecs"`},
		{"100M", `unknown unit "M"`},
		{"MB", `"MB" is not a size`},
		{"-5MB", "must not be negative"},
		{"-1", "must not be negative"},
		{"1.5B", "not a whole number of bytes"},
		{"0.0001KB", "not a whole number of bytes"},
		{"1.", "is not a size"},
		{".5MB", "is not a size"},
		{"1.2.3MB", `unknown unit ".3MB"`},
		{"1e3", `unknown unit "e3"`},
		{"9223372036854775808", "too large"},
		{"10000000TB", "too large"},
	} {
		_, err := ParseSize(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("ParseSize(%q) error = %v; want it to contain %q", tc.in, err, tc.wantErr)
		}
	}
}

func TestSizeString(t *testing.T) {
	for _, tc := range []struct {
		in   Size
		want string
	}{
		{0, "0"},
		{10, "10B"},
		{1000, "1KB"},
		{256 * KB, "256KB"},
		{1024, "1KiB"},
		{1 << 30, "1GiB"},
		{100 * MB, "100MB"},
		{1500 * MB, "1500MB"},
		{1025, "1025B"},
		{1024 * KB, "1024KB"},
		{1000 * MiB, "1000MiB"},
		{3 * TB, "3TB"},
	} {
		if got := tc.in.String(); got != tc.want {
			t.Errorf("Size(%d).String() = %q; want %q", int64(tc.in), got, tc.want)
		}
		// What MarshalText writes must read back as the same size.
		text, _ := tc.in.MarshalText()
		var back Size
		if err := back.UnmarshalText(text); err != nil || back != tc.in {
			t.Errorf("round trip of %d via %q = %d, %v", int64(tc.in), text, int64(back), err)
		}
	}
}

func TestParseDuration(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{
		{"0", 0},
		{"0s", 0},
		{"500ms", 500 * time.Millisecond},
		{"30s", 30 * time.Second},
		{"5m", 5 * time.Minute},
		{"720h", 720 * time.Hour},
		{"1h30m", 90 * time.Minute},
	} {
		got, err := ParseDuration(tc.in)
		if err != nil || got.Duration != tc.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	for _, tc := range []struct{ in, wantErr string }{
		{"5 minutes", `"5 minutes" is not a duration; use a number with a unit`},
		{"300", `"300" is not a duration`},
		{"", `"" is not a duration`},
		{"5d", `"5d" is not a duration`},
		{"-5m", `duration "-5m" must not be negative`},
	} {
		_, err := ParseDuration(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("ParseDuration(%q) error = %v; want it to contain %q", tc.in, err, tc.wantErr)
		}
	}
}

func TestDurationString(t *testing.T) {
	for _, tc := range []struct {
		in   time.Duration
		want string
	}{
		{0, "0s"},
		{30 * time.Second, "30s"},
		{5 * time.Minute, "5m"},
		{720 * time.Hour, "720h"},
		{time.Hour + 30*time.Second, "1h0m30s"},
		{90 * time.Minute, "1h30m"},
		{1500 * time.Millisecond, "1.5s"},
	} {
		d := Duration{tc.in}
		if got := d.String(); got != tc.want {
			t.Errorf("Duration(%v).String() = %q; want %q", tc.in, got, tc.want)
		}
		text, _ := d.MarshalText()
		var back Duration
		if err := back.UnmarshalText(text); err != nil || back != d {
			t.Errorf("round trip of %v via %q = %v, %v", tc.in, text, back, err)
		}
	}
}
