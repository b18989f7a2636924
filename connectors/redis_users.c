/*-------------------------------------------------------------------------
 *
 * redis_users.c
 *	  The redis connector's user changes: create_user, delete_user,
 *	  disable_user and enable_user, each with its check, verify and
 *	  rollback (create <-> delete, disable <-> enable; a deleted user is
 *	  gone for good).
 *
 * Disabling is "ACL SETUSER name off" and then CLIENT KILL USER: off only
 * refuses new logins, and connections already logged in as the user would
 * go on working.  Verify counts them in CLIENT LIST: there must be none.
 *
 * The connector never disables or deletes its own login (it would lock
 * itself out), and never deletes "default" (Redis refuses; disable it).
 *
 *-------------------------------------------------------------------------
 */
#include "redis_client.h"

/* Read the user; false (out says why) when it is not in the wanted state. */
static bool
nxr_user_state(NxRedis *r, const NxRedisArgs *a, NxRedisUser *u, bool must_exist)
{
	if (!nxr_get_user(r, a->username, u))
		return false;
	if (must_exist && !u->exists)
	{
		nx_connector_fail(r->out, "the redis server has no user \"%s\"", a->username);
		return false;
	}
	if (!must_exist && u->exists)
	{
		nx_connector_fail(r->out, "user \"%s\" already exists on the redis server", a->username);
		return false;
	}
	return true;
}

static bool
nxr_not_own_login(NxRedis *r, const NxRedisArgs *a, const char *verb)
{
	if (strcmp(a->username, r->login) == 0)
	{
		nx_connector_fail(r->out, "user \"%s\" is the connector's own login: it cannot %s itself",
						  a->username, verb);
		return false;
	}
	return true;
}

/*
 * The rollback state execute stored must be about this user; rollback
 * refuses a state it did not write.
 */
static bool
nxr_state_is_for(NxRedis *r, const NxRedisArgs *a)
{
	char	   *user = nx_jsonb_get_cstring(r->call->rollback_state, "username");

	if (user == NULL || strcmp(user, a->username) != 0)
	{
		nx_connector_fail(r->out, "the rollback state is missing or not about user \"%s\"", a->username);
		return false;
	}
	return true;
}

/* Turn the user on or off; off also ends its connections.  Then persist. */
static bool
nxr_set_enabled(NxRedis *r, const NxRedisArgs *a, bool on, StringInfo result)
{
	const char *rule[1] = {on ? "on" : "off"};
	int64		killed = 0;

	if (!nxr_step(r, 30, on ? "turning the user on" : "turning the user off") ||
		!nxr_set_user(r, a->username, false, 1, rule))
		return false;
	if (!on)
	{
		nxr_progress(r, 60, "ending the user's connections");
		if (!nxr_kill_clients(r, a->username, &killed))
			return false;
	}
	nx_json_str(result, "username", a->username);
	nx_json_bool(result, "enabled", on);
	if (!on)
		nx_json_int(result, "connections_ended", killed);
	return nxr_persist(r, result);
}

/* The user is on, or off with no connection left; evidence says what was seen. */
static void
nxr_verify_enabled(NxRedis *r, const NxRedisArgs *a, bool on)
{
	NxRedisUser u;
	int			clients = 0;
	StringInfoData evidence;

	if (!nxr_user_state(r, a, &u, true))
		return;
	if (u.on != on)
	{
		nx_connector_fail(r->out, "user \"%s\" is %s", a->username, u.on ? "on" : "off");
		return;
	}
	if (!on && !nxr_count_clients(r, a->username, &clients))
		return;
	if (clients > 0)
	{
		nx_connector_fail(r->out, "user \"%s\" is off but %d connection%s logged in as it remain%s",
						  a->username, clients, clients == 1 ? "" : "s", clients == 1 ? "s" : "");
		return;
	}
	nx_json_begin(&evidence);
	nx_json_str(&evidence, "username", a->username);
	nx_json_bool(&evidence, "enabled", u.on);
	if (!on)
		nx_json_int(&evidence, "connections", clients);
	r->out->evidence = nx_json_end(&evidence);
	r->out->ok = true;
}

