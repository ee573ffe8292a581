-- The spool: what store.DB keeps in bbolt, as tables. Times are unix
-- nanoseconds (bigint), exactly as the bbolt indexes key them.

-- messages: one row per message. record is store.EncodeMessage (the
-- envelope and every recipient with its state and history, the same
-- bytes bbolt stores); the other columns are derived from it in the same
-- statement and serve the indexes below.
CREATE TABLE messages (
	id          text PRIMARY KEY,
	record      bytea NOT NULL,
	received_ns bigint NOT NULL,
	due_ns      bigint,               -- next attempt; NULL: nothing pending
	done        boolean NOT NULL,     -- every recipient final
	pending     boolean NOT NULL,     -- a recipient queued or deferred
	dsn_pending boolean NOT NULL,     -- a bounce notice still to queue
	-- Recipients by state, and the unfinished ones by domain
	-- ({"example.com": [queued, deferred, held]}): Stats sums them
	-- without reading a record.
	queued      integer NOT NULL,
	deferred    integer NOT NULL,
	delivered   integer NOT NULL,
	bounced     integer NOT NULL,
	held        integer NOT NULL,
	domains     jsonb NOT NULL,
	-- The lease of the node delivering it (lease.go): owner, expiry and
	-- the fencing token its outcome must still hold.
	lease_owner    text NOT NULL DEFAULT '',
	lease_until_ns bigint NOT NULL DEFAULT 0,
	lease_token    bigint NOT NULL DEFAULT 0
);
CREATE INDEX messages_due ON messages (due_ns, id) WHERE due_ns IS NOT NULL;
CREATE INDEX messages_finished ON messages (received_ns, id) WHERE done;
CREATE INDEX messages_arrival ON messages (received_ns, id) WHERE pending;
CREATE INDEX messages_notices ON messages (id) WHERE dsn_pending;

-- bodies: Message.Prefix and the body, one row per message.
CREATE TABLE bodies (
	id     text PRIMARY KEY,
	prefix bytea NOT NULL,
	body   bytea NOT NULL
);

CREATE TABLE bounces (
	seq      bigserial PRIMARY KEY,
	time_ns  bigint NOT NULL,
	msg_id   text NOT NULL,
	sender   text NOT NULL,
	rcpt     text NOT NULL,
	host     text NOT NULL,
	code     integer NOT NULL,
	enhanced text NOT NULL,
	diag     text NOT NULL,
	attempts integer NOT NULL
);
CREATE INDEX bounces_time ON bounces (time_ns, seq);

CREATE TABLE quarantine (
	id      text PRIMARY KEY,
	time_ns bigint NOT NULL,
	reason  text NOT NULL,
	raw     bytea NOT NULL
);

CREATE TABLE idempotency (
	key        text PRIMARY KEY,
	created_ns bigint NOT NULL,
	request    bytea NOT NULL,
	response   bytea NOT NULL
);
CREATE INDEX idempotency_created ON idempotency (created_ns);

-- Fencing tokens for leases, and node numbers for message IDs (id.go).
CREATE SEQUENCE lease_tokens;
CREATE SEQUENCE node_numbers;

-- Leases running (lease.go): the first to end is when another node may
-- take over a message (NextDue).
CREATE INDEX messages_leases ON messages (lease_until_ns) WHERE lease_until_ns > 0;
