package submission

// framerBufs are a framer's two buffers. A framer's life is its
// connection's, and a client sends one message per connection as often as
// not, so the buffers go from a closed connection to the next one
// (Server.framerBufs) rather than being made anew for each.
type framerBufs struct {
	in, out []byte
}

// newFramerBufs makes a framer's buffers: out holds at most what one
// classify makes of in, plus a synthesised end of data. Both are made
// once, so that streaming a message allocates nothing per read.
func newFramerBufs() *framerBufs {
	return &framerBufs{in: make([]byte, 0, framerBuf), out: make([]byte, 0, 2*framerBuf)}
}

// release takes f's buffers back for another connection and makes every
// later Read return io.EOF. It returns nil, keeping the buffers with f,
// when a Read is in progress (the connection is being closed from another
// goroutine), or when they were already taken.
func (f *framer) release() *framerBufs {
	if !f.mu.TryLock() {
		return nil
	}
	defer f.mu.Unlock()
	if f.released || cap(f.in) != framerBuf || cap(f.out) != 2*framerBuf {
		return nil
	}
	f.released = true
	b := &framerBufs{in: f.in[:0], out: f.out[:0]}
	f.in, f.out, f.outAt = nil, nil, 0
	return b
}

// takeFramerBufs returns buffers left by a closed connection, if any.
func (s *Server) takeFramerBufs() *framerBufs {
	b, _ := s.framerBufs.Get().(*framerBufs)
	return b
}

// releaseFramer gives fr's buffers to the next connection, if fr can let
// them go.
func (s *Server) releaseFramer(fr *framer) {
	if fr == nil {
		return
	}
	if b := fr.release(); b != nil {
		s.framerBufs.Put(b)
	}
}
