# A job worker killed with SIGKILL in the middle of a change: the change
# request ends failed with the unknown-outcome reason, the recovery's
# verify leaves its evidence, and the change is never run twice.  The
# target is a second, plain PostgreSQL node where the postgresql
# connector logs in as a CREATEROLE role over SCRAM; another session holds
# the role's row (an ALTER ROLE in an open transaction), so the change's
# own ALTER ROLE waits on the target and the worker sits inside execute
# when it is killed.  The postmaster then restarts everything.
#
# The killed worker's statement is still on the target, waiting for the
# lock, and commits once the lock goes: the recovery must not ask the
# target before that statement has ended, or a rotation would keep the
# password the target no longer takes.  So the lock is held until the
# workers are back, and the test checks that the recovery waited (for the
# lease, within which every call's deadline, told to the target as
# statement_timeout and lock_timeout, has passed).  A rotation killed the
# same way keeps the version the target takes: the new one when the
# statement went through, the old one when the target gave up on it.
# The rollback state pre_check gave is stored before execute, so it
# survives the kill: a lost change that landed (the lock, the rotation
# taken) is rolled back through cr_rollback, approved by others and
# checked on the target; one that did not land (the rotation refused)
# has it dropped, and cr_rollback's refusal says it did not land.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);
use POSIX ();
use NexplaneNode;

# A lease of 24 s makes each operation's deadline 12 s (half a lease).
my $node = NexplaneNode->new_node('crash', database => 'nxcrash');
$node->append_conf('postgresql.conf', <<'CONF');
nexplane.job_workers = 2
nexplane.job_lease = 24
nexplane.job_timeout = 12
cron.database_name = 'postgres'
restart_after_crash = on
CONF
$node->start;
$node->safe_psql('postgres', 'CREATE DATABASE nxcrash');
my $sql = sub { $node->safe_psql('nxcrash', $_[0]) };
$sql->('CREATE EXTENSION nexplane');
$sql->('CREATE EXTENSION nexplane_test');

# The target: plain PostgreSQL, SCRAM over TCP, every statement logged.
my $target = PostgreSQL::Test::Cluster->new('target');
$target->init;
$target->append_conf('postgresql.conf', "listen_addresses = '127.0.0.1'\nlog_statement = 'all'\n");
NexplaneNode::write_private_file($target->data_dir . '/pg_hba.conf',
	"local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n");
