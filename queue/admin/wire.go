package admin

import (
	"time"

	"github.com/outbox-mta/outbox/store"
)

// The wire types below are the JSON schema of the API and of the CLI's
// --json output. They are separate from the store types on purpose: renaming
// a Go field must not change what scripts parse. Times marshal as RFC 3339;
// zero times are omitted.

// Message is the JSON form of store.Message.
type Message struct {
	ID         string      `json:"id"`
	From       string      `json:"from"` // "" is the null sender <>
	Recipients []Recipient `json:"recipients"`
	Size       int64       `json:"size"`
	Received   time.Time   `json:"received,omitzero"`
	Client     string      `json:"client,omitempty"`
	User       string      `json:"user,omitempty"`
	AtLeastOne *bool       `json:"at_least_one,omitempty"`
	DSNPending bool        `json:"dsn_pending,omitempty"`
	DSNID      string      `json:"dsn_id,omitempty"`
	// DKIM lists the signatures added at acceptance, "domain/selector
	// (algorithm)"; absent when the message is unsigned.
	DKIM []string `json:"dkim,omitempty"`
	// EnvID and Ret are the DSN parameters of MAIL (RFC 3461): the
	// envelope ID and "FULL" or "HDRS"; absent when not given.
	EnvID string `json:"envid,omitempty"`
	Ret   string `json:"ret,omitempty"`
	// DeliverAfter is the scheduled send time, ExpireAt the time delivery
	// is given up by; absent when not set.
	DeliverAfter time.Time `json:"deliver_after,omitzero"`
	ExpireAt     time.Time `json:"expire_at,omitzero"`
	// Tags and Metadata are the submitter's own labels and data.
	Tags     []string          `json:"tags,omitempty"`
	Metadata map[string]string `json:"metadata,omitempty"`
	// TLSRequired is "requiretls" (RFC 8689 REQUIRETLS) or "no" (a
	// "TLS-Required: No" header); absent for neither.
	TLSRequired string `json:"tls_required,omitempty"`
}

// Recipient is the JSON form of store.Recipient.
type Recipient struct {
	Addr        string    `json:"addr"`
	State       string    `json:"state"` // store.State.String()
	Attempts    int       `json:"attempts"`
	LastReply   string    `json:"last_reply,omitempty"`
	NextAttempt time.Time `json:"next_attempt,omitzero"`
	History     []Attempt `json:"history,omitempty"`
	// Notify and ORcpt are the DSN parameters of RCPT (RFC 3461): NOTIFY
	// keywords ("SUCCESS", "FAILURE") and "addr-type;address"; absent
	// when not given.
	Notify []string `json:"notify,omitempty"`
	ORcpt  string   `json:"orcpt,omitempty"`
}

// Attempt is the JSON form of store.Attempt.
type Attempt struct {
	Time     time.Time `json:"time,omitzero"`
	Host     string    `json:"host,omitempty"`
	TLS      string    `json:"tls,omitempty"`
	Code     int       `json:"code,omitempty"`
	Enhanced string    `json:"enhanced,omitempty"`
	Reply    string    `json:"reply,omitempty"`
	Result   string    `json:"result"` // store.State.String()
	// TLSVerifiedBy is what verified the peer: "none", "webpki",
	// "mta-sts", "dane"; TLSPolicy the policy applied ("mta-sts enforce
	// example.com"); TLSFailure the RFC 8460 §4.3 result type and detail
	// of a TLS failure. Absent when not recorded.
	TLSVerifiedBy string `json:"tls_verified_by,omitempty"`
	TLSPolicy     string `json:"tls_policy,omitempty"`
	TLSFailure    string `json:"tls_failure,omitempty"`
}

// Bounce is the JSON form of store.Bounce.
type Bounce struct {
	Time     time.Time `json:"time,omitzero"`
	MsgID    string    `json:"msgid"`
	From     string    `json:"from"`
	Rcpt     string    `json:"rcpt"`
	Host     string    `json:"host,omitempty"`
	Code     int       `json:"code,omitempty"`
	Enhanced string    `json:"enhanced,omitempty"`
	Diag     string    `json:"diag,omitempty"`
	Attempts int       `json:"attempts"`
}

