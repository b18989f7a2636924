/*-------------------------------------------------------------------------
 *
 * postgresql.c
 *	  The postgresql connector: roles of a PostgreSQL server, over libpq.
 *
 * Here: its fields and change types (the tables the rest of Nexplane
 * reads), test and discover, the checks every change's parameters pass,
 * and the dispatch of pre_check, execute, verify and rollback to the
 * change's own code (postgresql_roles.c, postgresql_password.c), each run
 * in a session on the target (postgresql_session.c).
 *
 * docs/connectors/postgresql.md says what each change does on the target
 * and the privileges the connector's login needs.
 *
 *-------------------------------------------------------------------------
 */
#include "postgresql_int.h"

#include "utils/json.h"
#include "utils/numeric.h"

#include <ctype.h>

/* At most this many roles and databases each in one discovery. */
#define NX_PG_DISCOVER_MAX 10000

static const NxField config_fields[] = {
	{"host", NX_FIELD_STRING, true, "Host name or address of the server (TCP only)."},
	{"port", NX_FIELD_INTEGER, false, "TCP port (default 5432)."},
	{"database", NX_FIELD_STRING, false, "Database to connect to (default postgres)."},
	{"sslmode", NX_FIELD_STRING, false, "libpq sslmode; verify-full checks the certificate."},
	{"sslrootcert", NX_FIELD_STRING, false, "PEM file of the CA that signed the server's certificate."},
	/* read by the engine, which makes rotations' passwords */
	{"password_length", NX_FIELD_INTEGER, false, "Length of generated passwords, 16 to 128 (default 32)."},
	{.name = NULL}
};

static const NxField credential_fields[] = {
	{"username", NX_FIELD_STRING, true, "A role with CREATEROLE (and the roles it grants)."},
	{"password", NX_FIELD_STRING, true, "Its password."},
	{.name = NULL}
};

static const NxField rotate_params[] = {
	{.name = "credential_id", .type = NX_FIELD_STRING, .required = false,
	 .description = "The account's credential, whose username is the role; without it, the"
	 " connector's own login is rotated."},
	{.name = NULL}
};

static const NxField create_params[] = {
	{.name = "role", .type = NX_FIELD_STRING, .required = true,
	 .description = "The new role's name."},
	{.name = "login", .type = NX_FIELD_BOOLEAN, .required = false,
	 .description = "Whether it may log in (default true). It gets no password: rotate one."},
	{.name = "connection_limit", .type = NX_FIELD_INTEGER, .required = false,
	 .description = "Its concurrent connection limit, -1 (the default) for none."},
	{.name = NULL}
};

static const NxField role_params[] = {
	{.name = "role", .type = NX_FIELD_STRING, .required = true, .description = "The role."},
	{.name = NULL}
};

static const NxField membership_params[] = {
	{.name = "role", .type = NX_FIELD_STRING, .required = true,
	 .description = "The role whose membership is granted or revoked (the group)."},
	{.name = "member", .type = NX_FIELD_STRING, .required = true,
	 .description = "The role that gains or loses it."},
	{.name = NULL}
};

static const NxChangeType change_types[] = {
	{.name = "rotate_password", .class = NX_CHANGE_MODIFYING, .risk_weight = NX_WEIGHT_MODIFYING,
	 .rollback = true, .description = "Give a role a new generated password.",
	 .params = rotate_params, .rotates_secret = true},
	{.name = "create_role", .class = NX_CHANGE_ADDITIVE, .risk_weight = NX_WEIGHT_ADDITIVE,
	 .rollback = true, .description = "Create a login role.", .params = create_params},
	{.name = "drop_role", .class = NX_CHANGE_DESTRUCTIVE, .risk_weight = NX_WEIGHT_DESTRUCTIVE,
	 .rollback = false, .description = "Drop a role.", .params = role_params},
	{.name = "lock_role", .class = NX_CHANGE_MODIFYING, .risk_weight = NX_WEIGHT_MODIFYING,
	 .rollback = true, .description = "Make a role NOLOGIN and end its sessions.",
	 .params = role_params},
	{.name = "unlock_role", .class = NX_CHANGE_MODIFYING, .risk_weight = NX_WEIGHT_MODIFYING,
	 .rollback = true, .description = "Make a role LOGIN again.", .params = role_params},
	{.name = "grant_role", .class = NX_CHANGE_ADDITIVE, .risk_weight = NX_WEIGHT_ADDITIVE,
	 .rollback = true, .description = "Grant a role membership in another.",
	 .params = membership_params},
	{.name = "revoke_role", .class = NX_CHANGE_DESTRUCTIVE, .risk_weight = NX_WEIGHT_DESTRUCTIVE,
	 .rollback = true, .description = "Revoke a role's membership in another.",
	 .params = membership_params},
	{.name = NULL}
};

