# A connector's health and a job's cancellation, with the workers running:
# five failed jobs in a row open the connector's circuit breaker, a job due
# while it is open waits (requeued, its reason in its error, no attempt
# used) and connector_get shows it; re-enabling closes it.  A running job
# cancelled through job_cancel ends cancelled at its next step.  Jobs'
# state changes reach the event stream.  A scheduled change that a freeze
# declared since holds is not started when its time comes.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use IO::Socket::INET;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use NexplaneNode;

my $node = NexplaneNode->new_node('health', database => 'nxh');
$node->append_conf('postgresql.conf',
	"nexplane.job_workers = 2\ncron.database_name = 'postgres'\nnexplane.job_timeout = 4\n");
$node->start;
$node->safe_psql('postgres', 'CREATE DATABASE nxh');
my $sql = sub { $node->safe_psql('nxh', $_[0]) };
sub until_t { NexplaneNode::until_t($node, $_[0], database => 'nxh', %{ $_[1] // {} }) }
$sql->('CREATE EXTENSION nexplane');
my $tenant = $sql->(
	"SELECT nexplane.tenant_create('health', 'H', 'admin\@h.test', 'health-admin-password')->'tenant'->>'id'");
my $login = "SELECT nexplane.login('admin\@h.test', 'health-admin-password') IS NOT NULL;";
# the last line is the answer (the first is the login's)
my $as_admin = sub { (split /\n/, $sql->("$login $_[0]"))[-1] // '' };

# A target nothing listens on: every connection is refused at once.
my $cred = $as_admin->(
	q{SELECT nexplane.credential_create('pg', 'postgresql', '{"username": "nx", "password": "pw-health-1"}')->>'id'});
my $conn = $as_admin->(
	"SELECT nexplane.connector_create('postgresql', 'down', '{\"host\": \"127.0.0.1\", \"port\": 1}', '$cred')->>'id'");
sub health { $as_admin->("SELECT coalesce(nexplane.connector_get('$conn')->'health'->>'$_[0]', 'none')") }
sub one_failing_job
{
	my $id = $sql->("INSERT INTO nexplane.jobs (tenant_id, kind, connector_id)
	                 VALUES ('$tenant', 'test_connection', '$conn') RETURNING id");
	until_t("SELECT state <> 'queued' AND state <> 'running' FROM nexplane.jobs WHERE id = '$id'");
	return $id;
}
one_failing_job() for 1 .. 4;
is(health('state'), 'failing', 'four failures: the connector is failing, the breaker still closed');
is(health('consecutive_failures'), '4', 'and counts them');
one_failing_job();
is(health('state'), 'circuit_open', 'the fifth opens the breaker');
like(health('last_error'), qr/127\.0\.0\.1/, 'the last error says what failed');
ok($as_admin->("SELECT (nexplane.connector_get('$conn')->'health'->>'circuit_open_until')::timestamptz
                  BETWEEN now() + interval '20 s' AND now() + interval '31 s'"),
	'for 30 seconds');
my $waiting = $sql->("INSERT INTO nexplane.jobs (tenant_id, kind, connector_id)
                      VALUES ('$tenant', 'test_connection', '$conn') RETURNING id");
ok(until_t("SELECT error LIKE 'waiting: the connector''s circuit breaker is open%' AND state = 'queued'
              FROM nexplane.jobs WHERE id = '$waiting'"),
	'a job due while it is open waits, saying why');
is($sql->("SELECT attempts || ' ' || (run_after > now() + interval '15 s')::text FROM nexplane.jobs WHERE id = '$waiting'"),
	'0 true', 'without using an attempt, until the breaker closes');
is($as_admin->("SELECT nexplane.connector_update('$conn', status => 'active')->'health'->>'state'"),
	'unknown', 're-enabling the connector closes the breaker (an admin has looked)');
is(health('circuit_open_until'), 'none', 'no longer open');

# Cancelling a running job: a target that accepts and never answers.
my $hang = IO::Socket::INET->new(Listen => 5, LocalAddr => '127.0.0.1', LocalPort => 0, Proto => 'tcp')
  or die "listen: $!";
my $hport = $hang->sockport;
my $slow = $as_admin->(
	"SELECT nexplane.connector_create('postgresql', 'hung', '{\"host\": \"127.0.0.1\", \"port\": $hport}', '$cred')->>'id'");
my $job = $as_admin->("SELECT nexplane.connector_test('$slow')->>'id'");
ok(until_t("SELECT state = 'running' FROM nexplane.jobs WHERE id = '$job'"), 'a test of a hung target runs');
is($as_admin->("SELECT nexplane.job_cancel('$job')->>'cancel_requested'"), 'true',
	'job_cancel on a running job sets its flag');
ok(until_t("SELECT state = 'cancelled' FROM nexplane.jobs WHERE id = '$job'", { secs => 20 }),
	'the job ends cancelled, not retried');
is($sql->("SELECT count(*) FROM nexplane.evidence WHERE job_id = '$job'"), '1',
	'leaving the evidence of what it saw');

# The event stream has the jobs' state changes.
ok($as_admin->("SELECT count(*) >= 3 FROM jsonb_array_elements(nexplane.events_since(0, 1000)->'events') e
                 WHERE e->>'kind' = 'job' AND e->>'subject_id' = '$job'"),
	'the job\'s state changes are in the event stream');
close $hang;

# A scheduled change whose time comes inside a freeze declared after it
# was scheduled does not start: it fails saying why, and no call is made.
# Twenty seconds leaves room for five bcrypt logins on a loaded machine.
$as_admin->("SELECT nexplane.user_create('op\@h.test', 'health-op-password', 'operator') IS NOT NULL");
$as_admin->("SELECT nexplane.user_create('appr\@h.test', 'health-appr-password', 'approver') IS NOT NULL");
my $as = sub {
	my ($who, $pw, $q) = @_;
	(split /\n/, $sql->("SELECT nexplane.login('$who', '$pw') IS NOT NULL; $q"))[-1] // '';
};
my $cr = $as->('op@h.test', 'health-op-password',
	"SELECT nexplane.cr_create('$conn', 'lock_role', '{\"role\": \"app\"}', 'frozen later',
	                           scheduled_for => now() + interval '20 s')->>'id'");
$as->('op@h.test', 'health-op-password', "SELECT nexplane.cr_submit('$cr')");
for my $who (['appr@h.test', 'health-appr-password'], ['admin@h.test', 'health-admin-password'])
{
	last if $sql->("SELECT state FROM nexplane.change_requests WHERE id = '$cr'") eq 'approved';
	$as->(@$who, "SELECT nexplane.cr_approve('$cr')");
}
is($as->('op@h.test', 'health-op-password', "SELECT nexplane.cr_execute('$cr')->>'state'"),
	'scheduled', 'a change approved and scheduled twenty seconds on');
$as_admin->("SELECT nexplane.policy_create('freeze_window', 'tenant', NULL, 'enforce',
               jsonb_build_object('from', now(), 'until', now() + interval '1 hour',
                                  'reason', 'incident 42'))");
ok(until_t("SELECT state = 'failed' FROM nexplane.change_requests WHERE id = '$cr'", { secs => 60 }),
	'a freeze declared since: when its time comes, the change fails');
like($sql->("SELECT error FROM nexplane.change_requests WHERE id = '$cr'"),
	qr/^not started at its scheduled time, and nothing was changed: a change freeze .*incident 42/,
	'saying it was not started, and which freeze held it');
is($sql->("SELECT count(*) FROM nexplane.evidence WHERE change_request_id = '$cr'"), '0',
	'no call was made: no pre-check, no execution, no evidence');
$node->stop;
done_testing();
