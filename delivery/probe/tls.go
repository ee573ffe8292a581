package probe

import (
	"crypto/tls"
	"crypto/x509"
	"time"
)

// describe reports a TLS session and verifies its chain for host (a DNS
// name or an IP address) against roots (nil: the system roots), as a
// sender that requires a valid certificate would (RFC 6125 name matching,
// done by crypto/x509).
func describe(st tls.ConnectionState, host string, roots *x509.CertPool) *TLS {
	t := &TLS{
		Version:    tls.VersionName(st.Version),
		Cipher:     tls.CipherSuiteName(st.CipherSuite),
		ServerName: host,
	}
	for _, c := range st.PeerCertificates {
		ct := Cert{
			Subject:   c.Subject.String(),
			Issuer:    c.Issuer.String(),
			DNSNames:  c.DNSNames,
			NotBefore: c.NotBefore.UTC(),
			NotAfter:  c.NotAfter.UTC(),
		}
		for _, ip := range c.IPAddresses {
			ct.IPs = append(ct.IPs, ip.String())
		}
		t.Chain = append(t.Chain, ct)
	}
	if err := verify(st.PeerCertificates, host, roots); err != nil {
		t.VerifyError = err.Error()
	} else {
		t.Verified = true
	}
	return t
}

func verify(chain []*x509.Certificate, host string, roots *x509.CertPool) error {
	if len(chain) == 0 {
		return errNoCertificate
	}
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	_, err := chain[0].Verify(x509.VerifyOptions{
		DNSName:       host,
		Roots:         roots,
		Intermediates: inter,
		CurrentTime:   time.Now(),
	})
	return err
}
