/*-------------------------------------------------------------------------
 *
 * redis.c
 *	  The redis connector: ACL users of a Redis server (7.0 or later),
 *	  over hiredis.  Its fields and change types, test, discover, and the
 *	  operations of a change, which walk the table of change types below.
 *
 * The connection and the JSON it reports are in redis_client.c, users and
 * the rules for names and ACL rules in redis_acl.c, the change types in
 * redis_password.c (rotate_password) and redis_users.c (the others).
 * docs/connectors/redis.md says what each does on the server.
 *
 *-------------------------------------------------------------------------
 */
#include "redis_client.h"

/* At most this many users are discovered; the result says when there were more. */
#define NXR_DISCOVER_MAX 10000

static const NxField config_fields[] = {
	{"host", NX_FIELD_STRING, true, "Host name or address of the server."},
	{"port", NX_FIELD_INTEGER, false, "TCP port (default 6379)."},
	{"acl_save", NX_FIELD_BOOLEAN, false,
	"Persist changes with ACL SAVE: true always, false never; unset, when CONFIG GET aclfile names a file."},
	{.name = NULL}
};

static const NxField credential_fields[] = {
	{"username", NX_FIELD_STRING, true, "A user allowed the ACL and CLIENT commands."},
	{"password", NX_FIELD_STRING, true, "Its password."},
	{.name = NULL}
};

static const NxField rotate_params[] = {
	{"username", NX_FIELD_STRING, true, "The ACL user whose password is rotated."},
	{"credential_id", NX_FIELD_STRING, false,
	"The credential that holds the user's password (default: the connector's own)."},
	{.name = NULL}
};

static const NxField create_params[] = {
	{"username", NX_FIELD_STRING, true, "The new ACL user (letters, digits, _ . : @ -; at most 64)."},
	{"key_patterns", NX_FIELD_STRING, false,
	"Key patterns it may use, separated by spaces (\"app:* cache:*\"; \"*\" for all); none by default."},
	{"categories", NX_FIELD_STRING, false,
	"Command categories, separated by spaces (\"+@read +@write -@keyspace\"); never +@admin or +@dangerous."},
	{.name = NULL}
};

static const NxField user_params[] = {
	{"username", NX_FIELD_STRING, true, "The ACL user."},
	{.name = NULL}
};

static const NxChangeType change_types[] = {
	{.name = "rotate_password", .class = NX_CHANGE_MODIFYING, .risk_weight = NX_WEIGHT_MODIFYING,
		.rollback = true, .params = rotate_params, .rotates_secret = true,
	.description = "Add a new generated password, verify it, then remove the old one."},
	{.name = "create_user", .class = NX_CHANGE_ADDITIVE, .risk_weight = NX_WEIGHT_ADDITIVE,
	.rollback = true, .params = create_params, .description = "Create an ACL user."},
	{.name = "delete_user", .class = NX_CHANGE_DESTRUCTIVE, .risk_weight = NX_WEIGHT_DESTRUCTIVE,
	.rollback = false, .params = user_params, .description = "Delete an ACL user."},
	{.name = "disable_user", .class = NX_CHANGE_MODIFYING, .risk_weight = NX_WEIGHT_MODIFYING,
		.rollback = true, .params = user_params,
	.description = "Turn a user off and end its connections."},
	{.name = "enable_user", .class = NX_CHANGE_MODIFYING, .risk_weight = NX_WEIGHT_MODIFYING,
	.rollback = true, .params = user_params, .description = "Turn a user on again."},
	{.name = NULL}
};

/* How each change type is done: its check, execute, verify and rollback. */
static const NxRedisChange *const changes[] = {
	&nxr_rotate_password,
	&nxr_create_user,
	&nxr_delete_user,
	&nxr_disable_user,
	&nxr_enable_user,
};

typedef enum NxRedisOp
{
	NXR_PRE_CHECK,
	NXR_EXECUTE,
	NXR_VERIFY,
	NXR_ROLLBACK,
	NXR_FINISH
} NxRedisOp;

