package submission

import (
	"strings"

	"github.com/emersion/go-smtp"

	"github.com/outbox-mta/outbox/store"
)

// dsnMail is the DSN parameters of MAIL (RFC 3461 §4.3, §4.4). go-smtp has
// checked their syntax and decoded ENVID's xtext.
type dsnMail struct {
	envID string
	ret   store.DSNRet
}

func mailDSN(o *smtp.MailOptions) dsnMail {
	if o == nil {
		return dsnMail{}
	}
	d := dsnMail{envID: o.EnvelopeID}
	switch o.Return {
	case smtp.DSNReturnFull:
		d.ret = store.RetFull
	case smtp.DSNReturnHeaders:
		d.ret = store.RetHdrs
	}
	return d
}

// dsnRcpt is the DSN parameters of one RCPT (RFC 3461 §4.1, §4.2).
type dsnRcpt struct {
	notify store.DSNNotify
	orcpt  string // "addr-type;address", address decoded
}

func rcptDSN(o *smtp.RcptOptions) dsnRcpt {
	if o == nil {
		return dsnRcpt{}
	}
	var d dsnRcpt
	for _, n := range o.Notify {
		switch n {
		case smtp.DSNNotifyNever:
			d.notify |= store.NotifyNever
		case smtp.DSNNotifySuccess:
			d.notify |= store.NotifySuccess
		case smtp.DSNNotifyFailure:
			d.notify |= store.NotifyFailure
		case smtp.DSNNotifyDelayed:
			d.notify |= store.NotifyDelay
		}
	}
	if o.OriginalRecipient != "" {
		d.orcpt = strings.ToLower(string(o.OriginalRecipientType)) + ";" + o.OriginalRecipient
	}
	return d
}

// sameRecipient reports whether a and b name the same mailbox for
// acceptance: equal, or equal local parts with domains that differ only in
// case (RFC 5321 §2.4: a domain is case-insensitive, a local part may not
// be). A second RCPT for the same mailbox adds nothing: the message goes to
// it once, as Postfix's duplicate elimination does.
func sameRecipient(a, b string) bool {
	if a == b {
		return true
	}
	i, j := strings.LastIndexByte(a, '@'), strings.LastIndexByte(b, '@')
	return i >= 0 && j >= 0 && a[:i] == b[:j] && strings.EqualFold(a[i+1:], b[j+1:])
}

// applyDSN records the DSN parameters of the transaction in m, whose
// Recipients are in RCPT order.
func applyDSN(m *store.Message, mail dsnMail, rcpts []dsnRcpt) {
	m.EnvID, m.Ret = mail.envID, mail.ret
	for i := range m.Recipients {
		if i < len(rcpts) {
			m.Recipients[i].Notify, m.Recipients[i].ORcpt = rcpts[i].notify, rcpts[i].orcpt
		}
	}
}
