# Shared by the TAP tests in test/t/: a PostgreSQL::Test::Cluster node set up
# the way scripts/cluster.sh sets up a cluster (pg_cron and nexplane
# preloaded, an RSA key for JWTs, a vault master key of 48 random bytes in
# base64 readable by its owner only, the nexplane settings), plus the few
# helpers the tests share.
#
#   my $node = NexplaneNode->new_node('name');               # socket: trust
#   my $node = NexplaneNode->new_node('name', auth => 'peer'); # as `make run`
#   my $node = NexplaneNode->new_node('name', streaming => 1); # can have standbys
#   $node->start;
#   NexplaneNode::create_extensions($node, 'pg_cron', 'nexplane');
#
# auth => 'trust' (the default) is the end-to-end scripts' e2e_cluster:
# initdb's peer on the socket and SCRAM over TCP, with "local all all trust"
# in front for the harness (nx_cluster_trust_local).  auth => 'peer' leaves
# that line out, as `make run` does.  Either way the server listens on
# 127.0.0.1 only, like scripts/cluster.sh; the socket is in the node's own
# temporary directory, and cron.host points at it.
package NexplaneNode;

use strict;
use warnings;

use Carp;
use File::Basename qw(dirname);
use Fcntl qw(O_WRONLY O_CREAT O_TRUNC);
use MIME::Base64 qw(encode_base64);
use Time::HiRes qw(usleep time);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;

# A new node, initialised and configured but not started.
sub new_node
{
	my ($class, $name, %opts) = @_;
	my $auth = $opts{auth} // 'trust';
	my $db   = $opts{database} // 'postgres';
	croak "auth must be 'trust' or 'peer'" unless $auth =~ /^(trust|peer)$/;

	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init(
		allows_streaming => $opts{streaming} // 0,
		extra => [ '--encoding=UTF8', '--locale=C.UTF-8' ]);
	my $data = $node->data_dir;

	# pg_hba.conf as initdb --auth-local=peer --auth-host=scram-sha-256
	# writes it, with the harness's trust line first unless auth => 'peer'.
	my $hba = $auth eq 'trust' ? "local all all trust\n" : '';
	$hba .= <<'HBA';
local   all             all                                     peer
host    all             all             127.0.0.1/32            scram-sha-256
host    all             all             ::1/128                 scram-sha-256
local   replication     all                                     peer
host    replication     all             127.0.0.1/32            scram-sha-256
host    replication     all             ::1/128                 scram-sha-256
HBA
	write_private_file("$data/pg_hba.conf", $hba);

	system_or_bail('openssl', 'genpkey', '-algorithm', 'RSA',
		'-pkeyopt', 'rsa_keygen_bits:2048', '-out', "$data/nexplane_jwt.pem");
	chmod 0600, "$data/nexplane_jwt.pem"
	  or croak "chmod nexplane_jwt.pem: $!";
	write_private_file("$data/nexplane_master.key", new_master_key());

	# the settings every cluster of the project starts with, as
	# scripts/cluster.sh writes them
	my $sockdir = $node->host;
	my $template = dirname(__FILE__) . '/../../scripts/nexplane.conf.in';
	open my $in, '<', $template or croak "$template: $!";
	my $conf = do { local $/; <$in> };
	close $in;
	$conf =~ s/\@DB\@/$db/g;
	$conf =~ s/\@SOCKDIR\@/$sockdir/g;
	$node->append_conf('postgresql.conf', $conf);
	return $node;
}

# A vault master key as scripts/cluster.sh makes one (openssl rand -base64
# 48): 48 random bytes, base64, one line.
sub new_master_key
{
	open my $rnd, '<:raw', '/dev/urandom' or croak "/dev/urandom: $!";
	my $n = read($rnd, my $bytes, 48);
	croak "short read from /dev/urandom" unless defined $n && $n == 48;
	close $rnd;
	return encode_base64($bytes, '') . "\n";
}

# Write a file readable by its owner only (mode 0600 from the start).
sub write_private_file
{
	my ($path, $content) = @_;
	unlink $path;
	sysopen(my $fh, $path, O_WRONLY | O_CREAT | O_TRUNC, 0600)
	  or croak "could not create $path: $!";
	print $fh $content or croak "could not write $path: $!";
	close $fh or croak "could not close $path: $!";
	chmod 0600, $path or croak "chmod $path: $!";
	return;
}

# CREATE EXTENSION each name in turn, as the end-to-end scripts do.
sub create_extensions
{
	my ($node, @names) = @_;
	$node->safe_psql('postgres', "CREATE EXTENSION $_") for @names;
	return;
}

# The superuser-only vault check, wherever it lives: the test-only extension
# nexplane_test (nexplane_test.vault_verify) when it is installed, else the
# older nexplane._vault_verify.  Creates nexplane_test if it is available.
# Returns the qualified function name.
sub vault_verify_function
{
	my ($node, $db) = @_;
	$db //= 'postgres';
	my $have = $node->safe_psql($db,
		"SELECT count(*) FROM pg_available_extensions WHERE name = 'nexplane_test'");
	$node->safe_psql($db, 'CREATE EXTENSION IF NOT EXISTS nexplane_test')
	  if $have;
	for my $f ('nexplane_test.vault_verify', 'nexplane._vault_verify')
	{
		return $f
		  if $node->safe_psql($db,
			"SELECT to_regprocedure('$f(uuid, jsonb)') IS NOT NULL") eq 't';
	}
	croak 'neither nexplane_test.vault_verify nor nexplane._vault_verify exists';
}

# What psql prints for $sql, standard output then standard error (a shell's
# "$(psql ... 2>&1)"), whether or not it succeeds.
sub psql_out
{
	my ($node, $db, $sql) = @_;
	my ($out, $err) = ('', '');
	$node->psql($db, $sql, stdout => \$out, stderr => \$err);
	my $all = join "\n", grep { length } $out, $err;
	$all =~ s/\s+\z//;
	return $all;
}

# Until $what returns 't', for at most $secs seconds (10 by default, as the
# end-to-end scripts' until_t), every $every seconds (0.1).  $what is an SQL
# string run on database 'postgres', or a code reference; errors count as
# "not yet".  Returns 1 if it held in time, else 0.
sub until_t
{
	my ($node, $what, %opts) = @_;
	my $secs  = $opts{secs}  // 10;
	my $every = $opts{every} // 0.1;
	my $end   = time + $secs;
	while (1)
	{
		my $r = eval {
			ref $what eq 'CODE'
			  ? $what->()
			  : $node->safe_psql($opts{database} // 'postgres', $what);
		};
		return 1 if defined $r && $r eq 't';
		return 0 if time >= $end;
		usleep($every * 1_000_000);
	}
}

1;