/*
 * Read what ACL DRYRUN says about the login running argv: true when it
 * may.  A refusal of DRYRUN itself means the login has no ACL rights.
 */
static bool
nxr_may_run(NxRedis *r, int argc, const char *const *argv, bool *may)
{
	const char **dry = palloc(sizeof(char *) * (argc + 3));
	redisReply *reply;

	dry[0] = "ACL";
	dry[1] = "DRYRUN";
	dry[2] = r->login;
	memcpy(dry + 3, argv, sizeof(char *) * argc);
	if ((reply = nxr_command_raw(r, argc + 3, dry)) == NULL)
		return false;
	if (reply->type == REDIS_REPLY_ERROR && strncmp(reply->str, "NOPERM", 6) == 0)
	{
		nx_connector_fail(r->out, "the connector's login may not run ACL commands (it needs +acl): %.200s",
						  reply->str);
		return false;
	}
	if (reply->type == REDIS_REPLY_ERROR)
	{
		nx_connector_fail(r->out, "ACL DRYRUN failed (the connector needs Redis 7.0 or later): %.200s",
						  reply->str);
		return false;
	}
	*may = reply->type == REDIS_REPLY_STATUS && strcmp(reply->str, "OK") == 0;
	return true;
}

/*
 * test: log in, then say which server this is (HELLO), who we are (ACL
 * WHOAMI), whether it keeps users in an ACL file, and whether the login
 * may run every command the changes use; fail when one is missing.
 */
static void
nxr_test_body(NxRedis *r)
{
	static const struct
	{
		const char *name;
		int			argc;
		const char *argv[4];
		bool		required;
	}			needs[] = {
		{"acl|getuser", 3, {"ACL", "GETUSER", "nexplane"}, true},
		{"acl|setuser", 3, {"ACL", "SETUSER", "nexplane"}, true},
		{"acl|deluser", 3, {"ACL", "DELUSER", "nexplane"}, true},
		{"acl|users", 2, {"ACL", "USERS"}, true},
		{"client|list", 2, {"CLIENT", "LIST"}, true},
		{"client|kill", 4, {"CLIENT", "KILL", "USER", "nexplane"}, true},
		{"acl|save", 2, {"ACL", "SAVE"}, false},
		{"config|get", 3, {"CONFIG", "GET", "aclfile"}, false},
	};
	const char *hello[] = {"HELLO", "2"};
	const char *whoami[] = {"ACL", "WHOAMI"};
	const char *aclfile[] = {"CONFIG", "GET", "aclfile"};
	redisReply *reply;
	StringInfoData result,
				privileges,
				missing;

	nx_json_begin(&result);
	if (!nxr_step(r, 20, "HELLO") || (reply = nxr_command(r, false, 2, hello)) == NULL)
		return;
	for (size_t i = 0; reply->type == REDIS_REPLY_ARRAY && i + 1 < reply->elements; i += 2)
	{
		redisReply *k = reply->element[i],
				   *v = reply->element[i + 1];

		if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
			continue;
		if (strcmp(k->str, "version") == 0)
			nx_json_str(&result, "server_version", v->str);
		else if (strcmp(k->str, "mode") == 0 || strcmp(k->str, "role") == 0)
			nx_json_str(&result, k->str, v->str);
	}
	if ((reply = nxr_command_raw(r, 2, whoami)) == NULL)
		return;
	if (reply->type == REDIS_REPLY_STRING)
		nx_json_str(&result, "username", reply->str);

	if (!nxr_step(r, 50, "ACL DRYRUN"))
		return;
	nx_json_begin(&privileges);
	initStringInfo(&missing);
	for (size_t i = 0; i < lengthof(needs); i++)
	{
		bool		may;

		if (!nxr_may_run(r, needs[i].argc, needs[i].argv, &may))
			return;
		nx_json_bool(&privileges, needs[i].name, may);
		if (!may && needs[i].required)
			appendStringInfo(&missing, "%s%s", missing.len ? ", " : "", needs[i].name);
	}
	if (missing.len > 0)
	{
		nx_connector_fail(r->out, "the connector's login may not run %s", missing.data);
		return;
	}
	appendStringInfoChar(&privileges, '}');
	nx_json_raw(&result, "privileges", privileges.data);

	if ((reply = nxr_command_raw(r, 3, aclfile)) == NULL)
		return;
	if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 2 &&
		reply->element[1]->type == REDIS_REPLY_STRING)
		nx_json_bool(&result, "aclfile", reply->element[1]->len > 0);
	else
		nx_json_str(&result, "aclfile", NULL);
	r->out->result = nx_json_end(&result);
	r->out->ok = true;
}

