-- Bodies are stored as they come, without pglz: mail is mostly base64 or
-- already-compressed attachments, which pglz spends CPU on every insert
-- to shrink little or not at all (it gives up on data it cannot shrink
-- only after trying). EXTERNAL keeps them out of line past the TOAST
-- threshold, uncompressed; it applies to rows written from now on (the
-- rows already stored keep their form, and both read alike).
ALTER TABLE bodies ALTER COLUMN body SET STORAGE EXTERNAL;
ALTER TABLE bodies ALTER COLUMN prefix SET STORAGE EXTERNAL;

-- The sequencer (events.go) numbers each event once: an update of its
-- row, which, as seq is indexed, writes a new entry in every index of
-- events. The primary key on id served only the sequencer's look-up of
-- the rows it numbers, which now goes by their physical address (ctid:
-- stable while the sequencer's lock is held, as no one else updates an
-- unnumbered row and only a VACUUM FULL moves rows); dropping it spares
-- every event two index insertions (its insert and its numbering). id
-- stays the insertion order, indexed for the unnumbered rows alone.
ALTER TABLE events DROP CONSTRAINT events_pkey;
CREATE OR REPLACE FUNCTION outbox_number_events(page integer, OUT last bigint, OUT n integer)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
	tids tid[];
BEGIN
	PERFORM pg_advisory_xact_lock(7959959409245843565); -- the sequencer's key
	SELECT array_agg(ctid ORDER BY id) INTO tids
		FROM (SELECT ctid, id FROM events WHERE seq IS NULL ORDER BY id LIMIT page) t;
	n := coalesce(cardinality(tids), 0);
	last := 0;
	IF n = 0 THEN
		RETURN;
	END IF;
	last := setval('event_seq', nextval('event_seq') + n - 1);
	UPDATE events SET seq = last - n + u.k
		FROM unnest(tids) WITH ORDINALITY AS u(tid, k) WHERE events.ctid = u.tid;
	PERFORM pg_notify('outbox_events', last::text);
END
$$;
