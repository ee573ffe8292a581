package dsn

import (
	"bytes"
	"fmt"
)

// textWidth is where the human-readable part wraps its lines.
const textWidth = 72

// Subjects of the three kinds of notice.
const (
	SubjectFailed  = "Undelivered Mail Returned to Sender"
	SubjectDelayed = "Delayed Mail (still being retried)"
	SubjectRelayed = "Successful Mail Delivery Report"
)

// subject is the notice's Subject: a failure wins, then a delay.
func (n *Notice) subject() string {
	switch {
	case n.anyFailed():
		return SubjectFailed
	case n.anyDelayed():
		return SubjectDelayed
	}
	return SubjectRelayed
}

// returned says what the notice's third part holds, for the explanation.
type returned struct {
	headers   bool   // the header block
	truncated bool   // ... cut short at MaxHeaderBytes
	full      bool   // the whole message (RET=FULL)
	whyNot    string // why RET=FULL got the header block only; "" if not asked
}

// anyFailed reports whether the notice reports at least one failure: it is
// then a bounce, whatever else it says.
func (n *Notice) anyFailed() bool { return n.any(Failed) }

func (n *Notice) anyDelayed() bool { return n.any(Delayed) }

func (n *Notice) any(a Action) bool {
	for i := range n.Recipients {
		if n.Recipients[i].Action == a {
			return true
		}
	}
	return false
}

// humanText renders the first part (RFC 6522 §3): an explanation for a
// person, in plain words, listing every recipient with what went wrong.
// The machine-readable part says the same for programs.
func humanText(n *Notice, ret returned) []byte {
	var b bytes.Buffer
	para := func(format string, args ...any) {
		wrapText(&b, "", fmt.Sprintf(format, args...), textWidth)
		b.WriteString("\r\n")
	}
	para("This is the mail delivery system at %s.", n.ReportingMTA)

	received := ""
	if !n.Arrival.IsZero() {
		received = ", received on " + formatDate(n.Arrival) + ","
	}
	switch {
	case n.anyFailed() && n.anyDelayed():
		para("Your message%s could not be delivered to some of its recipients, "+
			"and delivery to others is delayed. Failed deliveries will not be tried "+
			"again; delayed ones are still being tried, and you will be notified if "+
			"they finally fail.", received)
	case n.anyFailed():
		para("Your message%s could not be delivered to one or more of its recipients. "+
			"Delivery to the addresses listed below failed permanently and will not be "+
			"tried again.", received)
	case !n.anyDelayed():
		para("Your message%s was relayed, as you asked, to the mail servers of the "+
			"recipients listed below. Those servers do not send delivery notices, so "+
			"this is the last notice you will get about these recipients.", received)
	default:
		para("Your message%s has not been delivered yet to one or more of its recipients. "+
			"This is only a warning: the mail system is still trying, and you do not need "+
			"to send the message again. You will be notified if delivery finally fails.", received)
	}
	if n.QueueID != "" {
		para("If you contact the administrator of %s about it, please quote the queue ID %s.",
			n.ReportingMTA, n.QueueID)
	}

	section := func(a Action, title string) {
		first := true
		for i := range n.Recipients {
			r := &n.Recipients[i]
			if r.Action != a {
				continue
			}
			if first {
				para("%s", title)
				first = false
			}
			recipientText(&b, r)
			b.WriteString("\r\n")
		}
	}
	section(Failed, "Delivery failed permanently for:")
	section(Delayed, "Delivery delayed, still being tried, for:")
	section(Relayed, "Relayed to a server that sends no delivery notices:")

	switch {
	case ret.full:
		para("Your message is attached.")
	case ret.headers && ret.whyNot != "":
		para("The headers of your message are attached. Its body is not returned: %s.", ret.whyNot)
	case ret.headers && ret.truncated:
		para("The headers of your message are attached, cut short because they were " +
			"too long. Its body is not returned.")
	case ret.headers:
		para("The headers of your message are attached. Its body is not returned.")
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\r\n"))
}

// recipientText writes one recipient's entry: the address, then what the
// remote server or the local mail system said.
func recipientText(b *bytes.Buffer, r *Recipient) {
	wrapText(b, "  ", "<"+r.Addr+">", textWidth)
	d := clean(r.Diagnostic, MaxDiagnosticBytes)
	var what string
	switch {
	case r.Code != 0 && r.RemoteMTA != "":
		what = fmt.Sprintf("The server %s replied: %s", r.RemoteMTA, orCode(d, r.Code))
	case r.Code != 0:
		what = "The remote server replied: " + orCode(d, r.Code)
	case d != "" && r.RemoteMTA != "":
		what = fmt.Sprintf("Error with %s: %s", r.RemoteMTA, d)
	case d != "":
		what = "Error: " + d
	default:
		what = "No further details are known."
	}
	wrapText(b, "    ", what, textWidth)
	if r.Action == Delayed && !r.WillRetryUntil.IsZero() {
		wrapText(b, "    ", "Delivery will be tried until "+formatDate(r.WillRetryUntil)+".", textWidth)
	}
}

// orCode returns the diagnostic, or the bare reply code when there is none.
func orCode(d string, code int) string {
	if d != "" {
		return d
	}
	return fmt.Sprint(code)
}