/* The user is gone, and so are its connections. */
static void
nxr_verify_gone(NxRedis *r, const NxRedisArgs *a)
{
	NxRedisUser u;
	int			clients = 0;
	StringInfoData evidence;

	if (!nxr_user_state(r, a, &u, false) || !nxr_count_clients(r, a->username, &clients))
		return;
	if (clients > 0)
	{
		nx_connector_fail(r->out, "user \"%s\" is deleted but %d connection%s logged in as it remain%s",
						  a->username, clients, clients == 1 ? "" : "s", clients == 1 ? "s" : "");
		return;
	}
	nx_json_begin(&evidence);
	nx_json_str(&evidence, "username", a->username);
	nx_json_bool(&evidence, "exists", false);
	nx_json_int(&evidence, "connections", 0);
	r->out->evidence = nx_json_end(&evidence);
	r->out->ok = true;
}

/* ACL DELUSER (which also disconnects the user's clients), then persist. */
static bool
nxr_delete(NxRedis *r, const NxRedisArgs *a, StringInfo result)
{
	const char *argv[] = {"ACL", "DELUSER", a->username};
	redisReply *reply;
	int			clients = 0;

	if (!nxr_count_clients(r, a->username, &clients) || !nxr_step(r, 40, "deleting the user") ||
		(reply = nxr_command(r, false, 3, argv)) == NULL)
		return false;
	nx_json_str(result, "username", a->username);
	nx_json_bool(result, "deleted", reply->type == REDIS_REPLY_INTEGER && reply->integer == 1);
	nx_json_int(result, "connections_ended", clients);
	return nxr_persist(r, result);
}

/* create_user */

/* What rollback deletes: the user execute creates. */
static Jsonb *
create_state(NxRedis *r, const NxRedisArgs *a)
{
	StringInfoData state;

	nx_json_begin(&state);
	nx_json_str(&state, "username", a->username);
	nx_json_bool(&state, "created", true);
	return nx_json_end(&state);
}

static bool
create_check(NxRedis *r, const NxRedisArgs *a)
{
	NxRedisUser u;

	return nxr_user_state(r, a, &u, false);
}

/*
 * The user is created on, with no password (nobody logs in as it until a
 * rotate_password gives it one), the key patterns asked for, no channels,
 * the categories asked for, and never @admin or @dangerous.
 */
static void
create_execute(NxRedis *r, const NxRedisArgs *a)
{
	const char **rules = palloc(sizeof(char *) * (a->nkeys + a->ncategories + 4));
	int			n = 0;
	NxRedisUser u;
	StringInfoData result,
				evidence;

	rules[n++] = "on";
	for (int i = 0; i < a->nkeys; i++)
		rules[n++] = psprintf("~%s", a->keys[i]);
	rules[n++] = "resetchannels";
	for (int i = 0; i < a->ncategories; i++)
		rules[n++] = a->categories[i];
	rules[n++] = "-@admin";
	rules[n++] = "-@dangerous";
	if (!nxr_step(r, 30, "creating the user") || !nxr_set_user(r, a->username, false, n, rules) ||
		!nxr_get_user(r, a->username, &u))
		return;

	/* from here on, rollback can delete it (also if it is not saved) */
	r->out->rollback_state = create_state(r, a);
	nx_json_begin(&result);
	nx_json_str(&result, "username", a->username);
	nx_json_bool(&result, "created", true);
	nx_json_str(&result, "keys", u.keys);
	nx_json_str(&result, "commands", u.commands);
	if (!nxr_persist(r, &result))
		return;
	nx_json_begin(&evidence);
	nx_json_str(&evidence, "username", a->username);
	nx_json_bool(&evidence, "exists", u.exists);
	nx_json_bool(&evidence, "enabled", u.on);
	nx_json_int(&evidence, "passwords", u.npasswords);
	r->out->result = nx_json_end(&result);
	r->out->evidence = nx_json_end(&evidence);
	r->out->ok = true;
}

/*
 * Created as asked: on, no password and not nopass, exactly the key
 * patterns asked for, and FLUSHALL refused (ACL DRYRUN), the sign that
 * -@dangerous holds.  Undoing: the user is gone.
 */
