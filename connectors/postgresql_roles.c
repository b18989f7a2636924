/*-------------------------------------------------------------------------
 *
 * postgresql_roles.c
 *	  The postgresql connector's role changes: create_role, drop_role,
 *	  lock_role, unlock_role, grant_role and revoke_role, each as its
 *	  pre_check, execute, verify and rollback bodies.
 *
 * Every body reads the target's catalogs itself: pre_check says whether
 * the change makes sense now, and execute checks the same again (the
 * target may have moved since), so a change that would do nothing or undo
 * someone else's work is refused instead of recorded as done.  execute
 * stores what the target was before in rollback_state, as soon as the
 * target has changed, so that a later step failing (ending sessions)
 * still leaves enough to undo.  pre_check returns the same rollback_state
 * from what it read, before the target is touched: the engine stores it
 * then, so a rollback is still possible when the worker is lost inside
 * execute (execute's own, read again, replaces it when the job ends).  Names reach SQL only quoted by libpq;
 * values only as bound parameters.
 *
 * Locking a role is NOLOGIN first, committed, then pg_terminate_backend on
 * its sessions: once NOLOGIN is in place no new session can start, so
 * nothing slips in between.  A dropped role's sessions are ended too (they
 * would live on as a role that no longer exists).
 *
 *-------------------------------------------------------------------------
 */
#include "postgresql_int.h"

/* What the target says about one role. */
typedef struct NxPgRole
{
	bool		exists;
	bool		can_login;
	bool		superuser;
	int			connection_limit;
	char	   *oid;
} NxPgRole;

/* Whether member belongs to role directly, and with the admin option. */
typedef struct NxPgMembership
{
	bool		member;
	bool		admin_option;
} NxPgMembership;

static bool
nx_pg_read_role(NxPgSession *s, const char *name, NxPgRole *r)
{
	NxPgRows   *rows = nx_pg_exec(s, "reading the role",
								  "SELECT oid, rolcanlogin, rolsuper, rolconnlimit"
								  " FROM pg_catalog.pg_roles WHERE rolname = $1",
								  1, &name);

	memset(r, 0, sizeof(*r));
	if (rows == NULL)
		return false;
	r->exists = rows->ntuples == 1;
	if (r->exists)
	{
		r->oid = NX_PG_VALUE(rows, 0, 0);
		r->can_login = strcmp(NX_PG_VALUE(rows, 0, 1), "t") == 0;
		r->superuser = strcmp(NX_PG_VALUE(rows, 0, 2), "t") == 0;
		r->connection_limit = atoi(NX_PG_VALUE(rows, 0, 3));
	}
	return true;
}

/* The role, which must exist; false (with out filled in) otherwise. */
static bool
nx_pg_existing_role(NxPgSession *s, const char *name, NxPgRole *r)
{
	if (!nx_pg_read_role(s, name, r))
		return false;
	if (!r->exists)
	{
		nx_connector_fail(s->out, "role \"%s\" does not exist on the target", name);
		return false;
	}
	return true;
}

/* Refuse to lock or drop the role the connector itself logs in as. */
static bool
nx_pg_not_own_login(NxPgSession *s, const char *name)
{
	if (strcmp(name, s->login) != 0)
		return true;
	nx_connector_fail(s->out, "role \"%s\" is the connector's own login; the connector will not"
					  " lock or drop it", name);
	return false;
}

static bool
nx_pg_read_membership(NxPgSession *s, const NxPgParams *p, NxPgMembership *m)
{
	const char *values[] = {p->role, p->member};
	NxPgRows   *rows = nx_pg_exec(s, "reading the membership",
								  "SELECT count(*) > 0, coalesce(bool_or(m.admin_option), false)"
								  " FROM pg_catalog.pg_auth_members m"
								  " JOIN pg_catalog.pg_roles r ON r.oid = m.roleid"
								  " JOIN pg_catalog.pg_roles u ON u.oid = m.member"
								  " WHERE r.rolname = $1 AND u.rolname = $2",
								  2, values);

	if (rows == NULL)
		return false;
	m->member = strcmp(NX_PG_VALUE(rows, 0, 0), "t") == 0;
	m->admin_option = strcmp(NX_PG_VALUE(rows, 0, 1), "t") == 0;
	return true;
}