/* ---- fields ---------------------------------------------------------- */

/* The value of key in object jb, or NULL when absent (or jb no object). */
JsonbValue *
nx_pg_field(Jsonb *jb, const char *key)
{
	JsonbValue	k = {.type = jbvString};

	if (jb == NULL || !JB_ROOT_IS_OBJECT(jb))
		return NULL;
	k.val.string.val = (char *) key;
	k.val.string.len = strlen(key);
	return findJsonbValueFromContainer(&jb->root, JB_FOBJECT, &k);
}

/* An integral number that fits int64 (no fractions, no ERROR on 1e100). */
bool
nx_pg_get_int(Jsonb *jb, const char *key, int64 *value)
{
	JsonbValue *v = nx_pg_field(jb, key);
	char	   *digits, *end;

	if (v == NULL || v->type != jbvNumeric)
		return false;
	digits = numeric_normalize(v->val.numeric);
	if (strlen(digits) > 18)
		return false;
	errno = 0;
	*value = strtoll(digits, &end, 10);
	return errno == 0 && end != digits && *end == '\0';
}

/*
 * A role name Nexplane manages: 1 to 63 bytes of letters, digits and
 * _ . @ - (so user@example.com works), not starting with a dash, and not
 * a pg_ name (PostgreSQL reserves them).  Quoting makes any name safe in
 * SQL; this keeps requests legible and refuses what is surely a mistake.
 */
bool
nx_pg_check_name(NxConnectorResult *out, const char *what, const char *name)
{
	size_t		n = strlen(name);

	if (n == 0 || n > 63)
	{
		nx_connector_fail(out, "%s must be 1 to 63 bytes long", what);
		return false;
	}
	for (const char *c = name; *c; c++)
		if (!(isalnum((unsigned char) *c) || *c == '_' || *c == '.' || *c == '@' || *c == '-'))
		{
			nx_connector_fail(out, "%s may hold only letters, digits and _ . @ -", what);
			return false;
		}
	if (name[0] == '-' || strncmp(name, "pg_", 3) == 0)
	{
		nx_connector_fail(out, "%s may not start with a dash or pg_", what);
		return false;
	}
	return true;
}

/*
 * Check params against the change type's table: every key declared, of
 * its type, the required ones present (when required: a rollback works
 * from its rollback state and may come without them).  cr_create checks
 * the same; a direct call must not get past it either.
 */