static void
create_verify(NxRedis *r, const NxRedisArgs *a)
{
	NxRedisUser u;
	char	   *keys = nxr_joined(a->nkeys, a->keys, "~");
	const char *dryrun[] = {"ACL", "DRYRUN", a->username, "FLUSHALL"};
	redisReply *reply;
	StringInfoData evidence;

	if (r->call->undoing)
	{
		nxr_verify_gone(r, a);
		return;
	}
	if (!nxr_user_state(r, a, &u, true))
		return;
	if (!u.on || u.nopass || u.npasswords > 0)
	{
		nx_connector_fail(r->out, "user \"%s\" is not as created: it is %s%s", a->username,
						  u.on ? "on" : "off", u.nopass ? ", nopass" : u.npasswords ? ", with a password" : "");
		return;
	}
	if (strcmp(u.keys, keys) != 0)
	{
		nx_connector_fail(r->out, "user \"%s\" has the key patterns \"%.200s\", not \"%.200s\"",
						  a->username, u.keys, keys);
		return;
	}
	if ((reply = nxr_command(r, false, 4, dryrun)) == NULL)
		return;
	if (reply->type == REDIS_REPLY_STATUS && strcmp(reply->str, "OK") == 0)
	{
		nx_connector_fail(r->out, "user \"%s\" may run FLUSHALL", a->username);
		return;
	}
	nx_json_begin(&evidence);
	nx_json_str(&evidence, "username", a->username);
	nx_json_bool(&evidence, "exists", true);
	nx_json_bool(&evidence, "enabled", true);
	nx_json_str(&evidence, "keys", u.keys);
	nx_json_bool(&evidence, "flushall_refused", true);
	r->out->evidence = nx_json_end(&evidence);
	r->out->ok = true;
}

static void
create_rollback(NxRedis *r, const NxRedisArgs *a)
{
	NxRedisUser u;
	StringInfoData result;

	if (!nxr_state_is_for(r, a) || !nxr_get_user(r, a->username, &u))
		return;
	nx_json_begin(&result);
	if (!u.exists)
	{
		nx_json_str(&result, "username", a->username);
		nx_json_bool(&result, "deleted", false);
		nx_json_str(&result, "reason", "the user no longer exists");
	}
	else if (!nxr_delete(r, a, &result))
		return;
	r->out->result = nx_json_end(&result);
	r->out->ok = true;
}

/* delete_user */

static bool
delete_check(NxRedis *r, const NxRedisArgs *a)
{
	NxRedisUser u;

	if (strcmp(a->username, "default") == 0)
	{
		nx_connector_fail(r->out, "the default user cannot be deleted: disable it instead");
		return false;
	}
	return nxr_not_own_login(r, a, "delete") && nxr_user_state(r, a, &u, true);
}

/* What the user was is kept in the result (no password hashes). */
static void
delete_execute(NxRedis *r, const NxRedisArgs *a)
{
	NxRedisUser u;
	StringInfoData result,
				before;

	if (!nxr_get_user(r, a->username, &u))
		return;
	nx_json_begin(&before);
	nx_json_str(&before, "flags", u.flags);
	nx_json_int(&before, "passwords", u.npasswords);
	nx_json_str(&before, "keys", u.keys);
	nx_json_str(&before, "channels", u.channels);
	nx_json_str(&before, "commands", u.commands);
	nx_json_begin(&result);
	if (!nxr_delete(r, a, &result))
		return;
	appendStringInfoChar(&before, '}');
	nx_json_raw(&result, "before", before.data);
	r->out->result = nx_json_end(&result);
	r->out->ok = true;
}

static void
delete_verify(NxRedis *r, const NxRedisArgs *a)
{
	if (r->call->undoing)
	{
		nx_connector_fail(r->out, "delete_user cannot be rolled back");
		return;
	}
	nxr_verify_gone(r, a);
}

static void
delete_rollback(NxRedis *r, const NxRedisArgs *a)
{
	nx_connector_fail(r->out, "delete_user cannot be rolled back");
}

