"""HubSpot CRM v3: owners, companies, contacts, deals and engagements in; truce's decisions out.

- api: the REST calls (through CrmHttp), HubSpot's limit headers and the search pace
- objects: which properties truce reads and how a record becomes a row of truce fields
- history: lifecycle-stage history as "Became a … Date" columns (dated ledger moves)
- connector: HubSpotConnector — incremental windows under the 10,000 search cap, full listings,
  deletions and merges, single records, write-back
- write_back: truce values → HubSpot properties, and the "changed since truce read it" check
- signature: webhook signature v3 and the records a delivery names
"""

from truce.services.connectors.hubspot.connector import HubSpotConnector

__all__ = ["HubSpotConnector"]