/* Both roles of a membership change exist, and the membership is as wanted. */
static bool
nx_pg_membership_now(NxPgSession *s, const NxPgParams *p, bool want_member, NxPgMembership *m)
{
	NxPgRole	r;

	if (!nx_pg_existing_role(s, p->role, &r) || !nx_pg_existing_role(s, p->member, &r) ||
		!nx_pg_read_membership(s, p, m))
		return false;
	if (m->member != want_member)
	{
		nx_connector_fail(s->out, m->member ? "role \"%s\" is already a member of \"%s\""
						  : "role \"%s\" is not a member of \"%s\"", p->member, p->role);
		return false;
	}
	return true;
}

/* Run one statement that returns no rows. */
static bool
nx_pg_command(NxPgSession *s, const char *what, const char *sql)
{
	return nx_pg_exec(s, what, sql, 0, NULL) != NULL;
}

static int64
nx_pg_count_sessions(NxPgSession *s, const char *oid)
{
	NxPgRows   *rows = nx_pg_exec(s, "counting the role's sessions",
								  "SELECT count(*) FROM pg_catalog.pg_stat_activity"
								  " WHERE usesysid = $1::oid AND pid <> pg_catalog.pg_backend_pid()",
								  1, &oid);

	return rows ? strtoll(NX_PG_VALUE(rows, 0, 0), NULL, 10) : -1;
}

/*
 * End every session of the role (by oid, so a dropped role's too), waiting
 * for each to go (at most 5 s, and half the time left).  Needs
 * pg_signal_backend or superuser on the target.
 */
static bool
nx_pg_end_sessions(NxPgSession *s, const char *oid, int64 *ended)
{
	const char *values[] = {oid, psprintf("%d", Max(Min(nx_pg_ms_left(s->call) / 2, 5000), 1))};
	NxPgRows   *rows;
	int64		found;

	rows = nx_pg_exec(s, "ending the role's sessions",
					  "SELECT count(*) FILTER (WHERE pg_catalog.pg_terminate_backend(pid, $2::bigint)),"
					  " count(*) FROM pg_catalog.pg_stat_activity"
					  " WHERE usesysid = $1::oid AND pid <> pg_catalog.pg_backend_pid()",
					  2, values);
	if (rows == NULL)
		return false;
	*ended = strtoll(NX_PG_VALUE(rows, 0, 0), NULL, 10);
	found = strtoll(NX_PG_VALUE(rows, 0, 1), NULL, 10);
	if (*ended < found)
	{
		nx_connector_fail(s->out, "%lld of the role's %lld sessions did not end in time",
						  (long long) (found - *ended), (long long) found);
		return false;
	}
	return true;
}

static void
nx_pg_state_evidence(NxPgSession *s, const char *name, const NxPgRole *r, int64 sessions)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	nx_json_str(&buf, "role", name);
	nx_json_bool(&buf, "exists", r->exists);
	if (r->exists)
	{
		nx_json_bool(&buf, "login", r->can_login);
		nx_json_int(&buf, "connection_limit", r->connection_limit);
	}
	if (sessions >= 0)
		nx_json_int(&buf, "sessions", sessions);
	appendStringInfoChar(&buf, '}');
	s->out->evidence = nx_json_parse(&buf);
}

/* {"role": name} and one more boolean, for rollback states and results. */
static Jsonb *
nx_pg_role_json(const char *name, const char *key, bool value)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	nx_json_str(&buf, "role", name);
	if (key)
		nx_json_bool(&buf, key, value);
	appendStringInfoChar(&buf, '}');
	return nx_json_parse(&buf);
}

/*
 * Shut the role out with sql (NOLOGIN, or DROP ROLE), then end the
 * sessions it had; the result says how many, under done ("locked").
 * rollback_state is not touched here: the callers record what they undo
 * before calling.
 */
