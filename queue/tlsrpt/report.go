package tlsrpt

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"time"
)

// Report is an aggregate TLS report (RFC 8460 §4.4). Field names are the
// RFC's; every field the RFC requires is always written.
type Report struct {
	OrganizationName string         `json:"organization-name"`
	DateRange        DateRange      `json:"date-range"`
	ContactInfo      string         `json:"contact-info"`
	ReportID         string         `json:"report-id"`
	Policies         []PolicyResult `json:"policies"`
}

// DateRange is the period a report covers, in UTC (RFC 3339 date-time).
type DateRange struct {
	Start time.Time `json:"start-datetime"`
	End   time.Time `json:"end-datetime"`
}

// PolicyResult is the outcome of the sessions under one policy.
type PolicyResult struct {
	Policy         Policy          `json:"policy"`
	Summary        Summary         `json:"summary"`
	FailureDetails []FailureDetail `json:"failure-details,omitempty"`
}

// Policy identifies the policy applied (RFC 8460 §4.4).
type Policy struct {
	// Type is "sts", "tlsa" or "no-policy-found".
	Type string `json:"policy-type"`
	// String is the policy: the MTA-STS policy's lines, or the TLSA
	// records in presentation form; empty for no-policy-found.
	String []string `json:"policy-string"`
	Domain string   `json:"policy-domain"`
	// MXHost lists the MX patterns of an MTA-STS policy.
	MXHost []string `json:"mx-host,omitempty"`
}

// Summary counts the sessions.
type Summary struct {
	Successful int64 `json:"total-successful-session-count"`
	Failed     int64 `json:"total-failure-session-count"`
}

// FailureDetail counts the failed sessions of one kind.
type FailureDetail struct {
	ResultType          string `json:"result-type"`
	SendingMTAIP        string `json:"sending-mta-ip"`
	ReceivingMXHostname string `json:"receiving-mx-hostname"`
	ReceivingMXHelo     string `json:"receiving-mx-helo,omitempty"`
	ReceivingIP         string `json:"receiving-ip"`
	FailedSessionCount  int64  `json:"failed-session-count"`
	AdditionalInfo      string `json:"additional-information,omitempty"`
	FailureReasonCode   string `json:"failure-reason-code,omitempty"`
}

// Policy types of RFC 8460 §4.4.
const (
	PolicySTS      = "sts"
	PolicyTLSA     = "tlsa"
	PolicyNotFound = "no-policy-found"
)

// dayRange is the report period of a UTC day "2006-01-02": its first and
// last second (RFC 8460 §4.4's example ends at 23:59:59Z).
func dayRange(day string) (DateRange, error) {
	start, err := time.Parse(time.DateOnly, day)
	if err != nil {
		return DateRange{}, err
	}
	return DateRange{Start: start.UTC(), End: start.Add(24*time.Hour - time.Second).UTC()}, nil
}

// MarshalJSON writes the dates as RFC 3339 in UTC.
func (d DateRange) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Start string `json:"start-datetime"`
		End   string `json:"end-datetime"`
	}{d.Start.UTC().Format(time.RFC3339), d.End.UTC().Format(time.RFC3339)})
}

// Gzip is the report as sent: JSON, gzip-compressed (RFC 8460 §5.1,
// media type application/tlsrpt+gzip).
func (r *Report) Gzip() ([]byte, error) {
	js, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	if _, err := zw.Write(js); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
