package shaping

// Presets are the built-in rules for the largest mailbox providers. None of
// them publishes numeric limits; each asks senders to keep a steady rate,
// ramp up slowly and back off when told to. The values below are
// therefore conservative for a single sending IP, and the adaptive
// reaction (reaction.go) lowers them further when a provider says so.
// A [[shaping]] rule of the same name in the configuration replaces a
// preset; rules from the configuration are matched first.
//
//   - Gmail (gmail.com, googlemail.com, and every domain hosted by Google
//     Workspace, MX under google.com / googlemail.com): "Email sender
//     guidelines", https://support.google.com/mail/answer/81126 (send at a
//     consistent rate, increase volume slowly, avoid bursts), and the SMTP
//     error reference https://support.google.com/a/answer/3726730 (421
//     4.7.28 and 450 4.2.1 ask the sender to slow down).
//   - Yahoo and AOL (MX under yahoodns.net): "Sender Best Practices",
//     https://senders.yahooinc.com/best-practices/ (throttle, respect
//     deferrals, ramp slowly) and "SMTP error codes",
//     https://senders.yahooinc.com/smtp-error-codes/ (421 4.7.0 [TSS04]:
//     deferred for volume or complaints).
//   - Outlook.com and Hotmail (MX under outlook.com): "Policies,
//     Practices, and Guidelines",
//     https://sendersupport.olc.protection.outlook.com/pm/policies.aspx,
//     and Exchange Online's non-delivery reference,
//     https://learn.microsoft.com/en-us/exchange/mail-flow-best-practices/non-delivery-reports-in-exchange-online/non-delivery-reports-in-exchange-online
//     (451 4.7.500-699: "access denied, please try again later").
//   - iCloud (icloud.com, me.com, mac.com; MX under icloud.com):
//     "Postmaster information for iCloud Mail",
//     https://support.apple.com/en-us/102322 (iCloud Mail limits
//     connections and messages from a sender; excess is deferred).
func Presets() []Rule {
	return []Rule{
		{
			Name:       "gmail",
			Domains:    []string{"gmail.com", "googlemail.com"},
			MXSuffixes: []string{"google.com", "googlemail.com"},
			Limits:     Limits{Connections: 10, MessagesPerConnection: 50, PerMinute: 600, RecipientsPerTransaction: 50},
			Source:     "https://support.google.com/mail/answer/81126",
		},
		{
			Name:       "yahoo",
			Domains:    []string{"yahoo.com", "ymail.com", "rocketmail.com", "aol.com"},
			MXSuffixes: []string{"yahoodns.net"},
			Limits:     Limits{Connections: 5, MessagesPerConnection: 20, PerMinute: 300, RecipientsPerTransaction: 25},
			Source:     "https://senders.yahooinc.com/best-practices/",
		},
		{
			Name:       "outlook",
			Domains:    []string{"outlook.com", "hotmail.com", "live.com", "msn.com"},
			MXSuffixes: []string{"outlook.com"},
			Limits:     Limits{Connections: 10, MessagesPerConnection: 50, PerMinute: 600, RecipientsPerTransaction: 50},
			Source:     "https://sendersupport.olc.protection.outlook.com/pm/policies.aspx",
		},
		{
			Name:       "icloud",
			Domains:    []string{"icloud.com", "me.com", "mac.com"},
			MXSuffixes: []string{"icloud.com"},
			Limits:     Limits{Connections: 5, MessagesPerConnection: 20, PerMinute: 120, RecipientsPerTransaction: 25},
			Source:     "https://support.apple.com/en-us/102322",
		},
	}
}
