package queue

import (
	"reflect"
	"testing"
)

func TestGroupByDomain(t *testing.T) {
	tests := []struct {
		name  string
		addrs []string
		idx   []int
		want  []group
	}{
		{"empty", nil, nil, nil},
		{"one", []string{"a@x.org"}, []int{0}, []group{{"x.org", []string{"a@x.org"}, []int{0}}}},
		{
			"domains in order of first appearance, rcpts in RCPT order",
			[]string{"a@x.org", "b@y.org", "c@x.org"}, []int{0, 1, 2},
			[]group{{"x.org", []string{"a@x.org", "c@x.org"}, []int{0, 2}}, {"y.org", []string{"b@y.org"}, []int{1}}},
		},
		{
			"domain case folded, local part kept",
			[]string{"Ann@Example.COM", "bob@example.com", "Carl@example.com."}, []int{3, 5, 7},
			[]group{{"example.com", []string{"Ann@Example.COM", "bob@example.com", "Carl@example.com."}, []int{3, 5, 7}}},
		},
		{
			"last @ splits a quoted local part",
			[]string{`"a@b"@z.net`}, []int{0},
			[]group{{"z.net", []string{`"a@b"@z.net`}, []int{0}}},
		},
		{"no domain", []string{"postmaster"}, []int{0}, []group{{"", []string{"postmaster"}, []int{0}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := groupByDomain(tt.addrs, tt.idx); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("groupByDomain(%q) =\n %+v\nwant\n %+v", tt.addrs, got, tt.want)
			}
		})
	}
}
