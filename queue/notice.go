package queue

import (
	"fmt"

	"github.com/outbox-mta/outbox/queue/dsn"
	"github.com/outbox-mta/outbox/store"
)

// NoticeRecipients turns the spool's records of rcpts into the recipient
// blocks of a delivery status notification (RFC 3464 §2.3): the last
// attempt's remote host, status and reply, or the local error when there
// was no reply. Bounce notices and delay warnings share it.
func NoticeRecipients(rcpts []store.Recipient, action dsn.Action) []dsn.Recipient {
	out := make([]dsn.Recipient, 0, len(rcpts))
	for _, r := range rcpts {
		dr := dsn.Recipient{Addr: r.Addr, Action: action, Diagnostic: r.LastReply}
		if k := len(r.History); k > 0 {
			a := r.History[k-1]
			dr.Status, dr.Code, dr.LastAttempt = a.Enhanced, a.Code, a.Time
			dr.RemoteMTA = dsn.HostName(a.Host)
			dr.Diagnostic = a.Reply
			if a.Code != 0 {
				dr.Diagnostic = fmt.Sprintf("%d %s %s", a.Code, a.Enhanced, a.Reply)
			}
		}
		out = append(out, dr)
	}
	return out
}
