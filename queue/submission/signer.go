package submission

import "io"

// Signer signs accepted messages (DKIM; cmd adapts delivery/dkim to it).
// The listener streams each message through a Signing while it writes it
// to the spool, so the signature covers exactly the stored bytes and the
// body is read once.
type Signer interface {
	// Sign starts signing a message whose From header field has the value
	// from (unfolded; "" when absent) and whose header has the fields
	// named in fields, once per occurrence, including those the listener
	// adds. nil, nil: the message is stored unsigned.
	Sign(from string, fields []string) (Signing, error)
}

// Signing receives the message exactly as it is written to the spool.
type Signing interface {
	io.Writer
	// Finish is called after the last byte. prefix (header fields) is
	// stored in front of the message; labels describe the signatures for
	// operators. nil, nil, nil: unsigned after all.
	Finish() (prefix []byte, labels []string, err error)
	// Abort releases a Signing whose message is not accepted.
	Abort()
}