static bool
nx_pg_check_params(NxConnectorResult *out, const NxChangeType *t, Jsonb *params, bool required)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;

	if (params != NULL && !JB_ROOT_IS_OBJECT(params))
	{
		nx_connector_fail(out, "params must be a JSON object");
		return false;
	}
	if (params != NULL)
	{
		it = JsonbIteratorInit(&params->root);
		while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
		{
			const NxField *f;
			char	   *key;

			if (tok != WJB_KEY)
				continue;
			key = pnstrdup(v.val.string.val, v.val.string.len);
			for (f = t->params; f->name && strcmp(f->name, key) != 0; f++)
				;
			if (f->name == NULL)
			{
				nx_connector_fail(out, "%s takes no parameter \"%.64s\"", t->name, key);
				return false;
			}
		}
	}
	for (const NxField *f = t->params; f->name; f++)
	{
		JsonbValue *fv = nx_pg_field(params, f->name);
		static const enum jbvType types[] = {
			[NX_FIELD_STRING] = jbvString,
			[NX_FIELD_INTEGER] = jbvNumeric,
			[NX_FIELD_BOOLEAN] = jbvBool,
		};
		static const char *const names[] = {
			[NX_FIELD_STRING] = "a string",
			[NX_FIELD_INTEGER] = "an integer",
			[NX_FIELD_BOOLEAN] = "true or false",
		};

		if (fv == NULL && f->required && required)
		{
			nx_connector_fail(out, "%s needs the parameter %s", t->name, f->name);
			return false;
		}
		if (fv != NULL && fv->type != types[f->type])
		{
			nx_connector_fail(out, "parameter %s must be %s", f->name, names[f->type]);
			return false;
		}
	}
	return true;
}

/* A role name field of obj (params or rollback state), checked. */
static bool
nx_pg_name_field(NxConnectorResult *out, Jsonb *obj, const char *from, const char *key,
				 const char **name)
{
	char	   *v = nx_jsonb_get_cstring(obj, key);
	char	   *what = psprintf("%s %s", from, key);

	if (v == NULL)
	{
		nx_connector_fail(out, "%s is missing", what);
		return false;
	}
	*name = v;
	return nx_pg_check_name(out, what, v);
}

/*
 * The checked parameters of the call.  A rotation's role and password
 * come from the secret the engine made; a rollback's role and member from
 * the rollback state execute stored (what was done is what is undone).
 */
static bool
nx_pg_params(const NxConnectorCall *call, NxConnectorResult *out, bool rollback, NxPgParams *p)
{
	const NxChangeType *t = call->change_type;
	bool		membership = t->params == membership_params;
	Jsonb	   *from = rollback ? call->rollback_state : call->params;
	const char *fromname = rollback ? "rollback state" : "params";
	int64		limit = -1;

	memset(p, 0, sizeof(*p));
	p->login = true;
	p->connection_limit = -1;
	if (!nx_pg_check_params(out, t, call->params, !rollback))
		return false;
	if (t->rotates_secret)
		return true;			/* postgresql_password.c reads the secrets */
	if (rollback && (from == NULL || !JB_ROOT_IS_OBJECT(from)))
	{
		nx_connector_fail(out, "%s has no rollback state to restore", t->name);
		return false;
	}
	if (!nx_pg_name_field(out, from, fromname, "role", &p->role))
		return false;
	if (membership && !nx_pg_name_field(out, from, fromname, "member", &p->member))
		return false;
	if (membership && strcmp(p->role, p->member) == 0)
	{
		nx_connector_fail(out, "a role cannot be a member of itself");
		return false;
	}
	if (nx_pg_field(call->params, "login") != NULL)
		p->login = nx_jsonb_get_bool(call->params, "login");
	if (nx_pg_field(call->params, "connection_limit") != NULL &&
		(!nx_pg_get_int(call->params, "connection_limit", &limit) || limit < -1 ||
		 limit > 100000))
	{
		nx_connector_fail(out, "parameter connection_limit must be an integer from -1 to 100000");
		return false;
	}
	p->connection_limit = (int) limit;
	return true;
}

/* ---- reports --------------------------------------------------------- */

/* ---- test and discover ----------------------------------------------- */

