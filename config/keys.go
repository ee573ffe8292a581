package config

import (
	"reflect"
	"strings"

	"github.com/BurntSushi/toml"
)

// knownKeys lists every key a file may set, as dotted paths; the names of
// relays are "*" ("relay.*.server.host"). Tables whose keys the user
// chooses (routes, delivery.tls_policies) are listed by their own name.
func knownKeys() []string {
	var out []string
	walkKeys("", reflect.TypeFor[file](), &out)
	return out
}

var tomlUnmarshaler = reflect.TypeFor[toml.Unmarshaler]()

func walkKeys(prefix string, t reflect.Type, out *[]string) {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	for f := range t.Fields() {
		if f.Anonymous {
			walkKeys(prefix, f.Type, out)
			continue
		}
		name := f.Tag.Get("toml")
		if name == "" || name == "-" {
			continue
		}
		key := name
		if prefix != "" {
			key = prefix + "." + name
		}
		ft := f.Type
		switch {
		case reflect.PointerTo(ft).Implements(tomlUnmarshaler):
			*out = append(*out, key)
		case ft.Kind() == reflect.Struct:
			walkKeys(key, ft, out)
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
			walkKeys(key, ft.Elem(), out)
		case ft.Kind() == reflect.Map && ft.Elem().Kind() == reflect.Struct:
			walkKeys(key+".*", ft.Elem(), out)
		default:
			*out = append(*out, key)
		}
	}
}

// suggestKey returns the known key closest to the unknown one, when it is
// a likely typo of it ("limits.max_recipent" → "limits.max_recipients"),
// or "".
func suggestKey(unknown string) string {
	parts := strings.Split(unknown, ".")
	if len(parts) > 2 && parts[0] == "relay" {
		parts[1] = "*"
	}
	parent, last := strings.Join(parts[:len(parts)-1], "."), parts[len(parts)-1]
	best, bestDist := "", 3 // suggest only within two edits
	for _, k := range knownKeys() {
		i := strings.LastIndex(k, ".")
		kParent, kLast := "", k
		if i >= 0 {
			kParent, kLast = k[:i], k[i+1:]
		}
		if kParent != parent {
			continue
		}
		if d := editDistance(last, kLast); d < bestDist && d < len(kLast) {
			best, bestDist = kLast, d
		}
	}
	if best == "" {
		return ""
	}
	// Answer with the user's own spelling of the path (their relay name).
	return strings.Join(append(strings.Split(unknown, ".")[:len(parts)-1], best), ".")
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
