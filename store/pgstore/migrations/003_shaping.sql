-- Traffic shaping and destination back-offs shared by the nodes
-- (budgets.go, backoffs.go). Unlike the spool's tables, whose times are
-- the nodes' clocks in unix nanoseconds, these deadlines are the
-- database's clock (timestamptz from clock_timestamp()): every node
-- compares them with the same clock, and converts them to its own as
-- offsets from it, so a node whose clock is off neither exceeds a budget
-- nor waits out another node's skew.

-- shaping_budgets: one row per budget (a shaping rule's name, or a
-- recipient domain no rule matches). state is the shaper's record
-- (queue/shaping: rate slots, adaptive slow-down, suspension), opaque
-- here. The row is the lock that serialises the nodes' admissions to one
-- budget (SELECT ... FOR UPDATE).
CREATE TABLE shaping_budgets (
	key     text PRIMARY KEY,
	state   bytea NOT NULL,
	updated timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- shaping_slots: one row per connection a node holds to a budget, with
-- an expiry the node renews while it lives (as it renews its message
-- leases): a dead node's slots stop counting when they expire.
CREATE TABLE shaping_slots (
	id      bigserial PRIMARY KEY,
	key     text NOT NULL,
	node    text NOT NULL,
	expires timestamptz NOT NULL
);
CREATE INDEX shaping_slots_key ON shaping_slots (key, expires);

-- destinations_down: the back-off of a destination domain whose every
-- host failed, set by any node, honoured by all, cleared by a delivery
-- that gets through.
CREATE TABLE destinations_down (
	domain text PRIMARY KEY,
	until  timestamptz NOT NULL,
	reply  text NOT NULL,
	node   text NOT NULL,
	since  timestamptz NOT NULL
);

-- shaping_reservations: the rate slot reserved for one message (msg_id)
-- of a budget, the shaper's record, opaque here; whichever node claims
-- the message when it comes due starts it in that slot. at is the slot's
-- time, for the sweep of reservations whose message went away.
CREATE TABLE shaping_reservations (
	key    text NOT NULL,
	msg_id text NOT NULL,
	at     timestamptz NOT NULL,
	resv   bytea NOT NULL,
	PRIMARY KEY (key, msg_id)
);
CREATE INDEX shaping_reservations_at ON shaping_reservations (at);
