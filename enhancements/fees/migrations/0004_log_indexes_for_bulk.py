"""fee_calculation_log indexes: keep what lookups need, nothing the bulk path pays for twice.

- txn_id (btree, kept): explaining a charged fee starts from the transaction id (admin
  search, support), and bulk calculation's idempotency check (skip transactions already
  logged) probes it.
- (client_id, calculated_at) btree (dropped): it cost bulk logging ~10-30% (one more index
  entry per row) for one admin search. A merchant's calculations are browsed by period:
  the admin narrows by calculated_at (date hierarchy), partition pruning keeps that to the
  months asked for, and the BRIN below to the days; the client filter is applied there.
- calculated_at BRIN (new): rows arrive in calculated_at order, so a BRIN of a few pages
  per partition answers date ranges at almost no insert cost.
"""

from django.db import migrations

FORWARD = """
DROP INDEX IF EXISTS fee_calculation_log_client_idx;
CREATE INDEX fee_calculation_log_calculated_brin ON fee_calculation_log USING brin (calculated_at);
"""
BACKWARD = """
DROP INDEX IF EXISTS fee_calculation_log_calculated_brin;
CREATE INDEX fee_calculation_log_client_idx ON fee_calculation_log (client_id, calculated_at);
"""


class Migration(migrations.Migration):
    dependencies = [("fees", "0003_beat_jobs")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
