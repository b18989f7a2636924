# The audit space worker (bgworkers/audit_space.c): it runs in the database
# nexplane.database names, keeps empty pages at the end of audit_events and
# of its primary key in their free space maps, and writers fill those pages
# instead of extending the table and the index.  Nothing is lost across a
# crash, VACUUM leaves the pages, and the worker never holds up DROP
# EXTENSION.  (Ported from test/e2e/audit_space.sh; the same checks, the
# same descriptions.)
use strict;
use warnings;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use NexplaneNode;

my $node = NexplaneNode->new_node('space');
$node->start;
my $log = $node->logfile;
my $sql = sub { $node->safe_psql('postgres', $_[0]) };

sub until_t { NexplaneNode::until_t($node, @_) }
sub worker_in
{
	my ($db) = @_;
	return "SELECT EXISTS (SELECT FROM pg_stat_activity WHERE backend_type = 'nexplane audit space' AND datname = '$db')";
}
sub pages { $sql->("SELECT pg_relation_size('nexplane.audit_events') / 8192") }
sub used
{
	$sql->("SELECT coalesce(max((ctid::text::point)[0])::int, -1) FROM nexplane.audit_events");
}
# every page past the last used one is empty in the free space map
sub new_pages_free
{
	my $used = used();
	return $sql->(
		"SELECT count(*) FILTER (WHERE avail < 8000) = 0 AND count(*) >= 8
		   FROM pg_freespace('nexplane.audit_events') WHERE blkno > $used");
}
my $pk = 'nexplane.audit_events_pkey';
# the primary key's pages that are free in its map, all of them new
sub free_index_pages
{
	$sql->(
		"SELECT string_agg(blkno::text, ',' ORDER BY blkno) FROM pg_freespace('$pk')
		  WHERE avail > 8000 AND (page_header(get_raw_page('$pk', blkno::int))).lower = 0");
}
sub index_reserve
{
	my $free = free_index_pages();
	return $sql->("SELECT array_length('{$free}'::int[], 1) >= 8");
}
# the server log's error lines; a shutdown's "terminating background worker
# ... due to administrator command" is logged as FATAL but is not one
sub log_errors
{
	return grep { /ERROR|FATAL|PANIC/ && !/due to administrator command/ }
	  split /\n/, slurp_file($log);
}

ok(until_t(worker_in('postgres')),
	'the worker runs in nexplane.database (postgres), without the extension there');
usleep(500_000);
ok(!(grep { /ERROR|FATAL/ } split /\n/, slurp_file($log)),
	'without the extension it waits quietly (no error in the log)');

NexplaneNode::create_extensions($node, 'nexplane', 'pg_freespacemap',
	'pageinspect', 'amcheck');
my $tenant = $sql->(
	"SELECT nexplane.tenant_create('space', 'Space', 'admin\@space.test', 'space-admin-password')->'tenant'->>'id'"
);
ok(until_t(\&new_pages_free),
	'once the extension is there, at least 8 empty pages wait past the last used one, free in the map');
ok(until_t(\&index_reserve),
	'and at least 8 new pages of the primary key wait in its map');
my $index_reserve_before = free_index_pages();

my $before_pages = pages();
my $before_used  = used();
$sql->(<<"SQL");
CREATE TABLE public.items (tenant_id uuid NOT NULL, id int PRIMARY KEY, name text NOT NULL);
CREATE TRIGGER audit AFTER INSERT OR UPDATE OR DELETE ON public.items FOR EACH ROW EXECUTE FUNCTION nexplane._audit_trigger();
INSERT INTO public.items SELECT '$tenant', g, 'item' FROM generate_series(1, 100) g;
SQL
is( $sql->(
		"SELECT min((ctid::text::point)[0]) >= $before_used AND max((ctid::text::point)[0]) > $before_used
		        AND max((ctid::text::point)[0]) < $before_pages
		   FROM nexplane.audit_events WHERE target_table = 'items'"),
	't',
	'writers fill the waiting pages (their events go on from the last used page, into the reserve, below its end)'
);

# a burst: one statement per event, several pages' worth
$sql->(join '',
	map { "INSERT INTO public.items VALUES ('$tenant', $_, 'item');\n" }
	  101 .. 1600);
ok(until_t(\&new_pages_free), 'after a burst the reserve is topped up again');
my $splits = $sql->(
	"SELECT count(*) - 2 FROM generate_series(1, pg_relation_size('$pk') / 8192 - 1) b
	  WHERE (page_header(get_raw_page('$pk', b::int))).lower > 0");
is( $sql->(
		"SELECT count(*) > 0 FROM unnest('{$index_reserve_before}'::int[]) b
		  WHERE (page_header(get_raw_page('$pk', b))).lower > 0"),
	't',
	"the primary key's page splits took waiting pages (it split $splits times)");
ok(until_t(\&index_reserve), 'and its reserve is topped up again');
is($node->psql('postgres', "SELECT bt_index_parent_check('$pk', true)"),
	0, 'amcheck finds the primary key sound, every event in it');
is( $sql->(
		"SET enable_indexscan = off; SET enable_bitmapscan = off; SET enable_indexonlyscan = off;
		 SELECT count(*) FROM nexplane.audit_events WHERE target_table = 'items'")
	  . '/'
	  . $sql->(
		"SET enable_seqscan = off;
		 SELECT count(*) FROM nexplane.audit_events WHERE tenant_id = '$tenant' AND target_table = 'items'"
	  ),
	'1600/1600',
	'every event is there, by the table and by its index');

my $size = pages();
$sql->('VACUUM nexplane.audit_events');
cmp_ok(pages(), '>=', $size, 'VACUUM does not cut the empty pages off');

$sql->('CHECKPOINT');
$sql->("INSERT INTO public.items SELECT '$tenant', g, 'item' FROM generate_series(1601, 1700) g");
$node->stop('immediate');
$node->start;
is($sql->("SELECT count(*) FROM nexplane.audit_events WHERE target_table = 'items'"),
	1700, 'after a crash every committed event is there');
is($sql->("SELECT (nexplane._audit_verify_tenant('$tenant')->>'ok')"),
	'true', "and the tenant's chain seals and verifies");
ok(until_t(\&new_pages_free), 'the worker is back and keeps the reserve');

is( $node->psql('postgres',
		"SET lock_timeout = '2s'; DROP TABLE public.items; DROP EXTENSION nexplane CASCADE"),
	0,
	'DROP EXTENSION is not held up by the worker');
usleep(500_000);
ok(until_t(worker_in('postgres')), 'the worker outlives the extension it served');

$sql->('CREATE DATABASE other');
$node->append_conf('postgresql.conf', "nexplane.database = 'other'");
$node->restart;
ok(until_t(worker_in('other')), "nexplane.database = 'other' moves the worker there");
my @errors = log_errors();
ok(!@errors, "no error in the whole run, the worker's or anyone's")
  or diag join "\n", @errors;

done_testing();