static void
nx_pg_shut_out(NxPgSession *s, const char *name, const NxPgRole *r, const char *what,
			   const char *sql, const char *done)
{
	int64		ended = 0;
	StringInfoData buf;

	if (!nx_pg_command(s, what, sql) || !nx_pg_step(s, 50, "ending the role's sessions") ||
		!nx_pg_end_sessions(s, r->oid, &ended))
		return;
	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	nx_json_str(&buf, "role", name);
	nx_json_bool(&buf, done, true);
	nx_json_bool(&buf, "was_login", r->can_login);
	nx_json_int(&buf, "sessions_ended", ended);
	appendStringInfoChar(&buf, '}');
	s->out->result = nx_json_parse(&buf);
}

/* NOLOGIN, then end its sessions. */
static void
nx_pg_lock(NxPgSession *s, const char *name, const NxPgRole *r)
{
	char	   *ident = nx_pg_ident(s, name);

	if (ident != NULL)
		nx_pg_shut_out(s, name, r, "making the role NOLOGIN",
					   psprintf("ALTER ROLE %s NOLOGIN", ident), "locked");
}

static bool
nx_pg_set_login(NxPgSession *s, const char *name)
{
	char	   *ident = nx_pg_ident(s, name);

	return ident != NULL &&
		nx_pg_command(s, "making the role LOGIN", psprintf("ALTER ROLE %s LOGIN", ident));
}

/* Is the role locked: NOLOGIN with no session left? */
static void
nx_pg_verify_locked(NxPgSession *s, const char *name, bool want_locked)
{
	NxPgRole	r;
	int64		sessions = -1;

	if (!nx_pg_existing_role(s, name, &r))
		return;
	if (want_locked && (sessions = nx_pg_count_sessions(s, r.oid)) < 0)
		return;
	nx_pg_state_evidence(s, name, &r, sessions);
	if (want_locked && r.can_login)
		nx_connector_fail(s->out, "role \"%s\" can still log in", name);
	else if (want_locked && sessions > 0)
		nx_connector_fail(s->out, "role \"%s\" still has %lld sessions", name, (long long) sessions);
	else if (!want_locked && !r.can_login)
		nx_connector_fail(s->out, "role \"%s\" cannot log in", name);
}

/* ---- create_role ----------------------------------------------------- */

static bool
nx_pg_absent(NxPgSession *s, const char *name)
{
	NxPgRole	r;

	if (!nx_pg_read_role(s, name, &r))
		return false;
	if (r.exists)
	{
		nx_connector_fail(s->out, "role \"%s\" already exists on the target", name);
		return false;
	}
	return true;
}

static void
create_pre_check(NxPgSession *s, const NxPgParams *p)
{
	if (!nx_pg_absent(s, p->role))
		return;
	s->out->result = nx_pg_role_json(p->role, "exists", false);
	s->out->rollback_state = nx_pg_role_json(p->role, NULL, false);
}

static void
create_execute(NxPgSession *s, const NxPgParams *p)
{
	char	   *ident;
	StringInfoData buf;

	if (!nx_pg_absent(s, p->role) || (ident = nx_pg_ident(s, p->role)) == NULL ||
		!nx_pg_command(s, "creating the role",
					   psprintf("CREATE ROLE %s WITH %s CONNECTION LIMIT %d", ident,
								p->login ? "LOGIN" : "NOLOGIN", p->connection_limit)))
		return;
	s->out->rollback_state = nx_pg_role_json(p->role, NULL, false);
	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	nx_json_str(&buf, "role", p->role);
	nx_json_bool(&buf, "created", true);
	nx_json_bool(&buf, "login", p->login);
	nx_json_int(&buf, "connection_limit", p->connection_limit);
	appendStringInfoChar(&buf, '}');
	s->out->result = nx_json_parse(&buf);
}

