package tlsrpt

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// requiredFields is RFC 8460 §4.4's list of the fields a report must
// carry, by JSON path ("[]" descends into every element of an array),
// with the JSON type each must have.
var requiredFields = []struct{ path, typ string }{
	{"organization-name", "string"},
	{"date-range", "object"},
	{"date-range.start-datetime", "date-time"},
	{"date-range.end-datetime", "date-time"},
	{"contact-info", "string"},
	{"report-id", "string"},
	{"policies", "array"},
	{"policies[].policy", "object"},
	{"policies[].policy.policy-type", "policy-type"},
	{"policies[].policy.policy-string", "array"},
	{"policies[].policy.policy-domain", "string"},
	{"policies[].summary", "object"},
	{"policies[].summary.total-successful-session-count", "number"},
	{"policies[].summary.total-failure-session-count", "number"},
	{"policies[].failure-details[].result-type", "string"},
	{"policies[].failure-details[].sending-mta-ip", "string"},
	{"policies[].failure-details[].receiving-mx-hostname", "string"},
	{"policies[].failure-details[].receiving-ip", "string"},
	{"policies[].failure-details[].failed-session-count", "number"},
}

// Check lists what the report in js lacks of the fields RFC 8460 §4.4
// requires, or has with the wrong type; nil when nothing. Build runs it on
// every report before it is sent.
func Check(js []byte) []string {
	var v any
	if err := json.Unmarshal(js, &v); err != nil {
		return []string{"not JSON: " + err.Error()}
	}
	var out []string
	for _, f := range requiredFields {
		for _, got := range lookup(v, strings.Split(strings.ReplaceAll(f.path, "[]", ".[]"), ".")) {
			if !hasType(got, f.typ) {
				out = append(out, fmt.Sprintf("%s = %#v, want a %s", f.path, got, f.typ))
			}
		}
	}
	return out
}

// lookup returns the values at path in v; a missing field gives nil.
func lookup(v any, path []string) []any {
	if len(path) == 0 {
		return []any{v}
	}
	if path[0] == "[]" {
		arr, _ := v.([]any)
		var out []any
		for _, e := range arr {
			out = append(out, lookup(e, path[1:])...)
		}
		return out
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return []any{nil}
	}
	return lookup(obj[path[0]], path[1:])
}

func hasType(v any, typ string) bool {
	switch typ {
	case "string":
		s, ok := v.(string)
		return ok && s != ""
	case "policy-type":
		s, _ := v.(string)
		return slices.Contains([]string{PolicySTS, PolicyTLSA, PolicyNotFound}, s)
	case "object":
		_, ok := v.(map[string]any)
		return ok
	case "array":
		_, ok := v.([]any)
		return ok
	case "number":
		n, ok := v.(float64)
		return ok && n >= 0 && n == float64(int64(n))
	case "date-time":
		s, _ := v.(string)
		_, err := time.Parse(time.RFC3339, s)
		return err == nil && strings.HasSuffix(s, "Z")
	}
	return false
}
