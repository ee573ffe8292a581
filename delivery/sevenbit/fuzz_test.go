package sevenbit

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// FuzzConvert: any input converts without panicking, and the 7-bit form
// is a fixed point (converting it again changes nothing), which also
// means every part the first conversion could handle is now compliant.
func FuzzConvert(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.eml")
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(bytes.ReplaceAll(b, []byte("\n"), []byte("\r\n")))
	}
	f.Add([]byte("Subject: x\r\n\r\n\xff\r\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		var out bytes.Buffer
		changed, err := Convert(&out, opener(in))
		if err != nil {
			return
		}
		if !changed && !bytes.Equal(out.Bytes(), in) {
			t.Fatalf("unchanged message altered:\n%q\n%q", in, out.Bytes())
		}
		var again bytes.Buffer
		changed, err = Convert(&again, opener(out.Bytes()))
		if err != nil || changed {
			t.Fatalf("second conversion: changed %v, err %v\nfirst: %q", changed, err, out.Bytes())
		}
	})
}