static void
create_verify(NxPgSession *s, const NxPgParams *p)
{
	NxPgRole	r;

	if (!nx_pg_read_role(s, p->role, &r))
		return;
	nx_pg_state_evidence(s, p->role, &r, -1);
	if (s->call->undoing)
	{
		if (r.exists)
			nx_connector_fail(s->out, "role \"%s\" still exists", p->role);
	}
	else if (!r.exists)
		nx_connector_fail(s->out, "role \"%s\" does not exist", p->role);
	else if (r.can_login != p->login || r.connection_limit != p->connection_limit)
		nx_connector_fail(s->out, "role \"%s\" exists but with other attributes", p->role);
}

/* DROP ROLE, then end the sessions it had (they would live on). */
static void
nx_pg_drop(NxPgSession *s, const char *name, const NxPgRole *r)
{
	char	   *ident = nx_pg_ident(s, name);

	if (ident != NULL)
		nx_pg_shut_out(s, name, r, "dropping the role", psprintf("DROP ROLE %s", ident),
					   "dropped");
}

/* Undo a create: drop the role, unless it is gone already. */
static void
create_rollback(NxPgSession *s, const NxPgParams *p)
{
	NxPgRole	r;

	if (!nx_pg_read_role(s, p->role, &r))
		return;
	if (!r.exists)
		s->out->result = nx_pg_role_json(p->role, "already_absent", true);
	else if (nx_pg_not_own_login(s, p->role))
		nx_pg_drop(s, p->role, &r);
}

/* ---- drop_role ------------------------------------------------------- */

static void
drop_pre_check(NxPgSession *s, const NxPgParams *p)
{
	NxPgRole	r;

	if (nx_pg_existing_role(s, p->role, &r) && nx_pg_not_own_login(s, p->role))
		s->out->result = nx_pg_role_json(p->role, "exists", true);
}

static void
drop_execute(NxPgSession *s, const NxPgParams *p)
{
	NxPgRole	r;

	if (nx_pg_existing_role(s, p->role, &r) && nx_pg_not_own_login(s, p->role))
		nx_pg_drop(s, p->role, &r);
}

static void
drop_verify(NxPgSession *s, const NxPgParams *p)
{
	NxPgRole	r;

	if (!nx_pg_read_role(s, p->role, &r))
		return;
	nx_pg_state_evidence(s, p->role, &r, -1);
	if (r.exists)
		nx_connector_fail(s->out, "role \"%s\" still exists", p->role);
}

/* ---- lock_role ------------------------------------------------------- */

static void
lock_pre_check(NxPgSession *s, const NxPgParams *p)
{
	NxPgRole	r;
	int64		sessions;

	if (!nx_pg_existing_role(s, p->role, &r) || !nx_pg_not_own_login(s, p->role) ||
		(sessions = nx_pg_count_sessions(s, r.oid)) < 0)
		return;
	nx_pg_state_evidence(s, p->role, &r, sessions);
	s->out->result = nx_pg_role_json(p->role, "login", r.can_login);
	s->out->rollback_state = nx_pg_role_json(p->role, "was_login", r.can_login);
}

static void
lock_execute(NxPgSession *s, const NxPgParams *p)
{
	NxPgRole	r;

	if (!nx_pg_existing_role(s, p->role, &r) || !nx_pg_not_own_login(s, p->role))
		return;
	/* recorded first: a NOLOGIN whose sessions do not end is still undone */
	s->out->rollback_state = nx_pg_role_json(p->role, "was_login", r.can_login);
	nx_pg_lock(s, p->role, &r);
}

static void
lock_verify(NxPgSession *s, const NxPgParams *p)
{
	if (!s->call->undoing)
		nx_pg_verify_locked(s, p->role, true);
	else if (nx_jsonb_get_bool(s->call->rollback_state, "was_login"))
		nx_pg_verify_locked(s, p->role, false);
	else
		nx_pg_verify_locked(s, p->role, true);
}