static void
nx_pg_test_body(NxPgSession *s, const NxPgParams *p)
{
	NxPgRows   *rows;
	StringInfoData buf;

	rows = nx_pg_exec(s, "reading the server and the login",
					  "SELECT pg_catalog.current_setting('server_version'),"
					  " pg_catalog.current_setting('server_version_num'), r.rolname,"
					  " pg_catalog.current_database(), r.rolsuper, r.rolcreaterole,"
					  " pg_catalog.pg_has_role('pg_signal_backend', 'MEMBER')"
					  " FROM pg_catalog.pg_roles r WHERE r.rolname = SESSION_USER",
					  0, NULL);
	if (rows == NULL)
		return;
	if (rows->ntuples != 1)
	{
		nx_connector_fail(s->out, "the target does not show the connector's own role");
		return;
	}
	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	nx_json_str(&buf, "server_version", NX_PG_VALUE(rows, 0, 0));
	nx_json_int(&buf, "server_version_num", atoi(NX_PG_VALUE(rows, 0, 1)));
	nx_json_str(&buf, "user", NX_PG_VALUE(rows, 0, 2));
	nx_json_str(&buf, "database", NX_PG_VALUE(rows, 0, 3));
	nx_json_bool(&buf, "superuser", strcmp(NX_PG_VALUE(rows, 0, 4), "t") == 0);
	nx_json_bool(&buf, "createrole", strcmp(NX_PG_VALUE(rows, 0, 5), "t") == 0);
	nx_json_bool(&buf, "can_end_sessions", strcmp(NX_PG_VALUE(rows, 0, 6), "t") == 0);
	nx_json_bool(&buf, "ssl", PQsslInUse(s->conn));
	appendStringInfoChar(&buf, '}');
	s->out->result = nx_json_parse(&buf);
}

static void
nx_pg_test(const NxConnectorCall *call, NxConnectorResult *out)
{
	nx_pg_run(call, out, call->credential, nx_pg_test_body, NULL);
}

static bool
nx_pg_true(const char *v)
{
	return v != NULL && strcmp(v, "t") == 0;
}

/*
 * Roles (but PostgreSQL's own pg_ roles) with their attributes and the
 * roles they are members of, and databases.  Memberships come as rows of
 * their own (one per pair: PostgreSQL 16 keeps a grant per grantor),
 * merged by name in C order, so no text from the target is ever spliced
 * into the JSON unescaped.
 */