/*
 * discover: every ACL user (ACL USERS, then ACL GETUSER each) with its
 * flags, rules and the number of its passwords and connections; never a
 * password hash.
 */
static void
nxr_discover_body(NxRedis *r)
{
	const char *users[] = {"ACL", "USERS"};
	redisReply *reply;
	char	  **names;
	int			n;
	char	   *clients;
	StringInfoData result,
				assets;

	if (!nxr_step(r, 10, "ACL USERS") || (reply = nxr_command(r, false, 2, users)) == NULL)
		return;
	if (reply->type != REDIS_REPLY_ARRAY)
	{
		nx_connector_fail(r->out, "the redis server's answer to ACL USERS is not a list");
		return;
	}
	n = (int) Min(reply->elements, NXR_DISCOVER_MAX);
	names = palloc0(sizeof(char *) * (n + 1));
	for (int i = 0; i < n; i++)
		names[i] = reply->element[i]->type == REDIS_REPLY_STRING
			? pnstrdup(reply->element[i]->str, reply->element[i]->len) : NULL;
	nx_json_begin(&result);
	nx_json_bool(&result, "truncated", reply->elements > NXR_DISCOVER_MAX);
	if (!nxr_client_list(r, &clients))
		return;

	initStringInfo(&assets);
	appendStringInfoChar(&assets, '[');
	for (int i = 0; i < n; i++)
	{
		NxRedisUser u;
		StringInfoData asset,
					attrs;

		if (names[i] == NULL)
			continue;
		if (i % 100 == 0 && !nxr_step(r, 20 + 70 * i / n, "ACL GETUSER"))
			return;
		if (!nxr_get_user(r, names[i], &u))
			return;
		if (!u.exists)
			continue;			/* deleted meanwhile */
		nx_json_begin(&attrs);
		nx_json_bool(&attrs, "enabled", u.on);
		nx_json_bool(&attrs, "nopass", u.nopass);
		nx_json_int(&attrs, "passwords", u.npasswords);
		nx_json_str(&attrs, "flags", u.flags);
		nx_json_str(&attrs, "keys", u.keys);
		nx_json_str(&attrs, "channels", u.channels);
		nx_json_str(&attrs, "commands", u.commands);
		nx_json_int(&attrs, "selectors", u.nselectors);
		nx_json_int(&attrs, "connections", nxr_clients_of(clients, names[i]));
		nx_json_bool(&attrs, "connector_login", strcmp(names[i], r->login) == 0);
		appendStringInfoChar(&attrs, '}');
		nx_json_begin(&asset);
		nx_json_str(&asset, "kind", "redis_user");
		nx_json_str(&asset, "external_id", names[i]);
		nx_json_str(&asset, "name", names[i]);
		nx_json_raw(&asset, "attributes", attrs.data);
		appendStringInfo(&assets, "%s%s}", assets.len > 1 ? ", " : "", asset.data);
	}
	appendStringInfoChar(&assets, ']');
	nx_json_raw(&result, "assets", assets.data);
	r->out->result = nx_json_end(&result);
	r->out->ok = true;
}