/* Undo a lock: LOGIN again if it could log in before (its sessions are gone). */
static void
lock_rollback(NxPgSession *s, const NxPgParams *p)
{
	NxPgRole	r;
	bool		was_login = nx_jsonb_get_bool(s->call->rollback_state, "was_login");

	if (!nx_pg_existing_role(s, p->role, &r))
		return;
	if (was_login && !r.can_login && !nx_pg_set_login(s, p->role))
		return;
	s->out->result = nx_pg_role_json(p->role, "login", was_login || r.can_login);
}

/* ---- unlock_role ----------------------------------------------------- */

static bool
nx_pg_locked_role(NxPgSession *s, const char *name, NxPgRole *r)
{
	if (!nx_pg_existing_role(s, name, r))
		return false;
	if (r->can_login)
	{
		nx_connector_fail(s->out, "role \"%s\" can already log in; there is nothing to unlock",
						  name);
		return false;
	}
	return true;
}

static void
unlock_pre_check(NxPgSession *s, const NxPgParams *p)
{
	NxPgRole	r;

	if (!nx_pg_locked_role(s, p->role, &r))
		return;
	s->out->result = nx_pg_role_json(p->role, "login", false);
	s->out->rollback_state = nx_pg_role_json(p->role, "was_login", false);
}

static void
unlock_execute(NxPgSession *s, const NxPgParams *p)
{
	NxPgRole	r;

	if (!nx_pg_locked_role(s, p->role, &r) || !nx_pg_set_login(s, p->role))
		return;
	s->out->rollback_state = nx_pg_role_json(p->role, "was_login", false);
	s->out->result = nx_pg_role_json(p->role, "unlocked", true);
}

static void
unlock_verify(NxPgSession *s, const NxPgParams *p)
{
	nx_pg_verify_locked(s, p->role, s->call->undoing);
}

/* Undo an unlock: lock it again, ending sessions opened since. */
static void
unlock_rollback(NxPgSession *s, const NxPgParams *p)
{
	NxPgRole	r;

	if (nx_pg_existing_role(s, p->role, &r) && nx_pg_not_own_login(s, p->role))
		nx_pg_lock(s, p->role, &r);
}

/* ---- grant_role and revoke_role -------------------------------------- */

static Jsonb *
nx_pg_membership_json(const NxPgParams *p, const char *key, bool value, bool admin_option)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	nx_json_str(&buf, "role", p->role);
	nx_json_str(&buf, "member", p->member);
	if (key)
		nx_json_bool(&buf, key, value);
	nx_json_bool(&buf, "admin_option", admin_option);
	appendStringInfoChar(&buf, '}');
	return nx_json_parse(&buf);
}

static bool
nx_pg_grant(NxPgSession *s, const NxPgParams *p, bool admin_option)
{
	char	   *role = nx_pg_ident(s, p->role);
	char	   *member = role ? nx_pg_ident(s, p->member) : NULL;

	return member != NULL &&
		nx_pg_command(s, "granting the membership",
					  psprintf("GRANT %s TO %s%s", role, member,
							   admin_option ? " WITH ADMIN OPTION" : ""));
}

static bool
nx_pg_revoke(NxPgSession *s, const NxPgParams *p)
{
	char	   *role = nx_pg_ident(s, p->role);
	char	   *member = role ? nx_pg_ident(s, p->member) : NULL;

	return member != NULL &&
		nx_pg_command(s, "revoking the membership", psprintf("REVOKE %s FROM %s", role, member));
}

/* Check the membership is as wanted, and say what was seen. */
static void
nx_pg_verify_membership(NxPgSession *s, const NxPgParams *p, bool want_member,
						bool want_admin_option)
{
	NxPgMembership m;

	if (!nx_pg_read_membership(s, p, &m))
		return;
	s->out->evidence = nx_pg_membership_json(p, "member_now", m.member, m.admin_option);
	if (m.member != want_member)
		nx_connector_fail(s->out, want_member ? "role \"%s\" is not a member of \"%s\""
						  : "role \"%s\" is still a member of \"%s\"", p->member, p->role);
	else if (want_member && m.admin_option != want_admin_option)
		nx_connector_fail(s->out, "role \"%s\" is a member of \"%s\" %s the admin option",
						  p->member, p->role, m.admin_option ? "with" : "without");
}

