/*-------------------------------------------------------------------------
 *
 * mariadb_privileges.c
 *	  Privileges of the mariadb connector: the allowlist a grant or revoke
 *	  may name, the objects it may name (db.* or db.table), and what an
 *	  account holds on one, read from the grant tables.
 *
 * Only privileges on one database or one table are managed: global ones
 * (*.*), GRANT OPTION, ALL PRIVILEGES and the administrative privileges
 * are not on the list, and the system schemas are refused, since a grant
 * on mysql.* is as good as every privilege.
 *
 * At the database level the server reads '_' and '%' in a database name
 * as wildcards: a grant on `my_db`.* would also cover `myXdb`.  Names may
 * not hold '%', and '_' is written '\_' there, so a grant covers exactly
 * the database named; mysql.db keeps the name in that form.
 *
 *-------------------------------------------------------------------------
 */
#include "mariadb_internal.h"

/* One privilege the connector grants and revokes. */
typedef struct NxmPrivilege
{
	const char *name;			/* in GRANT, and in params.privileges */
	const char *db_column;		/* its 'Y'/'N' column of mysql.db */
	const char *table_name;		/* its name in mysql.tables_priv's set, or
								 * NULL: not a table privilege */
} NxmPrivilege;

static const NxmPrivilege privileges[] = {
	{"SELECT", "Select_priv", "Select"},
	{"INSERT", "Insert_priv", "Insert"},
	{"UPDATE", "Update_priv", "Update"},
	{"DELETE", "Delete_priv", "Delete"},
	{"CREATE", "Create_priv", "Create"},
	{"DROP", "Drop_priv", "Drop"},
	{"REFERENCES", "References_priv", "References"},
	{"INDEX", "Index_priv", "Index"},
	{"ALTER", "Alter_priv", "Alter"},
	{"CREATE TEMPORARY TABLES", "Create_tmp_table_priv", NULL},
	{"LOCK TABLES", "Lock_tables_priv", NULL},
	{"CREATE VIEW", "Create_view_priv", "Create View"},
	{"SHOW VIEW", "Show_view_priv", "Show view"},
	{"CREATE ROUTINE", "Create_routine_priv", NULL},
	{"ALTER ROUTINE", "Alter_routine_priv", NULL},
	{"EXECUTE", "Execute_priv", NULL},
	{"EVENT", "Event_priv", NULL},
	{"TRIGGER", "Trigger_priv", "Trigger"},
	{"DELETE HISTORY", "Delete_history_priv", "Delete versioning rows"},
};

StaticAssertDecl(lengthof(privileges) <= 32, "an NxmPrivSet has 32 bits");

/* Schemas whose privileges would be privileges over the server itself. */
static const char *const system_schemas[] = {
	"mysql", "information_schema", "performance_schema", "sys",
};

#define NXM_MAX_PRIVILEGES_TEXT 512

/* A database or table name: letters, digits, '_', '$' and '-'. */
static bool
nxm_valid_ident(const char *s)
{
	size_t		len = strlen(s);

	if (len == 0 || len > NXM_MAX_IDENT)
		return false;
	for (const char *p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			  (*p >= '0' && *p <= '9') || *p == '_' || *p == '$' || *p == '-'))
			return false;
	return true;
}

/* nxm_parse_object reads "db.*" or "db.table"; why says what is wrong. */
bool
nxm_parse_object(const char *s, NxmObject *o, char **why)
{
	const char *dot = strchr(s, '.');

	if (dot == NULL || strchr(dot + 1, '.') != NULL)
	{
		*why = "params.object must be db.* or db.table (one dot)";
		return false;
	}
	o->db = pnstrdup(s, dot - s);
	o->table = strcmp(dot + 1, "*") == 0 ? NULL : pstrdup(dot + 1);
	if (strcmp(o->db, "*") == 0)
	{
		*why = "global privileges (*.*) are not managed by this connector; name a database";
		return false;
	}
	if (!nxm_valid_ident(o->db) || (o->table != NULL && !nxm_valid_ident(o->table)))
	{
		*why = psprintf("params.object's names must be 1 to %d letters, digits or the "
						"characters _ $ -", NXM_MAX_IDENT);
		return false;
	}
	for (size_t i = 0; i < lengthof(system_schemas); i++)
		if (pg_strcasecmp(o->db, system_schemas[i]) == 0)
		{
			*why = psprintf("privileges on the system schema %s are not managed by this connector",
							system_schemas[i]);
			return false;
		}
	return true;
}

/* A token of params.privileges, if it is short and plain enough to repeat. */
static const char *
nxm_echo(const char *token)
{
	if (strlen(token) > 32)
		return "(a long name)";
	for (const char *p = token; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == ' '))
			return "(a name with other characters)";
	return token;
}

/*
 * nxm_parse_privileges reads a comma-separated list ("SELECT, insert,
 * create view") into a set, each privilege on the allowlist and one that
 * the object's level has.
 */
