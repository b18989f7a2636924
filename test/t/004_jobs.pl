# The job engine's workers (bgworkers/): they run in nexplane.database and
# show what they do in pg_stat_activity; an enqueue wakes them at commit;
# an immediate stop with a thousand queued jobs loses none and runs none
# twice (counted by their evidence); they never hold up DROP EXTENSION or
# DROP DATABASE; they report their table statistics to autovacuum; on a
# standby none runs, and a promoted standby starts them; finished jobs
# are pruned after nexplane.job_retention, their evidence kept.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);
use NexplaneNode;

my $node = NexplaneNode->new_node('jobs', database => 'nxjobs', streaming => 1);
# pg_cron's scheduler stays in postgres, so that only nexplane's workers
# are in nxjobs when it is dropped
$node->append_conf('postgresql.conf', "nexplane.job_workers = 2\ncron.database_name = 'postgres'\n");
$node->start;
my $sql = sub { $node->safe_psql('nxjobs', $_[0]) };
sub until_t { NexplaneNode::until_t($node, $_[0], database => 'postgres', %{ $_[1] // {} }) }

$node->safe_psql('postgres', 'CREATE DATABASE nxjobs');
$sql->('CREATE EXTENSION nexplane');
my $tenant = $sql->(
	"SELECT nexplane.tenant_create('jobs', 'Jobs', 'admin\@jobs.test', 'jobs-admin-password')->'tenant'->>'id'");

ok(until_t("SELECT count(*) = 2 FROM pg_stat_activity WHERE backend_type = 'nexplane job worker' AND datname = 'nxjobs'"),
	'two job workers run in nexplane.database');

sub queue
{
	my ($n, $attempts) = @_;
	$sql->("INSERT INTO nexplane.jobs (tenant_id, kind, max_attempts)
	        SELECT '$tenant', 'noop', $attempts FROM generate_series(1, $n)");
}
sub drained
{
	return $sql->("SELECT count(*) = 0 FROM nexplane.jobs WHERE state IN ('queued', 'running')");
}

queue(1, 1);
ok(until_t(sub { drained() }), 'a queued job runs');
is($sql->("SELECT state || ' ' || attempts FROM nexplane.jobs"), 'succeeded 1',
	'it succeeded on its first attempt');
is($sql->("SELECT count(*) FROM nexplane.evidence WHERE kind = 'noop'"), '1', 'and left its evidence');
# The workers send their table statistics while they run, not only when
# they exit: autovacuum sees the rows they update and insert.
ok(until_t(sub { $sql->("SELECT (SELECT n_tup_ins = 1 FROM pg_stat_user_tables WHERE relid = 'nexplane.evidence'::regclass)
	                           AND (SELECT n_tup_upd >= 2 FROM pg_stat_user_tables WHERE relid = 'nexplane.jobs'::regclass)") }),
	'the workers report what they wrote to the statistics autovacuum reads');
ok($sql->("SELECT started_at - created_at < interval '5 s' FROM nexplane.jobs") eq 't',
	'it started without waiting for a poll (woken at commit)');

# An immediate stop in the middle of a thousand jobs: after the restart
# every job ran once and only once.
queue(1000, 3);
until_t(sub { $sql->("SELECT count(*) > 0 FROM nexplane.jobs WHERE state = 'succeeded' AND kind = 'noop'") });
$node->stop('immediate');
$node->start;
ok(until_t(sub { drained() }, { secs => 60 }), 'after an immediate stop the queue drains');
is($sql->("SELECT count(*) FROM nexplane.jobs WHERE state = 'succeeded'"), '1001', 'no job was lost');
is($sql->("SELECT count(*) FROM (SELECT job_id FROM nexplane.evidence GROUP BY job_id HAVING count(*) > 1) d"),
	'0', 'no job ran twice (one evidence row each)');
is($sql->("SELECT count(*) FROM nexplane.evidence"), '1001', 'every job left its evidence');

# A running job whose lease ran out and whose worker is gone is retried.
$sql->("INSERT INTO nexplane.jobs (tenant_id, kind, max_attempts, state, attempts, lease_until, worker_pid, started_at, payload)
        VALUES ('$tenant', 'noop', 3, 'running', 1, now() - interval '1 s', 999999, now(), '{\"lost\": 1}')");
ok(until_t(sub { drained() }, { secs => 30 }), 'a job whose worker was lost is taken back');
is($sql->("SELECT attempts || ' ' || state FROM nexplane.jobs WHERE payload = '{\"lost\": 1}'"),
	'2 succeeded', 'on its second attempt, after a backoff');
$sql->("INSERT INTO nexplane.jobs (tenant_id, kind, max_attempts, state, attempts, lease_until, worker_pid, started_at, payload)
        VALUES ('$tenant', 'noop', 1, 'running', 1, now() + interval '1 h', 999999, now(), '{\"lost\": 2}')");
ok(until_t(sub { drained() }, { secs => 30 }), 'a lost job at its last attempt ends');
like($sql->("SELECT state || ': ' || error FROM nexplane.jobs WHERE payload = '{\"lost\": 2}'"),
	qr/^failed: the worker was lost during attempt 1 of 1$/, 'failed, saying why');

# Fairness: tenant A's burst of 10,000 jobs does not hold up tenant B's
# one job queued after it (in the same transaction, so that both are there
# for the workers at once); the wait is reported, not asserted.
my $ta = $sql->("SELECT nexplane.tenant_create('burst-a', 'A', 'admin\@a.test', 'jobs-admin-password')->'tenant'->>'id'");
my $tb = $sql->("SELECT nexplane.tenant_create('burst-b', 'B', 'admin\@b.test', 'jobs-admin-password')->'tenant'->>'id'");
$sql->("BEGIN;
        INSERT INTO nexplane.jobs (tenant_id, kind, max_attempts) SELECT '$ta', 'noop', 3 FROM generate_series(1, 10000);
        INSERT INTO nexplane.jobs (tenant_id, kind, created_at) VALUES ('$tb', 'noop', clock_timestamp());
        COMMIT");
ok(until_t(sub { $sql->("SELECT state = 'succeeded' FROM nexplane.jobs WHERE tenant_id = '$tb'") }, { secs => 120 }),
	"tenant B's job runs");
my $waited = $sql->(
	"SELECT round(extract(epoch FROM started_at - created_at)::numeric, 2) FROM nexplane.jobs WHERE tenant_id = '$tb'");
diag("tenant B's job waited ${waited} s behind A's burst of 10,000, queued in the same transaction (bench/jobs measures it)");
ok(until_t(sub { drained() }, { secs => 300 }), "A's burst drains");

# DROP EXTENSION and DROP DATABASE go through with the workers running.
my ($rc, $out, $err) = $node->psql('nxjobs', 'SET lock_timeout = \'10s\'; DROP EXTENSION nexplane CASCADE');
is($rc, 0, 'DROP EXTENSION is not held up by the workers') or diag $err;
$sql->('CREATE EXTENSION nexplane');
my $t2 = $sql->("SELECT nexplane.tenant_create('jobs2', 'Jobs 2', 'admin\@jobs2.test', 'jobs-admin-password')->'tenant'->>'id'");
$sql->("INSERT INTO nexplane.jobs (tenant_id, kind) VALUES ('$t2', 'noop')");
ok(until_t(sub { drained() }), 'after CREATE EXTENSION again the workers run jobs again');
($rc, $out, $err) = $node->psql('postgres', 'DROP DATABASE nxjobs');
is($rc, 0, 'DROP DATABASE is not held up by the workers') or diag $err;
$node->safe_psql('postgres', 'CREATE DATABASE nxjobs');
$sql->('CREATE EXTENSION nexplane');
ok(until_t("SELECT count(*) = 2 FROM pg_stat_activity WHERE backend_type = 'nexplane job worker' AND datname = 'nxjobs'",
	{ secs => 90 }), 'the launcher starts them again in the new database');

# Pruning: finished jobs older than the retention go, their evidence stays.
my $t3 = $sql->("SELECT nexplane.tenant_create('jobs3', 'Jobs 3', 'admin\@jobs3.test', 'jobs-admin-password')->'tenant'->>'id'");
$sql->("INSERT INTO nexplane.jobs (tenant_id, kind) SELECT '$t3', 'noop' FROM generate_series(1, 3)");
until_t(sub { drained() });
$sql->("UPDATE nexplane.jobs SET finished_at = now() - interval '31 days'
         WHERE id IN (SELECT id FROM nexplane.jobs ORDER BY created_at LIMIT 2)");
is($sql->('SELECT nexplane._jobs_prune()'), '2', 'jobs finished 31 days ago are pruned (retention 30 days)');
is($sql->("SELECT count(*) FROM nexplane.jobs"), '1', 'the recent one stays');
is($sql->("SELECT count(*) FROM nexplane.evidence WHERE kind = 'noop'"), '3', 'all their evidence stays');

# A standby runs no worker; promoted, it does.
$node->backup('b');
my $standby = PostgreSQL::Test::Cluster->new('jobs_standby');
$standby->init_from_backup($node, 'b', has_streaming => 1);
$standby->start;
usleep(2_000_000);
is($standby->safe_psql('postgres',
	"SELECT count(*) FROM pg_stat_activity WHERE backend_type LIKE 'nexplane%'"), '0',
	'a standby runs none of nexplane\'s workers');
$standby->promote;
ok(NexplaneNode::until_t($standby,
	"SELECT count(*) = 2 FROM pg_stat_activity WHERE backend_type = 'nexplane job worker'", secs => 30),
	'once promoted, its workers start');
$standby->stop;
$node->stop;
done_testing();
