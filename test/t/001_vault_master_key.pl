# The master key across restarts: wrong and missing keys give clear errors,
# the environment variable works and is wiped, and rotate_master_key()
# re-wraps every tenant key (data keys and audit keys) so the old master
# key can go, while every audit event written before keeps verifying.
# (Ported from test/e2e/vault_master_key.sh; the same checks, the same
# descriptions.)
use strict;
use warnings;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use IPC::Run;
use PostgreSQL::Test::Utils;
use Test::More;
use NexplaneNode;

my $node = NexplaneNode->new_node('vault');
$node->start;
my $data = $node->data_dir;
my $sql  = sub { $node->safe_psql('postgres', $_[0]) };

NexplaneNode::create_extensions($node, 'nexplane');
# _vault_verify is moving from nexplane to the test-only nexplane_test.
my $vault_verify = NexplaneNode::vault_verify_function($node);
note "vault check: $vault_verify";

$sql->(<<'SQL');
SET client_min_messages = warning;
SELECT nexplane.tenant_create('mk1', 'MK1', 'admin@mk1.test', 'mk1-admin-password');
SELECT nexplane.tenant_create('mk2', 'MK2', 'admin@mk2.test', 'mk2-admin-password');
SQL
my %cred;
for my $t (1, 2)
{
	my $out = $sql->(
		"SELECT nexplane.login('admin\@mk$t.test', 'mk$t-admin-password') IS NOT NULL;
		 SELECT nexplane.credential_create('db', 'postgresql', '{\"password\": \"mk-secret-$t\"}')->>'id'");
	($cred{$t}) = (split /\n/, $out)[-1];
}

# tenant number: 't' when the credential decrypts, else the error
sub verify
{
	my ($t) = @_;
	return NexplaneNode::psql_out($node, 'postgres',
		"SELECT $vault_verify('$cred{$t}', '{\"password\": \"mk-secret-$t\"}')");
}
is(verify(1) . verify(2), 'tt', 'credentials decrypt under the first master key');
my $key_a = slurp_file("$data/nexplane_master.key");

# Rotation survives a crash: a backend killed inside a rotation batch
# loses only its uncommitted batch; calling again finishes the job.
$sql->(<<'SQL');
SELECT nexplane.login('admin@mk1.test', 'mk1-admin-password') IS NOT NULL;
SELECT count(nexplane.credential_create('extra-' || g, 'postgresql',
             jsonb_build_object('password', 'mk-extra-' || g))) FROM generate_series(1, 4) g;
SQL
my ($rout, $rerr) = ('', '');
my $rotator = IPC::Run::start(
	[
		'psql', '-X', '-q', '-d', $node->connstr('postgres'),
		'-v', 'ON_ERROR_STOP=1',
		'-c', "SET application_name = 'rotator'",
		'-c', "SELECT nexplane.login('admin\@mk1.test', 'mk1-admin-password') IS NOT NULL",
		'-c', 'BEGIN',
		'-c', 'SELECT nexplane.rotate_tenant_key(2)',
		'-c', 'SELECT pg_sleep(60)'
	],
	'<', \undef, '>', \$rout, '2>', \$rerr,
	IPC::Run::timeout(120));
NexplaneNode::until_t($node,
	"SELECT count(*) = 1 FROM pg_stat_activity WHERE application_name = 'rotator' AND query LIKE '%pg_sleep%'"
) or diag 'the rotator never reached its pg_sleep';
$sql->("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'rotator'");
eval { $rotator->finish };
is( $sql->(
		"SELECT count(*) FROM nexplane.tenant_keys k JOIN nexplane.tenants t ON t.id = k.tenant_id WHERE t.slug = 'mk1'"
	),
	1,
	'a rotation killed mid-batch left nothing half-done');
my $rounds = 0;
until ((split /\n/,
		$sql->("SELECT nexplane.login('admin\@mk1.test', 'mk1-admin-password') IS NOT NULL;
		        SELECT nexplane.rotate_tenant_key(2)->>'remaining'"))[-1] eq '0'
	|| $rounds >= 10)
{
	$rounds++;
}
is( $sql->(
		"SELECT count(*) FROM nexplane.credentials c JOIN nexplane.tenants t ON t.id = c.tenant_id WHERE t.slug = 'mk1' AND c.key_version <> 2"
	),
	0,
	'rotate_tenant_key called again finishes the rotation');
is( NexplaneNode::psql_out($node, 'postgres',
		"SELECT bool_and($vault_verify(c.id, jsonb_build_object('password', 'mk-extra-' || substr(c.name, 7))))
		   FROM nexplane.credentials c WHERE c.name LIKE 'extra-%'")
	  . verify(1),
	'tt',
	'every credential still decrypts after the interrupted rotation');

# A wrong key: a clear error at first use, not garbage.
NexplaneNode::write_private_file("$data/nexplane_master.key",
	NexplaneNode::new_master_key());
$node->restart;
like(verify(1), qr/the master key does not match/,
	'a wrong master key gives a clear error');

# A missing key file.
$node->append_conf('postgresql.conf', "nexplane.master_key_file = 'no-such.key'");
$node->restart;
like(verify(1), qr/could not open master key file "no-such.key"/,
	'a missing master key file gives a clear error');
like(
	NexplaneNode::psql_out($node, 'postgres',
		"\\set VERBOSITY verbose\nSELECT $vault_verify('$cred{1}', '{}')"),
	qr/nexplane\.master_key_file/,
	'... with a hint');

# The key from the environment; the postmaster's environ no longer shows it.
$node->append_conf('postgresql.conf', "nexplane.master_key_file = ''");
$node->stop;
{
	(my $key = $key_a) =~ s/\n\z//;    # as "$(cat key_a)"
	local $ENV{NEXPLANE_SECRET_KEY} = $key;
	$node->start;
}
is(verify(1), 't', 'NEXPLANE_SECRET_KEY works as the master key');
my ($pid) = split /\n/, slurp_file("$data/postmaster.pid");
my $environ = slurp_file("/proc/$pid/environ");
ok(index($environ, substr($key_a, 0, 20)) < 0,
	"NEXPLANE_SECRET_KEY is wiped from the postmaster's environment");

# Rotation: new key current, old key previous; re-wrap in batches of one:
# three data keys (mk1 has two versions), two audit keys and the agent CA.
$sql->("SELECT nexplane.agent_ca() IS NOT NULL");
$node->stop;
NexplaneNode::write_private_file("$data/nexplane_master.key",
	NexplaneNode::new_master_key());
NexplaneNode::write_private_file("$data/previous.key", $key_a);
$node->append_conf('postgresql.conf', "nexplane.master_key_file = 'nexplane_master.key'");
$node->append_conf('postgresql.conf', "nexplane.previous_master_key_file = 'previous.key'");
$node->start;
is(verify(1) . verify(2), 'tt',
	'before rotation, keys wrapped by the previous key still decrypt');
my $r1 = $sql->("SELECT nexplane.rotate_master_key(1) - 'master_key_id'");
my $calls = 1;
until ($sql->("SELECT nexplane.rotate_master_key(1)->>'remaining'") eq '0'
	|| $calls >= 10)
{
	$calls++;
}
ok( $r1 eq '{"remaining": 5, "rewrapped": 1}' && $calls == 5,
	"rotate_master_key works in batches: first $r1, done after "
	  . ($calls + 1)
	  . ' calls');
is( $sql->(
		"SELECT count(DISTINCT tenant_id) FROM nexplane.audit_events WHERE action = 'vault.rotate_master_key'"
	),
	2,
	'the rotation is audited in each tenant');
is( $sql->(
		"SELECT count(*) FROM nexplane.audit_keys WHERE master_key_id <> (SELECT master_key_id FROM nexplane.tenant_keys LIMIT 1)"
	),
	0,
	'the audit keys are re-wrapped too');
is( $sql->(
		"SELECT count(*) FROM nexplane.agent_ca WHERE master_key_id <> (SELECT master_key_id FROM nexplane.tenant_keys LIMIT 1)"
	),
	0,
	'... and the agent CA key');
$node->append_conf('postgresql.conf', "nexplane.previous_master_key_file = ''");
$node->restart;
is(verify(1) . verify(2), 'tt', 'after rotation the old key is not needed');
my $csr = `openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout /dev/null -subj /CN=x 2>/dev/null`;
like(
	NexplaneNode::psql_out($node, 'postgres',
		"SET ROLE nexplane_api; SELECT nexplane._agent_listener_certificate(\$csr\$$csr\$csr\$, '{localhost}')->>'certificate_pem'"),
	qr/BEGIN CERTIFICATE/,
	'... the agent CA still signs with its re-wrapped key');
# Every event, those written under the old master key included, still
# carries a MAC that holds, and new events are written and verify.
$sql->("SELECT nexplane.login('admin\@mk2.test', 'mk2-admin-password') IS NOT NULL;
        SELECT nexplane.user_create('late\@mk2.test', 'mk2-late-password', 'viewer')");
is( $sql->(
		"SELECT string_agg(t.slug || ':' || (v->>'ok') || ':' || (v->'mac_failures'->>'count'), ' ' ORDER BY t.slug)
		   FROM nexplane.tenants t, nexplane._audit_verify_tenant(t.id) v"
	),
	'mk1:true:0 mk2:true:0',
	'after rotation every audit event verifies, old and new');
NexplaneNode::write_private_file("$data/nexplane_master.key", $key_a);
$node->restart;
like(verify(2), qr/the master key does not match/,
	'the old key cannot read re-wrapped keys');
like(
	NexplaneNode::psql_out($node, 'postgres',
		"SELECT nexplane._audit_verify_tenant(id) FROM nexplane.tenants WHERE slug = 'mk2'"),
	qr/the master key does not match the one that protects this tenant's audit key/,
	'... nor re-wrapped audit keys');

done_testing();