/* disable_user and enable_user */

static bool
disable_check(NxRedis *r, const NxRedisArgs *a)
{
	NxRedisUser u;

	if (!nxr_not_own_login(r, a, "disable") || !nxr_user_state(r, a, &u, true))
		return false;
	if (!u.on)
	{
		nx_connector_fail(r->out, "user \"%s\" is already off", a->username);
		return false;
	}
	return true;
}

static bool
enable_check(NxRedis *r, const NxRedisArgs *a)
{
	NxRedisUser u;

	if (!nxr_user_state(r, a, &u, true))
		return false;
	if (u.on)
	{
		nx_connector_fail(r->out, "user \"%s\" is already on", a->username);
		return false;
	}
	return true;
}

/*
 * The rollback state of turning the user to on: it was the other way
 * (the checks made sure of that before execute acts).
 */
static Jsonb *
nxr_toggle_state(const NxRedisArgs *a, bool on)
{
	StringInfoData state;

	nx_json_begin(&state);
	nx_json_str(&state, "username", a->username);
	nx_json_bool(&state, "enabled_before", !on);
	return nx_json_end(&state);
}

static Jsonb *
disable_state(NxRedis *r, const NxRedisArgs *a)
{
	return nxr_toggle_state(a, false);
}

static Jsonb *
enable_state(NxRedis *r, const NxRedisArgs *a)
{
	return nxr_toggle_state(a, true);
}

/* Turn the user to on; the rollback state says what it was. */
static void
nxr_toggle(NxRedis *r, const NxRedisArgs *a, bool on)
{
	StringInfoData result;

	r->out->rollback_state = nxr_toggle_state(a, on);
	nx_json_begin(&result);
	if (!nxr_set_enabled(r, a, on, &result))
		return;
	r->out->result = nx_json_end(&result);
	r->out->ok = true;
}

/* Put the user back as the rollback state says it was before. */
static void
nxr_untoggle(NxRedis *r, const NxRedisArgs *a)
{
	NxRedisUser u;
	StringInfoData result;

	int			before = nxr_json_bool_field(r->call->rollback_state, "enabled_before");

	if (!nxr_state_is_for(r, a))
		return;
	if (before < 0)
	{
		nx_connector_fail(r->out, "the rollback state does not say whether the user was enabled");
		return;
	}
	if (!nxr_user_state(r, a, &u, true))
		return;
	nx_json_begin(&result);
	if (!nxr_set_enabled(r, a, before == 1, &result))
		return;
	r->out->result = nx_json_end(&result);
	r->out->ok = true;
}

static void
disable_execute(NxRedis *r, const NxRedisArgs *a)
{
	nxr_toggle(r, a, false);
}

static void
enable_execute(NxRedis *r, const NxRedisArgs *a)
{
	nxr_toggle(r, a, true);
}

static void
disable_verify(NxRedis *r, const NxRedisArgs *a)
{
	nxr_verify_enabled(r, a, r->call->undoing);
}

static void
enable_verify(NxRedis *r, const NxRedisArgs *a)
{
	nxr_verify_enabled(r, a, !r->call->undoing);
}

const NxRedisChange nxr_create_user = {
	.name = "create_user",
	.check = create_check,
	.execute = create_execute,
	.verify = create_verify,
	.rollback = create_rollback,
	.rollback_state = create_state,
	.rules = true,
};

const NxRedisChange nxr_delete_user = {
	.name = "delete_user",
	.check = delete_check,
	.execute = delete_execute,
	.verify = delete_verify,
	.rollback = delete_rollback,
	.rules = false,
};

const NxRedisChange nxr_disable_user = {
	.name = "disable_user",
	.check = disable_check,
	.execute = disable_execute,
	.verify = disable_verify,
	.rollback = nxr_untoggle,
	.rollback_state = disable_state,
	.rules = false,
};

const NxRedisChange nxr_enable_user = {
	.name = "enable_user",
	.check = enable_check,
	.execute = enable_execute,
	.verify = enable_verify,
	.rollback = nxr_untoggle,
	.rollback_state = enable_state,
	.rules = false,
};
