package delivery

// routing is one consistent set of routes and relays: destination reads
// both from the same snapshot, so a route never meets the relays of
// another configuration.
type routing struct {
	routes map[string]string
	relays map[string][]RelayServer
}

// SetRoutes replaces Routes and Relays on a running Deliverer (a reload of
// the configuration). Deliveries already under way finish on the route they
// started with; the next Deliver uses the new ones. Idle pooled connections
// are closed, so that no message goes to a relay server, or with relay
// credentials, that the new configuration dropped. The maps must not be
// modified afterwards; Routes returns them from now on.
func (d *Deliverer) SetRoutes(routes map[string]string, relays map[string][]RelayServer) {
	d.routing.Store(&routing{routes: routes, relays: relays})
	d.pool.closeIdle()
}

// generation is the pool's current generation, for new sessions.
func (p *pool) generation() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.gen
}

// closeIdle quits every idle session and starts a new generation, so that
// sessions busy now are not pooled again when their transaction ends. The
// pool stays open.
func (p *pool) closeIdle() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.gen++
	if p.closed {
		return
	}
	for key, list := range p.idle {
		for _, s := range list {
			s.idleTimer.Stop()
			p.quitLocked(s)
		}
		delete(p.idle, key)
	}
}

// Routes returns the routes and relays in effect: Options.Routes and
// Options.Relays, or those of the latest SetRoutes. Deliver reads the same
// snapshot. The maps must not be modified.
func (d *Deliverer) Routes() (routes map[string]string, relays map[string][]RelayServer) {
	rt := d.routing.Load()
	return rt.routes, rt.relays
}