$target->start;
my $tsql = sub { $target->safe_psql('postgres', $_[0]) };
my %pw = (admin => 'crash-admin-pw-1', rot1 => 'crash-rot1-old-2', rot2 => 'crash-rot2-old-3');
$tsql->("SET log_statement = 'none';
         CREATE ROLE nx_admin LOGIN CREATEROLE PASSWORD '$pw{admin}';
         GRANT pg_signal_backend TO nx_admin;
         CREATE ROLE lockme LOGIN;
         CREATE ROLE rot1 LOGIN PASSWORD '$pw{rot1}';
         CREATE ROLE rot2 LOGIN PASSWORD '$pw{rot2}'");

# A tenant with an admin, an operator and an approver; the connector and
# the accounts' credentials.  Secrets and logins stay out of the log.
my $upw = 'crash-user-password-1';
my ($ADMIN, $OP, $APPR) = ('admin@crash.test', 'op@crash.test', 'appr@crash.test');
sub as
{
	my ($who, $stmt) = @_;
	my $out = $sql->("SET log_statement = 'none';
	                  SELECT nexplane.login('$who', '$upw') IS NOT NULL;
	                  RESET log_statement;
	                  $stmt");
	return (split /\n/, $out)[-1];
}
$sql->("SET log_statement = 'none';
        SELECT nexplane.tenant_create('crash', 'Crash', '$ADMIN', '$upw') IS NOT NULL");
as($ADMIN, "SELECT nexplane.user_create('$OP', '$upw', 'operator') IS NOT NULL");
as($ADMIN, "SELECT nexplane.user_create('$APPR', '$upw', 'approver') IS NOT NULL");
sub credential
{
	my ($name, $user, $password) = @_;
	return as($ADMIN, "SET log_statement = 'none';
	  SELECT nexplane.credential_create('$name', 'static',
	    '{\"username\": \"$user\", \"password\": \"$password\"}'::jsonb)->>'id'");
}
my $admin_cred = credential('pg-admin', 'nx_admin', $pw{admin});
my $rot1 = credential('pg-rot1', 'rot1', $pw{rot1});
my $rot2 = credential('pg-rot2', 'rot2', $pw{rot2});
my $tport = $target->port;
my $conn = as($ADMIN, "SELECT nexplane.connector_create('postgresql', 'target',
  '{\"host\": \"127.0.0.1\", \"port\": $tport}'::jsonb, '$admin_cred', 'production')->>'id'");
ok($conn, 'a postgresql connector to the target');

sub until_t { NexplaneNode::until_t($node, $_[0], database => 'nxcrash', %{ $_[1] // {} }) }
sub cr_state { $sql->("SELECT state FROM nexplane.change_requests WHERE id = '$_[0]'") }
sub workers_up
{
	return until_t("SELECT count(*) = 2 FROM pg_stat_activity WHERE backend_type = 'nexplane job worker'",
		{ secs => 60 });
}
ok(workers_up(), 'two job workers run');

# CPU seconds the job workers use in 3 s (utime and stime of /proc/PID/stat)
sub workers_cpu
{
	my $ticks = sub {
		my $t = 0;
		for my $p (split ' ', $sql->("SELECT string_agg(pid::text, ' ') FROM pg_stat_activity
		                               WHERE backend_type = 'nexplane job worker'"))
		{
			open my $f, '<', "/proc/$p/stat" or next;
			my @f = split ' ', (scalar(<$f>) =~ s/^.*\) //r);
			$t += $f[11] + $f[12];
		}
		return $t;
	};
	my $before = $ticks->();
	usleep(3_000_000);
	return ($ticks->() - $before) / POSIX::sysconf(POSIX::_SC_CLK_TCK);
}
my $cpu = workers_cpu();
ok($cpu < 0.15, "idle, the workers sleep ($cpu s of CPU in 3 s)");

# create, approve (twice where the risk asks for it), execute
sub change
{
	my ($type, $params) = @_;
	my $cr = as($OP, "SELECT nexplane.cr_create('$conn', '$type', '$params'::jsonb, 'crash $type')->>'id'");
	as($OP, "SELECT nexplane.cr_submit('$cr')->>'state'");
	as($APPR, "SELECT nexplane.cr_approve('$cr', 'looks right')->>'state'");
	as($ADMIN, "SELECT nexplane.cr_approve('$cr', 'agreed')->>'state'") if cr_state($cr) ne 'approved';
	as($OP, "SELECT nexplane.cr_execute('$cr')->>'state'");
	return $cr;
}

# How many times a statement reached the target: its log names each.
sub target_ran
{
	my ($pattern) = @_;
	my $log = slurp_file($target->logfile);
	my @hits = $log =~ /LOG:  execute [^:]*: ALTER ROLE $pattern/g;
	return scalar @hits;
}

# The change's ALTER ROLE waits on the target for the blocker's lock, the
# worker running it is killed, the workers come back.  Returns the job
# and its lease as it was at the kill (epoch seconds).
sub kill_mid_change
{
	my ($cr, $role, $what, $kind) = @_;
	$kind //= 'execute_change';
	my $job = $sql->("SELECT id FROM nexplane.jobs WHERE change_request_id = '$cr'");
	ok(NexplaneNode::until_t($target,
		"SELECT count(*) = 1 FROM pg_stat_activity WHERE application_name = 'nexplane'
		    AND wait_event_type = 'Lock' AND query LIKE 'ALTER ROLE \"$role\"%'", secs => 30),
		"$what: the change's ALTER ROLE waits on the target's lock");
	my $pid = $sql->("SELECT pid FROM pg_stat_activity WHERE backend_type = 'nexplane job worker'
	                    AND query LIKE 'nexplane: job $job $kind: %'");
	like($pid, qr/^\d+$/, "$what: its worker is in pg_stat_activity, in the change");
	my $lease = $sql->("SELECT extract(epoch FROM lease_until) FROM nexplane.jobs WHERE id = '$job'");
	kill 'KILL', $pid;
	ok(workers_up(), "$what: SIGKILL: the postmaster restarts everything, the workers come back");
	# idle only after a round: a worker that claimed the recovery is busy
	# with it until it has recorded its end
	ok(until_t("SELECT count(*) = 2 FROM pg_stat_activity
	             WHERE backend_type = 'nexplane job worker' AND state = 'idle'"),
		"$what: both workers have been round the queue");
	return ($job, $lease);
}

sub evidence
{
	my ($cr) = @_;
	return $sql->("SELECT string_agg(kind || ' ' || (content->>'ok'), ',' ORDER BY kind)
	                 FROM nexplane.evidence WHERE change_request_id = '$cr'");
}

sub logs_in
{
	my ($user, $password) = @_;
	local $ENV{PGPASSWORD} = $password;
	my ($rc) = $target->psql('postgres', 'SELECT 1',
		connstr => "host=127.0.0.1 port=$tport dbname=postgres user=$user");
	return $rc == 0;
}

my $outcome = 'outcome unknown: the worker was lost during the change';

# ---- lock_role, killed while its ALTER ROLE waits ---------------------------
my $blocker = $target->background_psql('postgres');
$blocker->query_safe('BEGIN');
$blocker->query_safe('ALTER ROLE lockme CONNECTION LIMIT 5');
my $cr = change('lock_role', '{"role": "lockme"}');
my ($job, $lease) = kill_mid_change($cr, 'lockme', 'lock_role');
is(cr_state($cr), 'executing', 'lock_role: with the workers back, the change waits for its lease');
$blocker->query_safe('ROLLBACK');
ok(NexplaneNode::until_t($target, "SELECT NOT rolcanlogin FROM pg_roles WHERE rolname = 'lockme'"),
	"lock_role: the lock gone, the killed worker's statement goes through on the target");
# Another change on the connector waits for the lost one to be resolved,
# and the workers sleep meanwhile rather than go round for it.
my $next = change('create_role', '{"role": "after_crash"}');
is($sql->("SELECT string_agg(state, ' ' ORDER BY change_request_id = '$cr') FROM nexplane.jobs
            WHERE change_request_id IN ('$cr', '$next')"), 'queued running',
	'lock_role: a change queued behind the lost one, which is still running');
$cpu = workers_cpu();
ok($cpu < 0.15, "lock_role: while it waits, a change queued behind it, the workers sleep ($cpu s of CPU in 3 s)");
ok(until_t("SELECT state = 'failed' FROM nexplane.change_requests WHERE id = '$cr'", { secs => 60 }),
	'lock_role: the change request ends failed');
ok(until_t("SELECT state = 'completed' FROM nexplane.change_requests WHERE id = '$next'", { secs => 30 }),
	'lock_role: then the change queued behind it runs');
is($sql->("SELECT n.started_at >= l.finished_at FROM nexplane.jobs n, nexplane.jobs l
            WHERE n.change_request_id = '$next' AND l.id = '$job'"), 't',
	'lock_role: ... only after the lost one was resolved');
is($sql->("SELECT error FROM nexplane.change_requests WHERE id = '$cr'"), $outcome,
	'lock_role: with the unknown-outcome reason');
is($sql->("SELECT state || ' ' || attempts || ' ' || error FROM nexplane.jobs WHERE id = '$job'"),
	"failed 2 $outcome", 'lock_role: its job failed too, after one run and one recovery');
is(evidence($cr), 'recovery_verification true',
	'lock_role: one evidence row, the recovery\'s verify, which found the role locked');
is($sql->("SELECT (content->'checked'->>'login') || ' ' || (content->'checked'->>'sessions')
             FROM nexplane.evidence WHERE change_request_id = '$cr'"), 'false 0',
	'lock_role: the evidence says what verify saw (NOLOGIN, no session)');
ok($sql->("SELECT created_at >= to_timestamp($lease) FROM nexplane.evidence
             WHERE change_request_id = '$cr'") eq 't',
	'lock_role: the recovery waited until the lost worker\'s lease ran out');
is(target_ran('"lockme" NOLOGIN'), 1, 'lock_role: the ALTER ROLE reached the target exactly once');
# The rollback state pre_check gave was stored before execute touched the
# target, so it survived the worker; the recovery saw the change in
# effect and kept it, and the change rolls back like any other.
is($sql->("SELECT rollback_state FROM nexplane.change_requests WHERE id = '$cr'"),
	'{"role": "lockme", "was_login": true}',
	'lock_role: the rollback state stored before execute survived the worker');
is($sql->("SELECT (content->>'in_effect') || ' ' || (content->>'rollback_state')
             FROM nexplane.evidence WHERE change_request_id = '$cr'"), 'true kept',
	'lock_role: the recovery\'s evidence says the change is in effect and its rollback state kept');
sub roll_back
{
	my ($orig, $what) = @_;
	my $rb = as($OP, "SELECT nexplane.cr_rollback('$orig', 'the lost change did land')->>'id'");
	like($rb, qr/^[0-9a-f-]{36}$/, "$what: cr_rollback asks for a rollback");
	is(cr_state($rb), 'pending_approval', "$what: the rollback waits for approval");
	as($APPR, "SELECT nexplane.cr_approve('$rb', 'undo it')->>'state'");
	as($ADMIN, "SELECT nexplane.cr_approve('$rb', 'agreed')->>'state'") if cr_state($rb) ne 'approved';
	is($sql->("SELECT count(*) > 0 AND bool_and(a.approver_id <> c.requester_id)
	             FROM nexplane.approvals a JOIN nexplane.change_requests c
	               ON c.tenant_id = a.tenant_id AND c.id = a.change_request_id WHERE c.id = '$rb'"), 't',
		"$what: approved by others than its requester");
	as($OP, "SELECT nexplane.cr_execute('$rb')->>'state'");
	ok(until_t("SELECT state = 'completed' FROM nexplane.change_requests WHERE id = '$rb'",
			{ secs => 60 }), "$what: approved by someone else and executed, the rollback completes");
	is(cr_state($orig), 'rolled_back', "$what: the lost change is rolled_back");
	return $rb;
}
roll_back($cr, 'lock_role');
is($tsql->("SELECT rolcanlogin FROM pg_roles WHERE rolname = 'lockme'"), 't',
	'lock_role: on the target the role can log in again');
like(NexplaneNode::psql_out($node, 'nxcrash',
		"SET log_statement = 'none'; SELECT nexplane.login('$OP', '$upw') IS NOT NULL;
		 SELECT nexplane.cr_rollback('$cr', 'again')"),
	qr/cannot rollback/, 'lock_role: a rolled-back change is not rolled back again');

# ---- rotate_password, killed while its ALTER ROLE waits; the target takes it
$blocker->query_safe('BEGIN');
$blocker->query_safe('ALTER ROLE rot1 CONNECTION LIMIT 5');
$cr = change('rotate_password', qq({"credential_id": "$rot1"}));
($job, $lease) = kill_mid_change($cr, 'rot1', 'rotation taken');
is($sql->("SELECT state FROM nexplane.change_requests WHERE id = '$cr'") . ' '
	. $sql->("SELECT string_agg(status, ',') FROM nexplane.credential_versions WHERE credential_id = '$rot1'"),
	'executing pending', 'rotation taken: the change waits, the vault holds the pending version');
$blocker->query_safe('ROLLBACK');
ok(NexplaneNode::until_t($target, "SELECT count(*) = 0 FROM pg_stat_activity WHERE application_name = 'nexplane'"),
	'rotation taken: the lock gone, the killed statement ends on the target');
ok(!logs_in('rot1', $pw{rot1}), 'rotation taken: the target no longer takes the old password');
ok(until_t("SELECT state = 'failed' FROM nexplane.change_requests WHERE id = '$cr'", { secs => 60 }),
	'rotation taken: the change request ends failed');
is($sql->("SELECT error FROM nexplane.change_requests WHERE id = '$cr'"), $outcome,
	'rotation taken: with the unknown-outcome reason');
is(evidence($cr), 'recovery_verification true',
	'rotation taken: the recovery\'s verify logged in with the pending version');
is($sql->("SELECT string_agg(status, ',') FROM nexplane.credential_versions WHERE credential_id = '$rot1'"),
	'previous', 'rotation taken: the pending version became current, the old one previous');
is($sql->("SELECT nexplane_test.credential_works('$conn', '$rot1')"), 't',
	'rotation taken: the vault\'s current password is the one the target takes');
is(target_ran('"rot1" PASSWORD'), 1, 'rotation taken: the ALTER ROLE reached the target exactly once');
is($sql->("SELECT (rollback_state->>'credential_id') || ' ' || (rollback_state->'connector'->>'role')
             FROM nexplane.change_requests WHERE id = '$cr'"), "$rot1 rot1",
	'rotation taken: its rollback state, stored before execute, is kept');
roll_back($cr, 'rotation taken');
ok(logs_in('rot1', $pw{rot1}), 'rotation taken: rolled back, the target takes the old password again');
is($sql->("SELECT nexplane_test.credential_works('$conn', '$rot1')"), 't',
	'rotation taken: ... and so does the vault\'s current version');

# ---- a rotation's rollback, killed while its ALTER ROLE waits; it lands ----
# The recovery of a lost rollback of a rotation asks the target which
# version it takes and the vault follows (docs/jobs.md, "A lost rollback
# of a rotation"): here the previous one, so current and previous swap.
$cr = change('rotate_password', qq({"credential_id": "$rot1"}));
ok(until_t("SELECT state = 'completed' FROM nexplane.change_requests WHERE id = '$cr'", { secs => 60 }),
	'rollback taken: a rotation to roll back completes');
ok(!logs_in('rot1', $pw{rot1}), 'rollback taken: ... and the old password is refused');
$blocker->query_safe('BEGIN');
$blocker->query_safe('ALTER ROLE rot1 CONNECTION LIMIT 5');
my $rb = as($OP, "SELECT nexplane.cr_rollback('$cr', 'undo the rotation')->>'id'");
as($APPR, "SELECT nexplane.cr_approve('$rb', 'undo it')->>'state'");
as($ADMIN, "SELECT nexplane.cr_approve('$rb', 'agreed')->>'state'") if cr_state($rb) ne 'approved';
as($OP, "SELECT nexplane.cr_execute('$rb')->>'state'");
kill_mid_change($rb, 'rot1', 'rollback taken', 'rollback_change');
$blocker->query_safe('ROLLBACK');
ok(NexplaneNode::until_t($target, "SELECT count(*) = 0 FROM pg_stat_activity WHERE application_name = 'nexplane'"),
	'rollback taken: the lock gone, the killed statement ends on the target');
ok(logs_in('rot1', $pw{rot1}), 'rollback taken: the target takes the previous password again');
ok(until_t("SELECT state = 'failed' FROM nexplane.change_requests WHERE id = '$rb'", { secs => 60 }),
	'rollback taken: the rollback ends failed');
is($sql->("SELECT error FROM nexplane.change_requests WHERE id = '$rb'"),
	'outcome unknown: the worker was lost during the rollback', 'rollback taken: with the unknown-outcome reason');
is($sql->("SELECT (content->>'in_effect') || ' ' || (content->>'previous_version') FROM nexplane.evidence
            WHERE change_request_id = '$rb' AND kind = 'recovery_verification'"), 'true restored',
	'rollback taken: the recovery found the previous version alone, and swapped the versions');
is($sql->("SELECT nexplane_test.credential_works('$conn', '$rot1')"), 't',
	'rollback taken: the vault\'s current version is the one the target takes');
is($sql->("SELECT nexplane_test.credential_works('$conn', '$rot1', '{}', 'previous')"), 'f',
	'rollback taken: the rotated one, now previous, is refused');
is(cr_state($cr), 'rollback_failed', 'rollback taken: the rotation is rollback_failed');
is(target_ran('"rot1" PASSWORD'), 4, 'rollback taken: each ALTER ROLE of rot1 (two rotations, two rollbacks) reached the target once');

# ---- rotate_password, killed; the target gives up on the statement ---------
# The lock is held past the call's deadline: the target's lock_timeout
# (the deadline, as the connector told it) ends the statement.
$blocker->query_safe('BEGIN');
$blocker->query_safe('ALTER ROLE rot2 CONNECTION LIMIT 5');
$cr = change('rotate_password', qq({"credential_id": "$rot2"}));
($job, $lease) = kill_mid_change($cr, 'rot2', 'rotation refused');
ok(NexplaneNode::until_t($target, "SELECT count(*) = 0 FROM pg_stat_activity WHERE application_name = 'nexplane'",
		secs => 30),
	'rotation refused: the target ends the killed statement at its deadline');
$blocker->query_safe('ROLLBACK');
ok(until_t("SELECT state = 'failed' FROM nexplane.change_requests WHERE id = '$cr'", { secs => 60 }),
	'rotation refused: the change request ends failed');
is($sql->("SELECT error FROM nexplane.change_requests WHERE id = '$cr'"), $outcome,
	'rotation refused: with the unknown-outcome reason');
is(evidence($cr), 'recovery_verification false,recovery_verification_of_previous true',
	'rotation refused: the pending version refused, the current one taken');
is($sql->("SELECT count(*) FROM nexplane.credential_versions WHERE credential_id = '$rot2'"), '0',
	'rotation refused: the pending version is dropped');
is($sql->("SELECT nexplane_test.credential_works('$conn', '$rot2')"), 't',
	'rotation refused: the vault\'s current password is the one the target takes');
ok(logs_in('rot2', $pw{rot2}), 'rotation refused: the old password still logs in');
is($sql->("SELECT rollback_state IS NULL FROM nexplane.change_requests WHERE id = '$cr'"), 't',
	'rotation refused: it did not land, so the rollback state stored before execute is dropped');
is($sql->("SELECT (content->>'in_effect') || ' ' || (content->>'rollback_state')
             FROM nexplane.evidence WHERE change_request_id = '$cr' AND kind = 'recovery_verification'"),
	'false dropped', 'rotation refused: the recovery\'s evidence says so');
like(NexplaneNode::psql_out($node, 'nxcrash',
		"SET log_statement = 'none'; SELECT nexplane.login('$OP', '$upw') IS NOT NULL;
		 SELECT nexplane.cr_rollback('$cr', 'try')"),
	qr/has nothing to roll back.*recovery found the target as it was before the change: it did not land/s,
	'rotation refused: a rollback is refused, saying truly that the change did not land');
is(target_ran('"rot2" PASSWORD'), 1, 'rotation refused: the ALTER ROLE reached the target exactly once');
$blocker->quit;

# no secret in either log
my $logs = slurp_file($node->logfile) . slurp_file($target->logfile);
ok(!(grep { index($logs, $_) >= 0 } values %pw), 'no password in either server\'s log');

$target->stop;
$node->stop;
done_testing();