// NewMessage converts a store message to its wire form.
func NewMessage(m *store.Message) Message {
	w := Message{
		ID:         m.ID,
		From:       m.From,
		Recipients: make([]Recipient, len(m.Recipients)),
		Size:       m.Size,
		Received:   m.Received,
		Client:     m.Client,
		User:       m.User,
		DSNPending: m.DSNPending,
		DSNID:      m.DSNID,
		DKIM:       m.Signed,
		EnvID:      m.EnvID,
		Ret:        m.Ret.String(),

		DeliverAfter: m.DeliverAfter,
		ExpireAt:     m.ExpireAt,
		Tags:         m.Tags,
		Metadata:     m.Metadata,
		TLSRequired:  m.TLSReq.String(),
	}
	if m.AtLeastOne != nil {
		v := *m.AtLeastOne
		w.AtLeastOne = &v
	}
	for i, r := range m.Recipients {
		wr := Recipient{
			Addr:        r.Addr,
			State:       r.State.String(),
			Attempts:    r.Attempts,
			LastReply:   r.LastReply,
			NextAttempt: r.NextAttempt,
			Notify:      r.Notify.Keywords(),
			ORcpt:       r.ORcpt,
		}
		for _, a := range r.History {
			wr.History = append(wr.History, Attempt{
				Time: a.Time, Host: a.Host, TLS: a.TLS, Code: a.Code,
				Enhanced: a.Enhanced, Reply: a.Reply, Result: a.Result.String(),
				TLSVerifiedBy: a.TLSInfo.VerifiedBy, TLSPolicy: a.TLSInfo.Policy, TLSFailure: a.TLSInfo.Failure,
			})
		}
		w.Recipients[i] = wr
	}
	return w
}

// Store converts a wire message back to the store type. A state name it does
// not know (a newer daemon) becomes State 0, shown as "unknown", rather than
// an error: an operator looking at a queue should see all of it.
func (w Message) Store() *store.Message {
	m := &store.Message{
		ID:         w.ID,
		From:       w.From,
		Recipients: make([]store.Recipient, len(w.Recipients)),
		Size:       w.Size,
		Received:   w.Received,
		Client:     w.Client,
		User:       w.User,
		DSNPending: w.DSNPending,
		DSNID:      w.DSNID,
		Signed:     w.DKIM,
		EnvID:      w.EnvID,

		DeliverAfter: w.DeliverAfter,
		ExpireAt:     w.ExpireAt,
		Tags:         w.Tags,
		Metadata:     w.Metadata,
		TLSReq:       store.ParseTLSReq(w.TLSRequired),
	}
	m.Ret, _ = store.ParseRet(w.Ret) // unknown (a newer daemon): shown unset
	if w.AtLeastOne != nil {
		v := *w.AtLeastOne
		m.AtLeastOne = &v
	}
	for i, wr := range w.Recipients {
		st, _ := store.ParseState(wr.State)
		r := store.Recipient{
			Addr:        wr.Addr,
			State:       st,
			Attempts:    wr.Attempts,
			LastReply:   wr.LastReply,
			NextAttempt: wr.NextAttempt,
			ORcpt:       wr.ORcpt,
		}
		r.Notify, _ = store.ParseNotify(wr.Notify)
		for _, a := range wr.History {
			res, _ := store.ParseState(a.Result)
			r.History = append(r.History, store.Attempt{
				Time: a.Time, Host: a.Host, TLS: a.TLS, Code: a.Code,
				Enhanced: a.Enhanced, Reply: a.Reply, Result: res,
				TLSInfo: store.AttemptTLS{VerifiedBy: a.TLSVerifiedBy, Policy: a.TLSPolicy, Failure: a.TLSFailure},
			})
		}
		m.Recipients[i] = r
	}
	return m
}

// NewBounce converts a bounce log row to its wire form.
func NewBounce(b store.Bounce) Bounce {
	return Bounce{
		Time: b.Time, MsgID: b.MsgID, From: b.From, Rcpt: b.Rcpt, Host: b.Host,
		Code: b.Code, Enhanced: b.Enhanced, Diag: b.Diag, Attempts: b.Attempts,
	}
}

// Store converts a wire bounce back to the store type.
func (w Bounce) Store() store.Bounce {
	return store.Bounce{
		Time: w.Time, MsgID: w.MsgID, From: w.From, Rcpt: w.Rcpt, Host: w.Host,
		Code: w.Code, Enhanced: w.Enhanced, Diag: w.Diag, Attempts: w.Attempts,
	}
}

// Quarantined is the JSON form of store.Quarantined: a message set aside
// because its record or its body cannot be read. The envelope fields are
// filled when the record still decodes (a body that cannot be read).
type Quarantined struct {
	ID         string    `json:"id"`
	Time       time.Time `json:"time,omitzero"` // when it was quarantined
	Reason     string    `json:"reason"`
	From       string    `json:"from,omitempty"`
	Recipients []string  `json:"recipients,omitempty"`
	Size       int64     `json:"size,omitempty"`
}

// NewQuarantined converts a store.Quarantined.
func NewQuarantined(q store.Quarantined) Quarantined {
	out := Quarantined{ID: q.ID, Time: q.Time, Reason: q.Reason}
	if m, err := store.DecodeMessage(q.Raw); err == nil {
		out.From, out.Size = m.From, m.Size
		for _, r := range m.Recipients {
			out.Recipients = append(out.Recipients, r.Addr)
		}
	}
	return out
}