/* Log in as the connector, run body, and close the connection whatever happens. */
static void
nxr_with_login(const NxConnectorCall *call, NxConnectorResult *out, void (*body) (NxRedis *r))
{
	NxRedis    *r = nxr_new(call, out);

	PG_TRY();
	{
		if (nxr_step(r, 5, "connecting") && nxr_open(r))
			body(r);
	}
	PG_FINALLY();
	{
		nxr_close(r);
	}
	PG_END_TRY();
}

static void
redis_test(const NxConnectorCall *call, NxConnectorResult *out)
{
	nxr_with_login(call, out, nxr_test_body);
}

static void
redis_discover(const NxConnectorCall *call, NxConnectorResult *out)
{
	nxr_with_login(call, out, nxr_discover_body);
}

/*
 * One operation of a change: find its change type in the table, read and
 * check its parameters before connecting, log in, and run the type's
 * function for op.  execute checks again first: the server may have
 * changed since pre_check.
 */
static void
nxr_change_op(const NxConnectorCall *call, NxConnectorResult *out, NxRedisOp op)
{
	const NxRedisChange *ch = NULL;
	NxRedisArgs a;
	NxRedis    *r;

	for (size_t i = 0; call->change_type && i < lengthof(changes); i++)
		if (strcmp(changes[i]->name, call->change_type->name) == 0)
			ch = changes[i];
	if (ch == NULL)
	{
		nx_connector_fail(out, "the redis connector has no such change type");
		return;
	}
	if (!nxr_read_args(call, out, ch->rules, &a))
		return;
	r = nxr_new(call, out);
	PG_TRY();
	{
		if (nxr_step(r, 5, "connecting") && nxr_open(r))
		{
			switch (op)
			{
				case NXR_PRE_CHECK:
					/* with execute's rollback state, stored before execute */
					out->ok = ch->check(r, &a);
					if (out->ok && ch->rollback_state != NULL &&
						(out->rollback_state = ch->rollback_state(r, &a)) == NULL)
						out->ok = false;
					break;
				case NXR_EXECUTE:
					if (ch->check(r, &a))
						ch->execute(r, &a);
					break;
				case NXR_VERIFY:
					ch->verify(r, &a);
					break;
				case NXR_ROLLBACK:
					ch->rollback(r, &a);
					break;
				case NXR_FINISH:
					if (ch->finish != NULL)
						ch->finish(r, &a);
					else
						nx_connector_fail(out, "a %s has nothing to finish", ch->name);
					break;
			}
		}
	}
	PG_FINALLY();
	{
		nxr_close(r);
	}
	PG_END_TRY();
}

static void
redis_pre_check(const NxConnectorCall *call, NxConnectorResult *out)
{
	nxr_change_op(call, out, NXR_PRE_CHECK);
}

static void
redis_execute(const NxConnectorCall *call, NxConnectorResult *out)
{
	nxr_change_op(call, out, NXR_EXECUTE);
}

static void
redis_verify(const NxConnectorCall *call, NxConnectorResult *out)
{
	nxr_change_op(call, out, NXR_VERIFY);
}

static void
redis_rollback(const NxConnectorCall *call, NxConnectorResult *out)
{
	nxr_change_op(call, out, NXR_ROLLBACK);
}

static void
redis_finish_rotation(const NxConnectorCall *call, NxConnectorResult *out)
{
	nxr_change_op(call, out, NXR_FINISH);
}

const NxConnector nx_redis_connector = {
	.name = "redis",
	.description = "Redis ACL users: passwords, creation and disabling.",
	.config_fields = config_fields,
	.credential_fields = credential_fields,
	.change_types = change_types,
	.test = redis_test,
	.discover = redis_discover,
	.pre_check = redis_pre_check,
	.execute = redis_execute,
	.verify = redis_verify,
	.rollback = redis_rollback,
	.finish_rotation = redis_finish_rotation,
};
