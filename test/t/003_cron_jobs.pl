# pg_cron, the clock of `make run`, reaches the database: on a cluster set up
# as `make run` sets one up (peer on the socket, passwords over TCP, no trust
# for the test harness), the audit sealing job scheduled as `make run`
# schedules it runs, succeeds and chains the events, and the schedules tick
# runs, succeeds and enqueues the run of a schedule that is due.  pg_cron
# 1.4 counts in minutes, so this waits for the next minute boundary.
# (Ported from test/e2e/cron_jobs.sh; the same checks, the same
# descriptions.)
use strict;
use warnings;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use PostgreSQL::Test::Utils;
use Test::More;
use NexplaneNode;

# auth => 'peer': no trust line; this test connects over the socket as the
# OS user that owns the server, like `make run`'s superuser, and so do
# pg_cron's jobs (cron.host is the socket directory).
my $node = NexplaneNode->new_node('cron', auth => 'peer');
$node->start;
my $sql = sub { $node->safe_psql('postgres', $_[0]) };

NexplaneNode::create_extensions($node, 'pg_cron', 'nexplane');
$sql->(<<'SQL');
SELECT nexplane.tenant_create('cron', 'Cron', 'admin@cron.test', 'cron-admin-password') IS NOT NULL;
INSERT INTO nexplane.connectors (tenant_id, id, type, name)
SELECT id, '10000000-0000-0000-0000-000000000001', 'postgresql', 'db' FROM nexplane.tenants;
-- due at the next minute boundary, when pg_cron runs the tick
INSERT INTO nexplane.schedules (tenant_id, connector_id, job_kind, cron, next_run_at)
SELECT id, '10000000-0000-0000-0000-000000000001', 'discover', '* * * * *',
       (nexplane._cron_next('* * * * *', 'UTC', now(), 1))[1]
  FROM nexplane.tenants;
SELECT cron.schedule('nexplane-audit-seal', '* * * * *', 'SELECT nexplane._audit_seal_all()');
SELECT cron.schedule('nexplane-schedules-tick', '* * * * *', 'SELECT nexplane._schedules_tick()');
SQL
my $first_run = sub {
	$sql->(
		"SELECT d.status FROM cron.job_run_details d JOIN cron.job j USING (jobid)
		  WHERE j.jobname = '$_[0]' ORDER BY d.start_time LIMIT 1");
};
NexplaneNode::until_t($node,
	"SELECT count(DISTINCT jobid) = 2 FROM cron.job_run_details WHERE status IN ('succeeded', 'failed')",
	secs => 80, every => 0.5);
is($first_run->('nexplane-audit-seal'),
	'succeeded', 'the sealing job ran and succeeded (its connection got in)');
cmp_ok($sql->('SELECT count(*) FROM nexplane.audit_chain'),
	'>', 0, "it chained the tenant's events");
is( $sql->(
		"SELECT bool_and((nexplane._audit_verify_tenant(id)->>'ok')::boolean) FROM nexplane.tenants"),
	't',
	'the chain verifies');
is($first_run->('nexplane-schedules-tick'),
	'succeeded', 'the schedules tick ran and succeeded');
is( $sql->(
		"SELECT count(*) >= 1 AND bool_and(j.kind = 'discover' AND j.scheduled_for <= j.created_at)
		   FROM nexplane.jobs j WHERE j.schedule_id IS NOT NULL"),
	't',
	"it enqueued the due schedule's run");
is($sql->('SELECT next_run_at > last_run_at FROM nexplane.schedules'),
	't', 'and moved the schedule on to its next run');

done_testing();
