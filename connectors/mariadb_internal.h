/*-------------------------------------------------------------------------
 *
 * mariadb_internal.h
 *	  What the files of the mariadb connector share: the client layer over
 *	  libmariadb (mariadb_client.c), accounts (mariadb_account.c),
 *	  passwords (mariadb_password.c), privileges (mariadb_privileges.c) and
 *	  the changes built on them (mariadb_accounts.c, mariadb_grants.c).
 *
 * Everything is allocated in the caller's memory context, which the
 * engine resets after the operation; only MYSQL handles are the client
 * library's, and whoever opens one closes it in PG_FINALLY.
 *
 *-------------------------------------------------------------------------
 */
#ifndef NX_MARIADB_INTERNAL_H
#define NX_MARIADB_INTERNAL_H

#include "connector.h"

#include "lib/stringinfo.h"

#include <mysql.h>

/* An account as the server names it: 'user'@'host'. */
typedef struct NxmAccount
{
	char	   *user;
	char	   *host;			/* NULL until looked up on the target */
} NxmAccount;

/* An account as mysql.global_priv shows it. */
typedef struct NxmAccountState
{
	bool		exists;
	bool		locked;
	char	   *plugin;			/* NULL when the row names none */
	bool		other_methods;	/* IDENTIFIED VIA ... OR ...: more ways in */
} NxmAccountState;

/* The rows of a query, copied out of the client library's memory. */
typedef struct NxmRows
{
	int			nrows;
	int			ncols;
	char	  **values;			/* row-major; NULL for SQL NULL */
} NxmRows;

#define NXM_VALUE(rows, r, c) ((rows)->values[(r) * (rows)->ncols + (c)])

/* A privilege object: db.table, or db.* when table is NULL. */
typedef struct NxmObject
{
	char	   *db;
	char	   *table;
} NxmObject;

/* A set of privileges: bit i is the allowlist's entry i. */
typedef uint32 NxmPrivSet;

/* What a change names, read and checked from its parameters. */
typedef struct NxmPlan
{
	NxmAccount	account;
	const char *password;		/* the secret to set (rotations, create_user) */
	NxmObject	object;			/* grant and revoke */
	NxmPrivSet	privileges;
	bool		turn_on;		/* lock_user and grant; not unlock_user, revoke */
} NxmPlan;

/* The longest names the server takes (MariaDB 10.11). */
#define NXM_MAX_USER		80
#define NXM_MAX_HOST		255
#define NXM_MAX_IDENT		64

/* mariadb_client.c */
extern MYSQL *nxm_open(const NxConnectorCall *call, const char *user, const char *password,
					   bool admin, unsigned int *err_no, char **err_text);
extern MYSQL *nxm_connect_admin(const NxConnectorCall *call, NxConnectorResult *out);
extern bool nxm_exec(MYSQL *db, const char *sql, const char *what, const char *redact,
					 NxConnectorResult *out);
extern NxmRows *nxm_query(MYSQL *db, const char *sql, const char *what, NxConnectorResult *out);
extern char *nxm_literal(MYSQL *db, const char *s);
extern char *nxm_ident(const char *s);
extern bool nxm_step(const NxConnectorCall *call, int percent, const char *what,
					 NxConnectorResult *out);
extern Jsonb *nxm_jsonb(StringInfo json);
extern void nxm_json_str(StringInfo buf, const char *key, const char *value, bool comma);

/* mariadb_account.c */
extern bool nxm_valid_user(const char *s);
extern bool nxm_valid_host(const char *s);
extern bool nxm_account_from(Jsonb *jb, const char *what, NxmAccount *a, NxConnectorResult *out);
extern char *nxm_account_sql(MYSQL *db, const NxmAccount *a);
extern char *nxm_account_display(const NxmAccount *a);
extern void nxm_account_json(StringInfo buf, const NxmAccount *a);
extern bool nxm_json_true(const char *v);
extern bool nxm_account_state(MYSQL *db, NxmAccount *a, NxmAccountState *st,
							  NxConnectorResult *out);
extern bool nxm_account_resolve(MYSQL *db, NxmAccount *a, NxConnectorResult *out);
extern bool nxm_account_is_self(MYSQL *db, const NxmAccount *a, bool *self,
								NxConnectorResult *out);
extern Jsonb *nxm_plan_source(const NxConnectorCall *call, const char **what);
extern bool nxm_plan_account(const NxConnectorCall *call, NxmPlan *plan,
							 NxConnectorResult *out);
extern bool nxm_require_user(const NxmPlan *plan, NxConnectorResult *out);
extern bool nxm_require_rollback_state(const NxConnectorCall *call, NxConnectorResult *out);
extern void nxm_result_start(StringInfo buf, const NxmAccount *a);
extern Jsonb *nxm_result_end(StringInfo buf);
extern Jsonb *nxm_account_result(const NxmAccount *a);

/* mariadb_password.c */
extern char *nxm_native_hash(const char *password);
extern bool nxm_login_proves(const NxConnectorCall *call, const NxmAccount *a,
							 const char *password, StringInfo evidence, NxConnectorResult *out);

/* mariadb_privileges.c */
extern bool nxm_parse_object(const char *s, NxmObject *o, char **why);
extern bool nxm_parse_privileges(const char *s, const NxmObject *o, NxmPrivSet *set, char **why);
extern char *nxm_privileges_text(NxmPrivSet set);
extern char *nxm_object_sql(const NxmObject *o);
extern char *nxm_object_display(const NxmObject *o);
extern bool nxm_object_exists(MYSQL *db, const NxmObject *o, bool *exists, NxConnectorResult *out);
extern bool nxm_privileges_held(MYSQL *db, const NxmAccount *a, const NxmObject *o,
								NxmPrivSet *held, NxConnectorResult *out);

/*
 * A change of this connector: its parameters read and checked before the
 * target is touched (prepare), then one step per operation, each given an
 * open admin connection.  mariadb.c walks a table of them.
 */
typedef bool (*NxmPrepareFn) (const NxConnectorCall *call, NxmPlan *plan, NxConnectorResult *out);
typedef void (*NxmStepFn) (const NxConnectorCall *call, MYSQL *db, NxmPlan *plan,
						   NxConnectorResult *out);

typedef struct NxmChange
{
	const char *name;			/* the change type's */
	NxmPrepareFn prepare;
	NxmStepFn	pre_check;
	NxmStepFn	execute;
	NxmStepFn	verify;
	NxmStepFn	rollback;		/* NULL: cannot be rolled back */
	bool		verify_alone;	/* verify needs no admin connection (db NULL) */
} NxmChange;

/* mariadb_accounts.c and mariadb_grants.c */
extern const NxmChange nxm_rotate_password;
extern const NxmChange nxm_create_user;
extern const NxmChange nxm_drop_user;
extern const NxmChange nxm_lock_user;
extern const NxmChange nxm_unlock_user;
extern const NxmChange nxm_grant;
extern const NxmChange nxm_revoke;

#endif							/* NX_MARIADB_INTERNAL_H */