static void
nx_pg_discover_body(NxPgSession *s, const NxPgParams *p)
{
	NxPgRows   *roles, *members, *dbs;
	StringInfoData buf;
	const char *limit = psprintf("%d", NX_PG_DISCOVER_MAX + 1);
	bool		truncated;
	int			m = 0;

	roles = nx_pg_exec(s, "listing roles",
					   "SELECT r.rolname, r.rolcanlogin, r.rolsuper, r.rolcreaterole,"
					   " r.rolcreatedb, r.rolreplication, r.rolbypassrls, r.rolconnlimit,"
					   " r.rolvaliduntil"
					   " FROM pg_catalog.pg_roles r WHERE r.rolname !~ '^pg_'"
					   " ORDER BY r.rolname COLLATE \"C\" LIMIT $1::int", 1, &limit);
	if (roles == NULL || !nx_pg_step(s, 40, "listing memberships"))
		return;
	members = nx_pg_exec(s, "listing memberships",
						 "SELECT u.rolname, g.rolname, bool_or(m.admin_option)"
						 " FROM pg_catalog.pg_auth_members m"
						 " JOIN pg_catalog.pg_roles u ON u.oid = m.member"
						 " JOIN pg_catalog.pg_roles g ON g.oid = m.roleid"
						 " WHERE u.rolname !~ '^pg_' GROUP BY 1, 2"
						 " ORDER BY u.rolname COLLATE \"C\", g.rolname COLLATE \"C\"", 0, NULL);
	if (members == NULL || !nx_pg_step(s, 70, "listing databases"))
		return;
	dbs = nx_pg_exec(s, "listing databases",
					 "SELECT d.datname, pg_catalog.pg_get_userbyid(d.datdba),"
					 " pg_catalog.pg_encoding_to_char(d.encoding), d.datallowconn,"
					 " d.datistemplate, d.datconnlimit"
					 " FROM pg_catalog.pg_database d"
					 " ORDER BY d.datname COLLATE \"C\" LIMIT $1::int", 1, &limit);
	if (dbs == NULL)
		return;

	truncated = roles->ntuples > NX_PG_DISCOVER_MAX || dbs->ntuples > NX_PG_DISCOVER_MAX;
	initStringInfo(&buf);
	appendStringInfoString(&buf, "{\"assets\": [");
	for (int r = 0; r < Min(roles->ntuples, NX_PG_DISCOVER_MAX); r++)
	{
		const char *name = NX_PG_VALUE(roles, r, 0);

		appendStringInfoString(&buf, r ? ", {" : "{");
		nx_json_str(&buf, "kind", "role");
		nx_json_str(&buf, "external_id", name);
		nx_json_str(&buf, "name", name);
		appendStringInfoString(&buf, ", \"attributes\": {");
		nx_json_bool(&buf, "login", nx_pg_true(NX_PG_VALUE(roles, r, 1)));
		nx_json_bool(&buf, "superuser", nx_pg_true(NX_PG_VALUE(roles, r, 2)));
		nx_json_bool(&buf, "createrole", nx_pg_true(NX_PG_VALUE(roles, r, 3)));
		nx_json_bool(&buf, "createdb", nx_pg_true(NX_PG_VALUE(roles, r, 4)));
		nx_json_bool(&buf, "replication", nx_pg_true(NX_PG_VALUE(roles, r, 5)));
		nx_json_bool(&buf, "bypassrls", nx_pg_true(NX_PG_VALUE(roles, r, 6)));
		nx_json_int(&buf, "connection_limit", atoi(NX_PG_VALUE(roles, r, 7)));
		nx_json_str(&buf, "valid_until", NX_PG_VALUE(roles, r, 8));
		nx_json_key(&buf, "member_of");
		appendStringInfoChar(&buf, '[');
		while (m < members->ntuples && strcmp(NX_PG_VALUE(members, m, 0), name) < 0)
			m++;
		for (bool first = true; m < members->ntuples &&
			 strcmp(NX_PG_VALUE(members, m, 0), name) == 0; m++, first = false)
		{
			appendStringInfoString(&buf, first ? "{" : ", {");
			nx_json_str(&buf, "role", NX_PG_VALUE(members, m, 1));
			nx_json_bool(&buf, "admin_option", nx_pg_true(NX_PG_VALUE(members, m, 2)));
			appendStringInfoChar(&buf, '}');
		}
		appendStringInfoString(&buf, "]}}");
	}
	for (int d = 0; d < Min(dbs->ntuples, NX_PG_DISCOVER_MAX); d++)
	{
		const char *name = NX_PG_VALUE(dbs, d, 0);

		appendStringInfoString(&buf, d || roles->ntuples ? ", {" : "{");
		nx_json_str(&buf, "kind", "database");
		nx_json_str(&buf, "external_id", name);
		nx_json_str(&buf, "name", name);
		appendStringInfoString(&buf, ", \"attributes\": {");
		nx_json_str(&buf, "owner", NX_PG_VALUE(dbs, d, 1));
		nx_json_str(&buf, "encoding", NX_PG_VALUE(dbs, d, 2));
		nx_json_bool(&buf, "allow_connections", nx_pg_true(NX_PG_VALUE(dbs, d, 3)));
		nx_json_bool(&buf, "template", nx_pg_true(NX_PG_VALUE(dbs, d, 4)));
		nx_json_int(&buf, "connection_limit", atoi(NX_PG_VALUE(dbs, d, 5)));
		appendStringInfoString(&buf, "}}");
	}
	appendStringInfoChar(&buf, ']');
	nx_json_bool(&buf, "truncated", truncated);
	appendStringInfoChar(&buf, '}');
	s->out->result = nx_json_parse(&buf);
}

static void
nx_pg_discover(const NxConnectorCall *call, NxConnectorResult *out)
{
	nx_pg_run(call, out, call->credential, nx_pg_discover_body, NULL);
}

/* ---- changes --------------------------------------------------------- */

