-- Bodies are stored as they come, without pglz: mail is mostly base64 or
-- already-compressed attachments, which pglz spends CPU on every insert
-- to shrink little or not at all (it gives up on data it cannot shrink
-- only after trying). EXTERNAL keeps them out of line past the TOAST
-- threshold, uncompressed; it applies to rows written from now on (the
-- rows already stored keep their form, and both read alike).
ALTER TABLE bodies ALTER COLUMN body SET STORAGE EXTERNAL;
ALTER TABLE bodies ALTER COLUMN prefix SET STORAGE EXTERNAL;
