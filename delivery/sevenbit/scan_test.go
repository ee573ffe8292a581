package sevenbit

import (
	"bytes"
	"testing"
)

// scanOctets is the Scanner's rule stated octet by octet: the reference
// Scanner.Write must agree with however the stream is cut.
func scanOctets(p []byte) Report {
	var r Report
	inBody, line := false, 0
	for _, c := range p {
		switch c {
		case '\n':
			if !inBody && line == 0 {
				inBody = true
			}
			line = 0
			continue
		case '\r':
			continue
		}
		line++
		if line > MaxLine {
			if inBody {
				r.LongBodyLine = true
			} else {
				r.LongHeaderLine = true
			}
		}
		if c >= 0x80 {
			if inBody {
				r.BodyEightBit = true
			} else {
				r.HeaderEightBit = true
			}
		}
	}
	return r
}

func TestScannerRuns(t *testing.T) {
	long := string(bytes.Repeat([]byte("x"), MaxLine))
	tests := []struct {
		name, in string
		want     Report
	}{
		{"7-bit", "Subject: x\r\n\r\nbody\r\n", Report{}},
		{"8-bit header", "Subject: \xc3\xa9\r\n\r\nbody\r\n", Report{HeaderEightBit: true}},
		{"8-bit body", "Subject: x\r\n\r\nbody \xff\r\n", Report{BodyEightBit: true}},
		{"998 octets and CRs", "S: x\r\n\r\n" + long + "\r\r\n", Report{}},
		{"999 octets", "S: x\r\n\r\n" + long + "y\r\n", Report{LongBodyLine: true}},
		{"long header line", long + "yy\r\n\r\n", Report{LongHeaderLine: true}},
		{"high bit after 8 octets", "S: x\r\n\r\n12345678901234\x80", Report{BodyEightBit: true}},
	}
	for _, tt := range tests {
		for _, cut := range []int{1, 7, 1 << 20} {
			var s Scanner
			for in := []byte(tt.in); len(in) > 0; {
				k := min(cut, len(in))
				s.Write(in[:k])
				in = in[k:]
			}
			if s.Report() != tt.want || scanOctets([]byte(tt.in)) != tt.want {
				t.Errorf("%s, writes of %d: %+v, want %+v", tt.name, cut, s.Report(), tt.want)
			}
		}
	}
}

// FuzzScanner: Scanner's report is the octet-by-octet rule's, whatever the
// writes. Seeds: testdata/fuzz/FuzzScanner.
func FuzzScanner(f *testing.F) {
	f.Add([]byte("Subject: \xc3\xa9\r\n\r\nbody\r\n\xff"), []byte{3, 0, 9})
	f.Add(append([]byte("a: b\n\r\n"), bytes.Repeat([]byte("y\r"), 1000)...), []byte{200, 255})
	f.Fuzz(func(t *testing.T, in, cuts []byte) {
		var s Scanner
		for rest := in; len(rest) > 0; {
			k := len(rest)
			if len(cuts) > 0 {
				k, cuts = min(k, int(cuts[0])+1), cuts[1:]
			}
			if n, err := s.Write(rest[:k]); n != k || err != nil {
				t.Fatalf("Write = %d, %v", n, err)
			}
			rest = rest[k:]
		}
		if got, want := s.Report(), scanOctets(in); got != want {
			t.Fatalf("report %+v, want %+v", got, want)
		}
	})
}
