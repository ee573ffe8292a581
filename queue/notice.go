package queue

import (
	"fmt"

	"github.com/outbox-mta/outbox/queue/dsn"
	"github.com/outbox-mta/outbox/store"
)

// NoticeRecipients turns the spool's records of rcpts into the recipient
// blocks of a delivery status notification (RFC 3464 §2.3): the ORCPT the
// sender gave, the action its state says (bounced: failed; delivered:
// relayed; otherwise delayed), and the last attempt's status and reply with
// the server that gave it, or the local error or decision when no server
// replied: then no Remote-MTA is named, as for a DNS failure. Bounce
// notices, success notices and delay warnings share it.
func NoticeRecipients(rcpts []store.Recipient) []dsn.Recipient {
	out := make([]dsn.Recipient, 0, len(rcpts))
	for _, r := range rcpts {
		dr := dsn.Recipient{Addr: r.Addr, Original: r.ORcpt, Action: noticeAction(r.State), Diagnostic: r.LastReply}
		if k := len(r.History); k > 0 {
			a := r.History[k-1]
			dr.Status, dr.Code, dr.LastAttempt = a.Enhanced, a.Code, a.Time
			dr.Diagnostic = a.Reply
			if a.Code != 0 {
				dr.RemoteMTA = dsn.HostName(a.Host)
				dr.Diagnostic = fmt.Sprintf("%d %s %s", a.Code, a.Enhanced, a.Reply)
			}
		}
		out = append(out, dr)
	}
	return out
}

// noticeAction is the RFC 3464 §2.3.3 action reported for a recipient in
// state st.
func noticeAction(st store.State) dsn.Action {
	switch st {
	case store.StateBounced:
		return dsn.Failed
	case store.StateDelivered:
		return dsn.Relayed
	}
	return dsn.Delayed
}
