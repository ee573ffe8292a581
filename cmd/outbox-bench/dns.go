package main

import (
	"net"
	"strings"

	"github.com/miekg/dns"
)

// mxServer answers, over UDP on loopback, MX queries for any domain with
// mx.bench.test and A queries for mx.bench.test with 127.0.0.1: the MX
// resolution a direct delivery does, with the sink as the only MX host.
type mxServer struct {
	srv  *dns.Server
	port int
}

func startMX() (*mxServer, error) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &mxServer{port: pc.LocalAddr().(*net.UDPAddr).Port}
	s.srv = &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(answerMX)}
	started := make(chan struct{})
	s.srv.NotifyStartedFunc = func() { close(started) }
	go s.srv.ActivateAndServe()
	<-started
	return s, nil
}

func answerMX(w dns.ResponseWriter, r *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(r)
	m.RecursionAvailable = true
	for _, q := range r.Question {
		hdr := dns.RR_Header{Name: q.Name, Class: dns.ClassINET, Ttl: 300, Rrtype: q.Qtype}
		switch {
		case q.Qtype == dns.TypeMX:
			m.Answer = append(m.Answer, &dns.MX{Hdr: hdr, Preference: 10, Mx: "mx.bench.test."})
		case q.Qtype == dns.TypeA && strings.EqualFold(q.Name, "mx.bench.test."):
			m.Answer = append(m.Answer, &dns.A{Hdr: hdr, A: net.IPv4(127, 0, 0, 1)})
		}
	}
	w.WriteMsg(m)
}

func (s *mxServer) stop() { s.srv.Shutdown() }