static void
grant_pre_check(NxPgSession *s, const NxPgParams *p)
{
	NxPgMembership m;

	if (!nx_pg_membership_now(s, p, false, &m))
		return;
	s->out->result = nx_pg_membership_json(p, "member_now", false, false);
	s->out->rollback_state = nx_pg_membership_json(p, NULL, false, false);
}

static void
grant_execute(NxPgSession *s, const NxPgParams *p)
{
	NxPgMembership m;

	if (!nx_pg_membership_now(s, p, false, &m) || !nx_pg_grant(s, p, false))
		return;
	s->out->rollback_state = nx_pg_membership_json(p, NULL, false, false);
	s->out->result = nx_pg_membership_json(p, "granted", true, false);
}

static void
grant_verify(NxPgSession *s, const NxPgParams *p)
{
	nx_pg_verify_membership(s, p, !s->call->undoing, false);
}

static void
grant_rollback(NxPgSession *s, const NxPgParams *p)
{
	NxPgMembership m;

	if (!nx_pg_read_membership(s, p, &m) || (m.member && !nx_pg_revoke(s, p)))
		return;
	s->out->result = nx_pg_membership_json(p, "revoked", m.member, false);
}

static void
revoke_pre_check(NxPgSession *s, const NxPgParams *p)
{
	NxPgMembership m;

	if (!nx_pg_membership_now(s, p, true, &m))
		return;
	s->out->result = nx_pg_membership_json(p, "member_now", true, m.admin_option);
	s->out->rollback_state = nx_pg_membership_json(p, NULL, false, m.admin_option);
}

static void
revoke_execute(NxPgSession *s, const NxPgParams *p)
{
	NxPgMembership m;

	if (!nx_pg_membership_now(s, p, true, &m) || !nx_pg_revoke(s, p))
		return;
	s->out->rollback_state = nx_pg_membership_json(p, NULL, false, m.admin_option);
	s->out->result = nx_pg_membership_json(p, "revoked", true, m.admin_option);
}

static void
revoke_verify(NxPgSession *s, const NxPgParams *p)
{
	nx_pg_verify_membership(s, p, s->call->undoing,
							nx_jsonb_get_bool(s->call->rollback_state, "admin_option"));
}

/* Undo a revoke: grant it back, with the admin option if it had it. */
static void
revoke_rollback(NxPgSession *s, const NxPgParams *p)
{
	NxPgMembership m;
	bool		admin_option = nx_jsonb_get_bool(s->call->rollback_state, "admin_option");

	if (!nx_pg_read_membership(s, p, &m))
		return;
	if ((!m.member || (admin_option && !m.admin_option)) && !nx_pg_grant(s, p, admin_option))
		return;
	s->out->result = nx_pg_membership_json(p, "granted", true, admin_option);
}

const NxPgChange nx_pg_role_changes[] = {
	{.name = "create_role", .pre_check = create_pre_check, .execute = create_execute,
	 .verify = create_verify, .rollback = create_rollback},
	{.name = "drop_role", .pre_check = drop_pre_check, .execute = drop_execute,
	 .verify = drop_verify, .rollback = NULL},
	{.name = "lock_role", .pre_check = lock_pre_check, .execute = lock_execute,
	 .verify = lock_verify, .rollback = lock_rollback},
	{.name = "unlock_role", .pre_check = unlock_pre_check, .execute = unlock_execute,
	 .verify = unlock_verify, .rollback = unlock_rollback},
	{.name = "grant_role", .pre_check = grant_pre_check, .execute = grant_execute,
	 .verify = grant_verify, .rollback = grant_rollback},
	{.name = "revoke_role", .pre_check = revoke_pre_check, .execute = revoke_execute,
	 .verify = revoke_verify, .rollback = revoke_rollback},
	{.name = NULL}
};