bool
nxm_parse_privileges(const char *s, const NxmObject *o, NxmPrivSet *set, char **why)
{
	char	   *copy;
	char	   *save = NULL;

	*set = 0;
	if (strlen(s) > NXM_MAX_PRIVILEGES_TEXT)
	{
		*why = psprintf("params.privileges is longer than %d characters", NXM_MAX_PRIVILEGES_TEXT);
		return false;
	}
	copy = pstrdup(s);
	for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
	{
		StringInfoData name;
		size_t		i;

		/* trim, and one space between words */
		initStringInfo(&name);
		for (char *p = tok; *p; p++)
		{
			if (*p == ' ' || *p == '\t' || *p == '\n')
			{
				if (name.len > 0 && name.data[name.len - 1] != ' ')
					appendStringInfoChar(&name, ' ');
			}
			else
				appendStringInfoChar(&name, *p);
		}
		if (name.len > 0 && name.data[name.len - 1] == ' ')
			name.data[--name.len] = '\0';
		if (name.len == 0)
			continue;
		for (i = 0; i < lengthof(privileges); i++)
			if (pg_strcasecmp(name.data, privileges[i].name) == 0)
				break;
		if (i == lengthof(privileges))
		{
			*why = psprintf("params.privileges names %s, which is not one this connector grants "
							"(it grants %s)", nxm_echo(name.data),
							nxm_privileges_text((NxmPrivSet) ((1ULL << lengthof(privileges)) - 1)));
			return false;
		}
		if (o->table != NULL && privileges[i].table_name == NULL)
		{
			*why = psprintf("%s is not a table privilege: name the database (%s.*)",
							privileges[i].name, o->db);
			return false;
		}
		*set |= (NxmPrivSet) 1 << i;
	}
	if (*set == 0)
	{
		*why = "params.privileges names no privilege";
		return false;
	}
	return true;
}

/* "SELECT, INSERT" in the allowlist's order. */
char *
nxm_privileges_text(NxmPrivSet set)
{
	StringInfoData buf;

	initStringInfo(&buf);
	for (size_t i = 0; i < lengthof(privileges); i++)
		if (set & ((NxmPrivSet) 1 << i))
			appendStringInfo(&buf, "%s%s", buf.len ? ", " : "", privileges[i].name);
	return buf.data;
}

/* A database name as a database-level grant takes it: '_' literal, not a wildcard. */
static char *
nxm_db_pattern(const char *dbname)
{
	StringInfoData buf;

	initStringInfo(&buf);
	for (const char *p = dbname; *p; p++)
	{
		if (*p == '_')
			appendStringInfoChar(&buf, '\\');
		appendStringInfoChar(&buf, *p);
	}
	return buf.data;
}

/* The object for GRANT and REVOKE: `db`.`table`, or `db`.* with '_' escaped. */
char *
nxm_object_sql(const NxmObject *o)
{
	if (o->table != NULL)
		return psprintf("%s.%s", nxm_ident(o->db), nxm_ident(o->table));
	return psprintf("%s.*", nxm_ident(nxm_db_pattern(o->db)));
}

char *
nxm_object_display(const NxmObject *o)
{
	return psprintf("%s.%s", o->db, o->table ? o->table : "*");
}

/* nxm_object_exists: does the database or table exist (for the connector's login)? */
bool
nxm_object_exists(MYSQL *db, const NxmObject *o, bool *exists, NxConnectorResult *out)
{
	NxmRows    *rows;

	if (o->table == NULL)
		rows = nxm_query(db, psprintf("SELECT 1 FROM information_schema.SCHEMATA"
									  " WHERE SCHEMA_NAME = %s", nxm_literal(db, o->db)),
						 "look up the database", out);
	else
		rows = nxm_query(db, psprintf("SELECT 1 FROM information_schema.TABLES"
									  " WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s",
									  nxm_literal(db, o->db), nxm_literal(db, o->table)),
						 "look up the table", out);
	if (rows == NULL)
		return false;
	*exists = rows->nrows > 0;
	return true;
}

/*
 * nxm_privileges_held reads the privileges the account holds on exactly
 * this object (mysql.db or mysql.tables_priv); privileges that reach it
 * another way (global, role, wildcard database) are not counted.
 */
bool
nxm_privileges_held(MYSQL *db, const NxmAccount *a, const NxmObject *o, NxmPrivSet *held,
					NxConnectorResult *out)
{
	NxmRows    *rows;
	char	   *who = psprintf("User = %s AND Host = %s", nxm_literal(db, a->user),
							   nxm_literal(db, a->host));

	*held = 0;
	if (o->table == NULL)
	{
		StringInfoData cols;

		initStringInfo(&cols);
		for (size_t i = 0; i < lengthof(privileges); i++)
			appendStringInfo(&cols, "%s%s", i ? ", " : "", privileges[i].db_column);
		rows = nxm_query(db, psprintf("SELECT %s FROM mysql.db WHERE %s AND Db = %s", cols.data,
									  who, nxm_literal(db, nxm_db_pattern(o->db))),
						 "read the account's privileges from mysql.db", out);
		if (rows == NULL)
			return false;
		for (int r = 0; r < rows->nrows; r++)
			for (size_t i = 0; i < lengthof(privileges); i++)
				if (NXM_VALUE(rows, r, i) != NULL && strcmp(NXM_VALUE(rows, r, i), "Y") == 0)
					*held |= (NxmPrivSet) 1 << i;
		return true;
	}
	rows = nxm_query(db, psprintf("SELECT Table_priv FROM mysql.tables_priv WHERE %s"
								  " AND Db = %s AND Table_name = %s", who,
								  nxm_literal(db, o->db), nxm_literal(db, o->table)),
					 "read the account's privileges from mysql.tables_priv", out);
	if (rows == NULL)
		return false;
	for (int r = 0; r < rows->nrows; r++)
	{
		char	   *set = NXM_VALUE(rows, r, 0);
		char	   *save = NULL;

		if (set == NULL)
			continue;
		for (char *tok = strtok_r(set, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
			for (size_t i = 0; i < lengthof(privileges); i++)
				if (privileges[i].table_name && pg_strcasecmp(tok, privileges[i].table_name) == 0)
					*held |= (NxmPrivSet) 1 << i;
	}
	return true;
}
