package webhook

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// verifyPy checks a Standard Webhooks signature with Python's hmac and
// hashlib, an implementation independent of this package: argv is the
// secret, the headers' id, timestamp and signature, and the body's file.
const verifyPy = `
import base64, hashlib, hmac, sys
secret, msg_id, ts, sig, path = sys.argv[1:6]
key = base64.b64decode(secret[len("whsec_"):])
body = open(path, "rb").read()
mac = hmac.new(key, msg_id.encode() + b"." + ts.encode() + b"." + body, hashlib.sha256).digest()
want = "v1," + base64.b64encode(mac).decode()
ok = any(hmac.compare_digest(want, s) for s in sig.split(" "))
print("valid" if ok else "invalid: want " + want)
sys.exit(0 if ok else 1)
`

// pythonVerify runs verifyPy on one request; a missing python3 skips
// outside CI and fails under CI=true.
func pythonVerify(t *testing.T, secret string, c call) error {
	t.Helper()
	py := "/usr/bin/python3"
	if _, err := os.Stat(py); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is required in CI: %v", py, err)
		}
		t.Skipf("%s not installed: %v", py, err)
	}
	path := filepath.Join(t.TempDir(), "body")
	if err := os.WriteFile(path, c.body, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(py, "-c", verifyPy, secret,
		c.header.Get(HeaderID), c.header.Get(HeaderTimestamp), c.header.Get(HeaderSignature), path).CombinedOutput()
	if err != nil {
		return errors.New(strings.TrimSpace(string(out)))
	}
	return nil
}

// TestSignatureCheckedByPython: every request's signature verifies with
// an independent implementation, and not with another secret or body.
func TestSignatureCheckedByPython(t *testing.T) {
	r, srv := newReceiver(t, ok)
	h := start(t, Options{Endpoints: []Endpoint{endpoint(t, "app", srv.URL)}, MaxBatch: 2})
	h.log.add("delivered", 3)
	calls := r.wait(t, 2)
	for _, c := range calls {
		if c.header.Get("Content-Type") != "application/json" {
			t.Fatalf("Content-Type %q", c.header.Get("Content-Type"))
		}
		if err := pythonVerify(t, testSecret, c); err != nil {
			t.Fatalf("python rejects the signature of %s: %v", c.header.Get(HeaderID), err)
		}
	}
	other := "whsec_" + strings.Repeat("A", 32)
	if err := pythonVerify(t, other, calls[0]); err == nil {
		t.Fatal("python accepts the signature with another secret")
	}
	tampered := calls[0]
	tampered.body = append([]byte(nil), tampered.body...)
	tampered.body[len(tampered.body)-2] ^= 1
	if err := pythonVerify(t, testSecret, tampered); err == nil {
		t.Fatal("python accepts the signature of a changed body")
	}
}

// TestSignKnownVector: the signature of a fixed message, computed once
// with Python's hmac (see verifyPy), so a change of the byte layout fails
// here even without python3.
func TestSignKnownVector(t *testing.T) {
	s, err := ParseSecret(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	got := s.Sign("outbox-1-2", time.Unix(1772366400, 0), []byte(`{"a":1}`))
	if got != wantVector {
		t.Fatalf("Sign = %q, want %q", got, wantVector)
	}
}

// TestSecretNeverPrinted: a secret's text forms hide the key.
func TestSecretNeverPrinted(t *testing.T) {
	s, err := ParseSecret(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	key := strings.TrimPrefix(testSecret, "whsec_")
	for _, txt := range []string{s.String(), s.GoString(), s.LogValue().String()} {
		if strings.Contains(txt, key) {
			t.Fatalf("%q shows the key", txt)
		}
	}
	for _, bad := range []string{"", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_!!!", "whsec_" + "QUJD"} {
		if _, err := ParseSecret(bad); !errors.Is(err, ErrBadSecret) {
			t.Fatalf("ParseSecret(%q) = %v, want ErrBadSecret", bad, err)
		}
	}
}

const wantVector = "v1,Hd5XZqLB2qq64XPn0VhzP/G+0GC76nhiart1K3yKBhM="
