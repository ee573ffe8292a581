package config

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Duration is a time.Duration written in TOML as a string: anything
// time.ParseDuration accepts ("30s", "5m", "4000s", "1h30m"), optionally
// preceded by a whole number of days ("5d", "1d12h").
//
// When decoded from TOML an invalid string does not stop decoding: it is
// kept and reported, with its key, by Validate, so that every problem of a
// file is reported at once.
type Duration struct {
	time.Duration
	invalid string // why the TOML value is not a duration; "" when valid
}

// D returns d as a Duration; a helper for defaults and tests.
func D(d time.Duration) Duration { return Duration{Duration: d} }

var daysPrefix = regexp.MustCompile(`^([0-9]+)d(.*)$`)

// ParseDuration parses s as described on Duration.
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	m := daysPrefix.FindStringSubmatch(s)
	if m == nil {
		d, err := time.ParseDuration(s)
		if err != nil {
			return 0, fmt.Errorf("invalid duration %q (write e.g. \"30s\", \"5m\", \"4h\", \"5d\")", s)
		}
		return d, nil
	}
	days, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil || days > math.MaxInt64/int64(24*time.Hour) {
		return 0, fmt.Errorf("invalid duration %q: too long", s)
	}
	d := time.Duration(days) * 24 * time.Hour
	if m[2] == "" {
		return d, nil
	}
	rest, err := time.ParseDuration(m[2])
	if err != nil || rest < 0 {
		return 0, fmt.Errorf("invalid duration %q (write e.g. \"30s\", \"5m\", \"4h\", \"5d\")", s)
	}
	if d > math.MaxInt64-rest {
		return 0, fmt.Errorf("invalid duration %q: too long", s)
	}
	return d + rest, nil
}

// UnmarshalText implements encoding.TextUnmarshaler (strict: an invalid
// duration is an error), so a Duration can also serve as a flag value.
func (d *Duration) UnmarshalText(text []byte) error {
	v, err := ParseDuration(string(text))
	if err != nil {
		return err
	}
	*d = Duration{Duration: v}
	return nil
}

// UnmarshalTOML implements toml.Unmarshaler. It never fails: an invalid
// value is recorded for Validate, which names the key.
func (d *Duration) UnmarshalTOML(v any) error {
	s, ok := v.(string)
	if !ok {
		*d = Duration{invalid: `a duration must be a string, e.g. "30s", "5m", "5d"`}
		return nil
	}
	if err := d.UnmarshalText([]byte(s)); err != nil {
		*d = Duration{invalid: err.Error()}
	}
	return nil
}

// MarshalText implements encoding.TextMarshaler with the format String uses.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// String formats d the way a config file would write it: whole days as
// "5d", otherwise as time.Duration does without trailing zero units
// ("1h6m40s", "5m", "30s").
func (d Duration) String() string {
	v := d.Duration
	if v == 0 {
		return "0s"
	}
	if v > 0 && v%(24*time.Hour) == 0 {
		return strconv.FormatInt(int64(v/(24*time.Hour)), 10) + "d"
	}
	s := v.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// check reports why d is not a valid positive duration, or "" when it is.
// zeroOK allows 0 (a feature turned off).
func (d Duration) check(zeroOK bool) string {
	switch {
	case d.invalid != "":
		return d.invalid
	case d.Duration < 0:
		return fmt.Sprintf("must not be negative (got %s)", d.Duration)
	case d.Duration == 0 && !zeroOK:
		return "must be positive"
	}
	return ""
}

// Size is a number of bytes. In TOML it is an integer count of bytes or a
// string with a unit: "25MiB", "512 KiB", "10MB", "100B". KiB, MiB and GiB
// are powers of 1024; KB, MB and GB powers of 1000; units ignore case.
//
// Like Duration, an invalid value is kept and reported by Validate.
type Size struct {
	Bytes   int64
	invalid string // why the TOML value is not a size; "" when valid
}

var sizeUnits = map[string]int64{
	"": 1, "b": 1,
	"kb": 1000, "mb": 1000 * 1000, "gb": 1000 * 1000 * 1000,
	"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30,
}

var sizePattern = regexp.MustCompile(`^(-?[0-9]+)\s*([A-Za-z]*)$`)

// ParseSize parses s as described on Size.
func ParseSize(s string) (int64, error) {
	m := sizePattern.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return 0, fmt.Errorf("invalid size %q (write bytes, or e.g. \"25MiB\", \"512KiB\")", s)
	}
	unit, ok := sizeUnits[strings.ToLower(m[2])]
	if !ok {
		return 0, fmt.Errorf("invalid size %q: unknown unit %q (B, KiB, MiB, GiB, KB, MB, GB)", s, m[2])
	}
	n, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil || n > math.MaxInt64/unit || n < math.MinInt64/unit {
		return 0, fmt.Errorf("invalid size %q: out of range", s)
	}
	return n * unit, nil
}

// UnmarshalText implements encoding.TextUnmarshaler (strict).
func (z *Size) UnmarshalText(text []byte) error {
	n, err := ParseSize(string(text))
	if err != nil {
		return err
	}
	*z = Size{Bytes: n}
	return nil
}

// UnmarshalTOML implements toml.Unmarshaler: an integer is a byte count, a
// string is parsed by ParseSize; anything invalid is kept for Validate.
func (z *Size) UnmarshalTOML(v any) error {
	switch v := v.(type) {
	case int64:
		*z = Size{Bytes: v}
	case string:
		if err := z.UnmarshalText([]byte(v)); err != nil {
			*z = Size{invalid: err.Error()}
		}
	default:
		*z = Size{invalid: fmt.Sprintf(`a size must be a number of bytes or a string such as "25MiB", not %v`, v)}
	}
	return nil
}

// MarshalText implements encoding.TextMarshaler with String's format.
func (z Size) MarshalText() ([]byte, error) { return []byte(z.String()), nil }

// String writes z with the largest binary unit that divides it exactly:
// "25MiB", "512KiB", "1000B".
func (z Size) String() string {
	for _, u := range []struct {
		name string
		n    int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if z.Bytes != 0 && z.Bytes%u.n == 0 {
			return strconv.FormatInt(z.Bytes/u.n, 10) + u.name
		}
	}
	return strconv.FormatInt(z.Bytes, 10) + "B"
}

// check reports why z is not a valid positive size, or "" when it is.
func (z Size) check() string {
	switch {
	case z.invalid != "":
		return z.invalid
	case z.Bytes < 0:
		return fmt.Sprintf("must not be negative (got %d)", z.Bytes)
	case z.Bytes == 0:
		return "must be positive"
	}
	return ""
}
