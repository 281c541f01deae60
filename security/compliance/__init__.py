"""GB/T 39786-2021 (密评) and GB/T 22239-2019 (MLPS 2.0) compliance over the inventory.

checks/<id>/ holds one check each (code + metadata, Prowler style), frameworks/ the standards
as data and the only mapping of checks to clauses; engine.py runs an audit, reports.py writes
it out for an assessor.
"""

__all__ = ["engine", "evidence", "frameworks", "models", "registry", "reports", "waivers"]
