package submission

import "io"

// openTransfer prepares the reading of one DATA or BDAT message from r:
// for DATA the wall-clock bound of Options.DataTimeout starts and the
// framer learns that content follows, and go-smtp's DATA size limit gives
// way to inputReader's exact one; DATA content is read by dotReader. done
// ends the bound.
func (s *session) openTransfer(r io.Reader) (in *inputReader, done func(), err error) {
	opts := &s.srv.opts
	if err := unlimitData(r); err != nil {
		return nil, nil, err
	}
	_, bdat := r.(*io.PipeReader)
	src := r
	if !bdat {
		buf, state, err := dataStateOf(r)
		if err != nil {
			return nil, nil, err
		}
		src = &dotReader{r: buf, state: state}
	}
	in = &inputReader{r: src, max: opts.MaxMessageSize}
	if !bdat && s.fr != nil {
		s.fr.dataBegins()
		in.violation = s.fr.takeViolation
	}
	if bdat || s.cc == nil {
		// The framer bounds a BDAT transfer, from its first command on.
		return in, func() {}, nil
	}
	s.cc.beginTransfer(opts.DataTimeout)
	return in, func() {
		// A refused message is read to its end here, within the bound,
		// rather than by go-smtp after Data returns, outside it.
		_, _ = io.Copy(io.Discard, r)
		s.cc.endTransfer()
	}, nil
}

// accepted resets the junk-command count: the client sent a message.
func (s *session) accepted() {
	if s.fr != nil {
		s.fr.junk.Store(0)
	}
}
