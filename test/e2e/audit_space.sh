#!/usr/bin/env bash
# The audit space worker (bgworkers/audit_space.c): it runs in the database
# nexplane.database names, keeps empty pages at the end of audit_events and
# of its primary key in their free space maps, and writers fill those pages
# instead of extending the table and the index.  Nothing is lost across a crash, VACUUM leaves the pages, and the
# worker never holds up DROP EXTENSION.
. "$(dirname "$0")/lib.sh"
if ! e2e_cluster </dev/null; then
  echo "not ok - cluster starts"
  exit 1
fi
log="$E2E_DIR/pg/server.log"

# until COMMAND... prints t, for at most 10 s
until_t() {
  for _ in $(seq 1 100); do
    [ "$("$@" 2>/dev/null)" = t ] && return 0
    sleep 0.1
  done
  return 1
}
holds() { sql -c "SELECT $1"; }
worker_in() { holds "EXISTS (SELECT FROM pg_stat_activity WHERE backend_type = 'nexplane audit space' AND datname = '$1')"; }
pages() { sql -c "SELECT pg_relation_size('nexplane.audit_events') / 8192"; }
used() { sql -c "SELECT coalesce(max((ctid::text::point)[0])::int, -1) FROM nexplane.audit_events"; }
new_pages_free() { # every page past the last used one is empty in the free space map
  sql -c "SELECT count(*) FILTER (WHERE avail < 8000) = 0 AND count(*) >= 8
            FROM pg_freespace('nexplane.audit_events') WHERE blkno > $(used)"
}
pk=nexplane.audit_events_pkey
free_index_pages() { # the primary key's pages that are free in its map, all of them new
  sql -c "SELECT string_agg(blkno::text, ',' ORDER BY blkno) FROM pg_freespace('$pk')
           WHERE avail > 8000 AND (page_header(get_raw_page('$pk', blkno::int))).lower = 0"
}
index_reserve() { sql -c "SELECT array_length('{$(free_index_pages)}'::int[], 1) >= 8"; }

check "the worker runs in nexplane.database (postgres), without the extension there" \
  until_t worker_in postgres
sleep 0.5
check "without the extension it waits quietly (no error in the log)" \
  bash -c "! grep -E 'ERROR|FATAL' '$log'"

sql -c "CREATE EXTENSION nexplane" -c "CREATE EXTENSION pg_freespacemap" \
    -c "CREATE EXTENSION pageinspect" -c "CREATE EXTENSION amcheck" >/dev/null
tenant=$(sql -c "SELECT nexplane.tenant_create('space', 'Space', 'admin@space.test', 'space-admin-password')->'tenant'->>'id'")
check "once the extension is there, at least 8 empty pages wait past the last used one, free in the map" \
  until_t new_pages_free
check "and at least 8 new pages of the primary key wait in its map" until_t index_reserve
index_reserve_before=$(free_index_pages)

before_pages=$(pages)
before_used=$(used)
sql -c "CREATE TABLE public.items (tenant_id uuid NOT NULL, id int PRIMARY KEY, name text NOT NULL)" \
    -c "CREATE TRIGGER audit AFTER INSERT OR UPDATE OR DELETE ON public.items FOR EACH ROW EXECUTE FUNCTION nexplane._audit_trigger()" \
    -c "INSERT INTO public.items SELECT '$tenant', g, 'item' FROM generate_series(1, 100) g" >/dev/null
check "writers fill the waiting pages (their events go on from the last used page, into the reserve, below its end)" \
  test "$(sql -c "SELECT min((ctid::text::point)[0]) >= $before_used AND max((ctid::text::point)[0]) > $before_used
                         AND max((ctid::text::point)[0]) < $before_pages
                    FROM nexplane.audit_events WHERE target_table = 'items'")" = t

# a burst: one statement per event, several pages' worth
for i in $(seq 101 1600); do echo "INSERT INTO public.items VALUES ('$tenant', $i, 'item');"; done | sql >/dev/null
check "after a burst the reserve is topped up again" until_t new_pages_free
check "the primary key's page splits took waiting pages (it split $(sql -c "SELECT count(*) - 2 FROM generate_series(1, pg_relation_size('$pk') / 8192 - 1) b WHERE (page_header(get_raw_page('$pk', b::int))).lower > 0") times)" \
  test "$(sql -c "SELECT count(*) > 0 FROM unnest('{$index_reserve_before}'::int[]) b
                   WHERE (page_header(get_raw_page('$pk', b))).lower > 0")" = t
check "and its reserve is topped up again" until_t index_reserve
check "amcheck finds the primary key sound, every event in it" \
  sql -c "SELECT bt_index_parent_check('$pk', true)"
check "every event is there, by the table and by its index" \
  test "$(sql -c "SET enable_indexscan = off" -c "SET enable_bitmapscan = off" -c "SET enable_indexonlyscan = off" \
               -c "SELECT count(*) FROM nexplane.audit_events WHERE target_table = 'items'")/$(sql -c "SET enable_seqscan = off" \
               -c "SELECT count(*) FROM nexplane.audit_events WHERE tenant_id = '$tenant' AND target_table = 'items'")" = 1600/1600

size=$(pages)
sql -c "VACUUM nexplane.audit_events" >/dev/null
check "VACUUM does not cut the empty pages off" test "$(pages)" -ge "$size"

sql -c "CHECKPOINT" >/dev/null
sql -c "INSERT INTO public.items SELECT '$tenant', g, 'item' FROM generate_series(1601, 1700) g" >/dev/null
nx_as_postgres "$NX_PGBIN/pg_ctl" -D "$E2E_DIR/pg/data" stop -m immediate -w >/dev/null 2>&1
nx_cluster_start "$E2E_DIR/pg" >/dev/null 2>&1
check "after a crash every committed event is there" \
  test "$(sql -c "SELECT count(*) FROM nexplane.audit_events WHERE target_table = 'items'")" = 1700
check "and the tenant's chain seals and verifies" \
  test "$(sql -c "SELECT (nexplane._audit_verify_tenant('$tenant')->>'ok')")" = true
check "the worker is back and keeps the reserve" until_t new_pages_free

check "DROP EXTENSION is not held up by the worker" \
  sql -c "SET lock_timeout = '2s'" -c "DROP TABLE public.items" -c "DROP EXTENSION nexplane CASCADE"
sleep 0.5
check "the worker outlives the extension it served" \
  until_t worker_in postgres

sql -c "CREATE DATABASE other" >/dev/null
e2e_conf "nexplane.database = 'other'"
e2e_restart >/dev/null 2>&1
check "nexplane.database = 'other' moves the worker there" \
  until_t worker_in other
# (an error in a background worker is logged as FATAL; a shutdown's
# "terminating background worker ... due to administrator command" is not one)
check "no error in the whole run, the worker's or anyone's" \
  bash -c "! grep -E 'ERROR|FATAL|PANIC' '$log' | grep -v 'due to administrator command'"