static const NxPgChange *
nx_pg_change(const NxConnectorCall *call, NxConnectorResult *out)
{
	if (call->change_type == NULL)
	{
		nx_connector_fail(out, "no change type given");
		return NULL;
	}
	if (strcmp(call->change_type->name, nx_pg_rotate_password.name) == 0)
		return &nx_pg_rotate_password;
	for (const NxPgChange *c = nx_pg_role_changes; c->name; c++)
		if (strcmp(call->change_type->name, c->name) == 0)
			return c;
	nx_connector_fail(out, "the postgresql connector has no change %s", call->change_type->name);
	return NULL;
}

typedef enum NxPgOp
{
	NX_PG_PRE_CHECK,
	NX_PG_EXECUTE,
	NX_PG_VERIFY,
	NX_PG_ROLLBACK
} NxPgOp;

/*
 * Run one operation of the call's change: check its parameters, then run
 * its body in a session as the connector's login (a rotation's verify: as
 * the account, with the new secret).  A verify after a rollback reads the
 * rollback state as the rollback did.
 */
static void
nx_pg_dispatch(const NxConnectorCall *call, NxConnectorResult *out, NxPgOp op)
{
	const NxPgChange *c = nx_pg_change(call, out);
	NxPgParams	p;
	NxPgBody	body;
	Jsonb	   *login = call->credential;

	if (c == NULL)
		return;
	switch (op)
	{
		case NX_PG_PRE_CHECK:
			body = c->pre_check;
			break;
		case NX_PG_EXECUTE:
			body = c->execute;
			break;
		case NX_PG_VERIFY:
			body = c->verify;
			if (c->verify_as_account)
				login = call->new_secret;
			if (c->verify_as_account && nx_jsonb_get_cstring(login, "username") == NULL)
			{
				nx_connector_fail(out, "the new secret has no username to log in as");
				return;
			}
			break;
		case NX_PG_ROLLBACK:
		default:
			body = c->rollback;
			break;
	}
	if (body == NULL || (op == NX_PG_VERIFY && call->undoing && c->rollback == NULL))
	{
		nx_connector_fail(out, "%s cannot be rolled back", c->name);
		return;
	}
	if (!nx_pg_params(call, out, op == NX_PG_ROLLBACK || (op == NX_PG_VERIFY && call->undoing), &p))
		return;
	if (!nx_connector_step(call, 0, "connecting"))
	{
		nx_connector_fail(out, "cancelled");
		return;
	}
	/*
	 * A step once the change's statement has ended, as the other
	 * connectors' have: the lease is renewed and the lost-worker tests
	 * (engine_postgresql.sh) have a point between the write and verify.
	 */
	if (nx_pg_run(call, out, login, body, &p) && (op == NX_PG_EXECUTE || op == NX_PG_ROLLBACK))
		(void) nx_connector_step(call, 90, "done");
}

static void
nx_pg_pre_check(const NxConnectorCall *call, NxConnectorResult *out)
{
	nx_pg_dispatch(call, out, NX_PG_PRE_CHECK);
}

static void
nx_pg_execute(const NxConnectorCall *call, NxConnectorResult *out)
{
	nx_pg_dispatch(call, out, NX_PG_EXECUTE);
}

static void
nx_pg_verify(const NxConnectorCall *call, NxConnectorResult *out)
{
	nx_pg_dispatch(call, out, NX_PG_VERIFY);
}

static void
nx_pg_rollback(const NxConnectorCall *call, NxConnectorResult *out)
{
	nx_pg_dispatch(call, out, NX_PG_ROLLBACK);
}

const NxConnector nx_postgresql_connector = {
	.name = "postgresql",
	.description = "PostgreSQL roles: passwords, creation, locking and membership.",
	.config_fields = config_fields,
	.credential_fields = credential_fields,
	.change_types = change_types,
	.test = nx_pg_test,
	.discover = nx_pg_discover,
	.pre_check = nx_pg_pre_check,
	.execute = nx_pg_execute,
	.verify = nx_pg_verify,
	.rollback = nx_pg_rollback,
};
