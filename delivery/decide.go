package delivery

// pending is the status of a recipient accepted at RCPT whose fate depends on
// the reply to DATA.
const pending Status = 0

// decide is the at-least-one decision, taken after every RCPT reply of a
// transaction is known. codes holds each recipient's RCPT reply code (0 when
// none was received). It returns whether DATA is sent and each recipient's
// status: pending for those that will receive the message, Deferred or
// Bounced for the others.
//
// As the Tcl smtp package's -atleastone (see doc.go): a recipient whose
// reply is not 2xx is rejected; DATA goes out only when at least one was
// accepted and either none was rejected or atLeastOne is set. Unlike the Tcl
// package, a queue distinguishes temporary from permanent: a 5xx recipient
// is bounced, a 4xx (or unanswered) one deferred. When all-or-nothing
// withholds DATA, the accepted recipients are deferred with the 4xx ones so
// that they are retried together.
func decide(codes []int, atLeastOne bool) (sendData bool, st []Status) {
	st = make([]Status, len(codes))
	accepted, rejected := 0, 0
	for i, c := range codes {
		switch c / 100 {
		case 2:
			st[i] = pending
			accepted++
		case 5:
			st[i] = Bounced
			rejected++
		default:
			st[i] = Deferred
			rejected++
		}
	}
	sendData = accepted > 0 && (rejected == 0 || atLeastOne)
	if !sendData {
		for i := range st {
			if st[i] == pending {
				st[i] = Deferred
			}
		}
	}
	return sendData, st
}
