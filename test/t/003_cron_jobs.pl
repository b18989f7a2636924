# pg_cron, the clock of `make run`, reaches the database: on a cluster set up
# as `make run` sets one up (peer on the socket, passwords over TCP, no trust
# for the test harness), the audit sealing job scheduled as `make run`
# schedules it runs, succeeds and chains the events.  pg_cron 1.4 counts in
# minutes, so this waits for the next minute boundary.  (Ported from
# test/e2e/cron_jobs.sh; the same checks, the same descriptions.)
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
SELECT cron.schedule('nexplane-audit-seal', '* * * * *', 'SELECT nexplane._audit_seal_all()');
SQL
NexplaneNode::until_t($node,
	"SELECT count(*) > 0 FROM cron.job_run_details WHERE status IN ('succeeded', 'failed')",
	secs => 80, every => 0.5);
is($sql->('SELECT status FROM cron.job_run_details ORDER BY start_time LIMIT 1'),
	'succeeded', 'the sealing job ran and succeeded (its connection got in)');
cmp_ok($sql->('SELECT count(*) FROM nexplane.audit_chain'),
	'>', 0, "it chained the tenant's events");
is( $sql->(
		"SELECT bool_and((nexplane._audit_verify_tenant(id)->>'ok')::boolean) FROM nexplane.tenants"),
	't',
	'the chain verifies');

done_testing();
