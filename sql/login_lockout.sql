-- Lock-out per account and source address (issue 15, finding 7): failures
-- from one address never lock out another; past the account-wide limit,
-- sources that failed themselves are refused while a clean one still gets
-- in; counts are forgotten after nexplane.login_failure_window.  A lock
-- shows as the right password being refused.

SELECT nexplane.login('admin@acme.test', 'acme-admin-pass-1') IS NOT NULL AS admin;
SELECT nexplane.user_create('victim@acme.test', 'victim-password-1', 'viewer')->>'email';
SELECT nexplane.user_create('spread@acme.test', 'spread-password-1', 'viewer')->>'email';
SELECT nexplane.user_create('forget@acme.test', 'forget-password-1', 'viewer')->>'email';

-- client_addr is an address, nothing else.
SELECT test.try($$SELECT nexplane.login('victim@acme.test', 'x', client_addr => 'not-an-ip')$$);
SELECT test.try($$SELECT nexplane.login('victim@acme.test', 'x', client_addr => '192.0.2.0/24')$$);
SELECT test.try(format('SELECT nexplane.login(%L, %L, client_addr => %L)',
                       'victim@acme.test', 'x', repeat('1', 65)));

-- Only the shim's role names an address; anyone else would name a fresh
-- one for every guess.
SET ROLE nexplane_user;
SELECT test.try($$SELECT nexplane.login('victim@acme.test', 'x', client_addr => '192.0.2.9')$$);
RESET ROLE;

-- The attack of the finding: five bad logins from 192.0.2.1 lock that
-- address out, even with the right password ...
SELECT test.try($$SELECT nexplane.login('victim@acme.test', 'bad-password-x',
                                        client_addr => '192.0.2.1')$$)
  FROM generate_series(1, 5);
SELECT test.try($$SELECT nexplane.login('victim@acme.test', 'victim-password-1',
                                        client_addr => '192.0.2.1')$$) AS attacker_locked;
-- ... and so is the same address written as IPv4-mapped IPv6 ...
SELECT test.try($$SELECT nexplane.login('victim@acme.test', 'victim-password-1',
                                        client_addr => '::ffff:192.0.2.1')$$) AS mapped_locked;
-- ... but the owner gets in from another address, and from psql's own
-- connection (no client_addr: the backend's peer).
SELECT nexplane.login('victim@acme.test', 'victim-password-1',
                      client_addr => '192.0.2.2')->'user'->>'email' AS owner_elsewhere;
SELECT nexplane.login('victim@acme.test', 'victim-password-1')->'user'->>'email' AS owner_at_psql;
-- The owner's success clears their source, not the attacker's.
SELECT test.try($$SELECT nexplane.login('victim@acme.test', 'victim-password-1',
                                        client_addr => '192.0.2.1')$$) AS attacker_still_locked;

-- IPv6 sources are their /64: one host holds the whole prefix.
SELECT test.try($$SELECT nexplane.login('victim@acme.test', 'bad-password-x',
                                        client_addr => '2001:db8:0:1::1')$$)
  FROM generate_series(1, 5);
SELECT test.try($$SELECT nexplane.login('victim@acme.test', 'victim-password-1',
                                        client_addr => '2001:db8:0:1::ffff')$$) AS same_64_locked;
SELECT nexplane.login('victim@acme.test', 'victim-password-1',
                      client_addr => '2001:db8:0:2::1')->'user'->>'email' AS other_64;

-- A distributed guess: one bad password from each of 19 addresses stays
-- below the account-wide limit (20), so a source that failed may still
-- log in ...
SELECT test.try(format('SELECT nexplane.login(%L, %L, client_addr => %L)',
                       'spread@acme.test', 'bad-password-x', '198.51.100.' || i))
  FROM generate_series(1, 19) AS i;
SELECT nexplane.login('spread@acme.test', 'spread-password-1',
                      client_addr => '198.51.100.2')->'user'->>'email' AS below_the_limit;
-- ... the twentieth puts the account under attack: a source that failed
-- itself is refused, though it is far below its own limit ...
SELECT test.try($$SELECT nexplane.login('spread@acme.test', 'bad-password-x',
                                        client_addr => '198.51.100.20')$$);
SELECT test.try($$SELECT nexplane.login('spread@acme.test', 'spread-password-1',
                                        client_addr => '198.51.100.1')$$) AS failed_source_refused;
-- ... while the owner still gets in from a clean source (one that never
-- failed, or whose failures a later success cleared) ...
SELECT nexplane.login('spread@acme.test', 'spread-password-1',
                      client_addr => '203.0.113.7')->'user'->>'email' AS clean_source;
SELECT nexplane.login('spread@acme.test', 'spread-password-1',
                      client_addr => '198.51.100.2')->'user'->>'email' AS cleared_source;
-- ... and a fresh attacking address gets one guess, not five.
SELECT test.try($$SELECT nexplane.login('spread@acme.test', 'bad-password-x',
                                        client_addr => '203.0.113.8')$$);
SELECT test.try($$SELECT nexplane.login('spread@acme.test', 'spread-password-1',
                                        client_addr => '203.0.113.8')$$) AS one_guess_only;
-- The owner's successes do not reset the account's count.
SELECT test.try($$SELECT nexplane.login('spread@acme.test', 'spread-password-1',
                                        client_addr => '198.51.100.3')$$) AS still_under_attack;

-- Expiry: a lock taken just before the window shrinks, for the last check.
SELECT test.try($$SELECT nexplane.login('forget@acme.test', 'bad-password-x',
                                        client_addr => '192.0.2.60')$$)
  FROM generate_series(1, 5);
-- With a one-second window, four failures, a pause and four more do not
-- add up to a lock ...
SET nexplane.login_failure_window = 1;
SELECT test.try($$SELECT nexplane.login('forget@acme.test', 'bad-password-x',
                                        client_addr => '192.0.2.50')$$)
  FROM generate_series(1, 4);
SELECT pg_sleep(1.2);
SELECT test.try($$SELECT nexplane.login('forget@acme.test', 'bad-password-x',
                                        client_addr => '192.0.2.50')$$)
  FROM generate_series(1, 4);
SELECT nexplane.login('forget@acme.test', 'forget-password-1',
                      client_addr => '192.0.2.50')->'user'->>'email' AS counts_forgotten;
-- ... the account-wide limit has lapsed too, so the source it refused
-- gets in ...
SELECT nexplane.login('spread@acme.test', 'spread-password-1',
                      client_addr => '198.51.100.1')->'user'->>'email' AS attack_forgotten;
-- ... but a lock is remembered until it ends (30 s here), not a window
-- after the last failure.
SELECT test.try($$SELECT nexplane.login('forget@acme.test', 'forget-password-1',
                                        client_addr => '192.0.2.60')$$) AS lock_runs_its_course;
RESET nexplane.login_failure_window;

-- Only a superuser sets the window.
SET ROLE nexplane_user;
SELECT test.try($$SET nexplane.login_failure_window = 1$$);
RESET ROLE;
