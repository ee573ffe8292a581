-- Priority lanes, the event log, the suppression list, the outbound TLS
-- state (MTA-STS policies, downgrade memory, TLS-RPT aggregates) and the
-- webhook cursors: what store.DB keeps in its "due.high"/"due.bulk",
-- "events", "suppressions", "suppress.strikes", "mtasts", "tlslevel",
-- "tlsreports" and "webhooks" buckets.

-- lane is Message.Priority (store.Priority: 0 normal, 1 high, 2 bulk),
-- derived from the record like due_ns; the rows written before lanes are
-- normal, as bbolt's spools from before lanes are. The due index gains
-- the lane as its first column so that DueLane is one index range per
-- lane, as bbolt's per-lane buckets are.
ALTER TABLE messages ADD COLUMN lane smallint NOT NULL DEFAULT 0;
CREATE INDEX messages_lane_due ON messages (lane, due_ns, id) WHERE due_ns IS NOT NULL;

-- events: one row per event, inserted by the transaction that records the
-- change it reports (store.DeriveEvents). seq, the public sequence number,
-- is NULL until the sequencer (events.go) numbers the committed rows in
-- commit order from event_seq: numbers handed out inside the writing
-- transactions would commit out of order across concurrent transactions
-- and nodes, and a follower past a higher number would never see a lower
-- one committed after it. id is the insertion order within a transaction
-- (and along a message's row lock). No index on time_ns: each index
-- costs every event twice (its insert and its numbering), and only the
-- daily prune reads the times.
CREATE TABLE events (
	id      bigserial PRIMARY KEY,
	seq     bigint UNIQUE,
	time_ns bigint NOT NULL,
	usr     text NOT NULL,   -- store.Event.User, kept beside the JSON
	event   bytea NOT NULL   -- the JSON of store.Event, its public shape
);
CREATE INDEX events_unnumbered ON events (id) WHERE seq IS NULL;
CREATE SEQUENCE event_seq;

-- suppressions: normalised address (store.NormalizeAddress) → entry;
-- "C" collation so that listing is in byte order, as bbolt's keys are.
-- expires_ns 0: never.
CREATE TABLE suppressions (
	addr       text COLLATE "C" PRIMARY KEY,
	reason     smallint NOT NULL,
	reply      text NOT NULL,
	msg_id     text NOT NULL,
	created_ns bigint NOT NULL,
	expires_ns bigint NOT NULL
);
CREATE TABLE suppress_strikes (
	addr text COLLATE "C" PRIMARY KEY,
	n    integer NOT NULL
);

-- The outbound TLS state (store's "mtasts" and "tlslevel" buckets), keyed
-- by store.NormalizeDomain: the cached MTA-STS policies, opaque here, and
-- the downgrade memory, the best TLS level each domain has shown.
CREATE TABLE mtasts_policies (
	domain text PRIMARY KEY,
	policy bytea NOT NULL
);
CREATE TABLE tls_levels (
	domain text PRIMARY KEY,
	level  smallint NOT NULL
);

-- Webhook cursors (store's "webhooks" bucket): endpoint name → the JSON
-- of store.WebhookCursor, as bbolt keeps it.
CREATE TABLE webhook_cursors (
	endpoint text PRIMARY KEY,
	cursor   bytea NOT NULL
);

-- TLS reporting aggregates (store's "tlsreports" bucket, RFC 8460): one
-- per UTC day and policy domain, opaque here; every node merges its
-- sessions into the same rows, so a report covers them all.
CREATE TABLE tls_reports (
	day    text NOT NULL,
	domain text NOT NULL,
	data   bytea NOT NULL,
	PRIMARY KEY (day, domain)
);

-- The sequencer (events.go) as one statement: a run costs one round trip.
-- VOLATILE, so each statement sees what committed before it: the SELECT
-- after the lock sees every row committed before the lock was granted.
-- Only sequencers, one at a time, draw from event_seq, so the range
-- [first, last] is this run's alone.
CREATE FUNCTION outbox_number_events(page integer, OUT last bigint, OUT n integer)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
	ids bigint[];
BEGIN
	PERFORM pg_advisory_xact_lock(7959959409245843565); -- the sequencer's key
	SELECT array_agg(id ORDER BY id) INTO ids
		FROM (SELECT id FROM events WHERE seq IS NULL ORDER BY id LIMIT page) t;
	n := coalesce(cardinality(ids), 0);
	last := 0;
	IF n = 0 THEN
		RETURN;
	END IF;
	last := setval('event_seq', nextval('event_seq') + n - 1);
	UPDATE events SET seq = last - n + u.k
		FROM unnest(ids) WITH ORDINALITY AS u(id, k) WHERE events.id = u.id;
	PERFORM pg_notify('outbox_events', last::text);
END
$$;
