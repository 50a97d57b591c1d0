-- Webhooks refused for authenticity (bad signature, unknown token, wrong secret). Never in the
-- ledger: a forgery is not a fact about a payment. Bounded: the service keeps the newest
-- 10,000 rows. The body itself is not kept, only its hash and size.
CREATE TABLE webhook_rejections (
  id             bigserial   PRIMARY KEY,
  received_at    timestamptz NOT NULL DEFAULT now(),
  gateway        text        NOT NULL,
  tenant_id      text,
  reason         text        NOT NULL,
  remote_address text,
  request_id     text,
  body_sha256    text        NOT NULL,
  body_bytes     int         NOT NULL
);

GRANT SELECT, INSERT, DELETE ON webhook_rejections TO tally_app;
GRANT USAGE ON SEQUENCE webhook_rejections_id_seq TO tally_app;
