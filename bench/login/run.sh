#!/usr/bin/env bash
# bench/login: the time a failed login takes for an unknown email and for a
# known email with the wrong password, and a successful login for scale.
# The design says the two failures take the same time (one bcrypt at cost
# 12 either way); this prints the figures instead of asserting them.
# N (default 20) logins each, interleaved, timed inside the server.
. "$(dirname "$0")/../lib.sh"
N=${N:-20}
sql -c "CREATE EXTENSION nexplane" >/dev/null
sql -c "SELECT nexplane.tenant_create('bench', 'Bench', 'admin@bench.test', 'bench-admin-password')" >/dev/null
sql >/dev/null <<'SQL'
CREATE FUNCTION login_ms(email text, password text) RETURNS numeric LANGUAGE plpgsql AS $$
DECLARE
    t0 timestamptz := clock_timestamp();
BEGIN
    BEGIN
        PERFORM nexplane.login(email, password, NULL, false);
    EXCEPTION WHEN OTHERS THEN
        NULL;
    END;
    RETURN extract(epoch FROM clock_timestamp() - t0) * 1000;
END $$;
CREATE TABLE t (kind text, ms numeric);
SQL
# Interleave the kinds; each failure uses its own email so the lock-out
# (5 failures) never kicks in and changes the path.
for i in $(seq 1 "$N"); do
  sql -c "INSERT INTO t SELECT 'unknown_email', login_ms('nobody$i@bench.test', 'wrong-password-x')" \
      -c "INSERT INTO t SELECT 'wrong_password', login_ms('admin@bench.test', 'wrong-password-x')" \
      -c "INSERT INTO t SELECT 'right_password', login_ms('admin@bench.test', 'bench-admin-password')" >/dev/null
  # a success resets the admin's failure count, so "wrong password" stays unlocked
done
printf '\nlogin benchmark: milliseconds per nexplane.login(), %d of each, interleaved\n' "$N"
sql -F ' ' -A -c "SELECT rpad(kind, 16), 'p50', round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 1),
                         'p90', round(percentile_cont(0.9) WITHIN GROUP (ORDER BY ms)::numeric, 1),
                         'mean', round(avg(ms), 1)
                    FROM t GROUP BY kind ORDER BY kind" | column -t
sql -A -c "SELECT 'unknown email vs wrong password, difference of medians: ' ||
                  round(abs(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) FILTER (WHERE kind = 'unknown_email')
                          - percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) FILTER (WHERE kind = 'wrong_password'))::numeric
                        / (percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) FILTER (WHERE kind = 'wrong_password'))::numeric * 100, 1)
                  || '%' FROM t"
