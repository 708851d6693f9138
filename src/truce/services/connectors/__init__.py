"""Live connectors to HubSpot and Salesforce: importers with a cursor, and write-back through the outbox.

- connections: `truce connect` / `truce connections` — where a CRM is, how truce signs in, its secret's home
- secrets: secrets sealed with a key outside the store, or read from the environment
- http: one HTTP client for both vendors — limit headers, 429/503 backoff, token refresh, revoked credentials
- protocol: what a connector gives the sync (objects, pages of rows, single records, write-back)
- sync: pages through the file importer's writers, cursor and rejects in the same unit of work
- removals: records deleted or merged in the CRM, marked and kept
- handoffs: an MQL made in the CRM enters truce's queue within the sync that sees it
- hubspot/, salesforce/: the vendors' APIs (docs/connectors.md says which calls and why)
"""
