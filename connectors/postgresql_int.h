/*-------------------------------------------------------------------------
 *
 * postgresql_int.h
 *	  What the postgresql connector's files share: a session on the target
 *	  (postgresql_session.c), the checked parameters of a change, the
 *	  change table (postgresql_roles.c, postgresql_password.c) and the
 *	  little JSON writer its reports use (postgresql.c).
 *
 * Everything here is private to the connector; the rest of the extension
 * sees only nx_postgresql_connector (connector.h).
 *
 *-------------------------------------------------------------------------
 */
#ifndef NX_POSTGRESQL_INT_H
#define NX_POSTGRESQL_INT_H

#include "connector.h"

#include "lib/stringinfo.h"

#include "libpq-fe.h"

/*
 * One operation's connection to the target, with the call it serves (for
 * its deadline and its step callback) and the result it reports into.
 */
typedef struct NxPgSession
{
	const NxConnectorCall *call;
	NxConnectorResult *out;
	PGconn	   *conn;
	const char *login;			/* the role it logged in as */
} NxPgSession;

/* A query's rows, copied out of libpq into palloc'd memory. */
typedef struct NxPgRows
{
	int			ntuples;
	int			nfields;
	char	  **values;			/* row-major; NULL for SQL NULL */
} NxPgRows;

#define NX_PG_VALUE(rows, r, c) ((rows)->values[(r) * (rows)->nfields + (c)])

/*
 * A change's parameters, checked: identifiers valid, types right.  For a
 * rotation, role and password come from the secret the engine made.
 */
typedef struct NxPgParams
{
	const char *role;
	const char *member;			/* grant_role, revoke_role */
	bool		login;			/* create_role */
	int			connection_limit;	/* create_role; -1 for none */
	const char *password;		/* rotations: the password to set */
} NxPgParams;

typedef void (*NxPgBody) (NxPgSession *s, const NxPgParams *p);

/* How one change type runs: each operation is a body run in a session. */
typedef struct NxPgChange
{
	const char *name;
	NxPgBody	pre_check;
	NxPgBody	execute;
	NxPgBody	verify;
	NxPgBody	rollback;
	bool		verify_as_account;	/* verify logs in with new_secret */
} NxPgChange;

/* postgresql_session.c */
extern bool nx_pg_run(const NxConnectorCall *call, NxConnectorResult *out, Jsonb *login,
					  NxPgBody body, const NxPgParams *p);
extern NxPgRows *nx_pg_exec(NxPgSession *s, const char *what, const char *sql, int nparams,
							const char *const *values);
extern char *nx_pg_ident(NxPgSession *s, const char *name);
extern char *nx_pg_literal(NxPgSession *s, const char *value);
extern bool nx_pg_step(NxPgSession *s, int percent, const char *step);
extern int	nx_pg_ms_left(const NxConnectorCall *call);

/* postgresql_roles.c and postgresql_password.c */
extern const NxPgChange nx_pg_role_changes[];
extern const NxPgChange nx_pg_rotate_password;

/* postgresql.c: reading fields, and the reports */
extern JsonbValue *nx_pg_field(Jsonb *jb, const char *key);
extern bool nx_pg_get_int(Jsonb *jb, const char *key, int64 *value);
extern bool nx_pg_check_name(NxConnectorResult *out, const char *what, const char *name);

#endif							/* NX_POSTGRESQL_INT_H */
