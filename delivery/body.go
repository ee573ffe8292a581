package delivery

import (
	"errors"
	"io"

	"github.com/outbox-mta/outbox/delivery/sevenbit"
)

// openBody opens the message body as it is to be sent to a server that
// offers 8BITMIME (has8bit) or not.
//
// An 8-bit body needs 8BITMIME at the next hop (RFC 6152 §3); go-smtp's
// client then declares BODY=8BITMIME on MAIL by itself. To a server
// without it, the body goes in its 7-bit form, made on the fly while DATA
// streams: this is the unsigned case only, as the listener stores a signed
// 8-bit message in its 7-bit form already (a conversion here would break
// its signature). A body whose MIME structure cannot be converted (the
// failure comes before the first byte is written) is sent as it is, as
// every version before did, rather than never.
func openBody(env *Envelope, has8bit bool) (io.ReadCloser, error) {
	if has8bit || !env.EightBit {
		return env.Body()
	}
	pr, pw := io.Pipe()
	go func() {
		cw := &countingWriter{w: pw}
		_, err := sevenbit.Convert(cw, env.Body)
		if err != nil && cw.n == 0 && (errors.Is(err, sevenbit.ErrMalformed) || errors.Is(err, sevenbit.ErrLongHeaderLine)) {
			err = copyBody(pw, env.Body)
		}
		// The reader's Close (after a network error) makes the next write
		// fail, so this goroutine never outlives the transaction.
		pw.CloseWithError(err)
	}()
	return pr, nil
}

func copyBody(w io.Writer, open func() (io.ReadCloser, error)) error {
	r, err := open()
	if err != nil {
		return err
	}
	defer r.Close()
	_, err = io.Copy(w, r)
	return err
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
