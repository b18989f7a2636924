/*-------------------------------------------------------------------------
 *
 * redis_client.h
 *	  What the redis connector's files share: a connection to the server
 *	  (hiredis, every wait bounded by the call's deadline), reading ACL
 *	  users, validating names and rules, and building the JSON it reports.
 *
 * Not a public header: only connectors/redis*.c include it.
 *
 *-------------------------------------------------------------------------
 */
#ifndef NX_REDIS_CLIENT_H
#define NX_REDIS_CLIENT_H

#include "connector.h"

#include "lib/stringinfo.h"

#include <hiredis/hiredis.h>

/*
 * One connection and the last reply read on it.  The reply stays until the
 * next command or nxr_close, so callers read what they need from it first;
 * nxr_close (in PG_FINALLY) frees both, whatever happened.
 */
typedef struct NxRedis
{
	redisContext *ctx;
	redisReply *reply;
	const NxConnectorCall *call;
	NxConnectorResult *out;
	char	   *host;
	int			port;
	char	   *login;			/* the connector's own user name */
} NxRedis;

/* How a login attempt ended. */
typedef enum NxRedisLogin
{
	NXR_LOGIN_OK,
	NXR_LOGIN_REFUSED,			/* the server said no: wrong password, user off */
	NXR_LOGIN_ERROR				/* could not ask: out says why */
} NxRedisLogin;

/* An ACL user as ACL GETUSER shows it. */
typedef struct NxRedisUser
{
	bool		exists;
	bool		on;
	bool		nopass;
	int			npasswords;
	char	  **hashes;			/* the password hashes: used, never reported */
	char	   *flags;			/* all flags, space-separated */
	char	   *keys;			/* "~a* ~b:*" */
	char	   *channels;
	char	   *commands;
	int			nselectors;
} NxRedisUser;

/* What a change's parameters say, read and validated once per operation. */
typedef struct NxRedisArgs
{
	char	   *username;
	int			nkeys;
	char	  **keys;			/* key patterns, without the "~" */
	int			ncategories;
	char	  **categories;		/* "+@read", "-@write", ... */
} NxRedisArgs;

/* redis_client.c: the connection */
extern NxRedis *nxr_new(const NxConnectorCall *call, NxConnectorResult *out);
extern bool nxr_open(NxRedis *r);
extern void nxr_close(NxRedis *r);
extern redisReply *nxr_command(NxRedis *r, bool secret, int argc, const char **argv);
extern redisReply *nxr_command_raw(NxRedis *r, int argc, const char **argv);
extern NxRedisLogin nxr_try_login(const NxConnectorCall *call, NxConnectorResult *out,
								  const char *user, const char *password);
extern bool nxr_step(NxRedis *r, int percent, const char *what);
extern void nxr_progress(NxRedis *r, int percent, const char *what);
extern bool nxr_persist(NxRedis *r, StringInfo result);
extern void nxr_secret_free(char *s);

/* redis_acl.c: users, names and rules */
extern bool nxr_get_user(NxRedis *r, const char *name, NxRedisUser *u);
extern bool nxr_client_list(NxRedis *r, char **list);
extern int	nxr_clients_of(const char *list, const char *name);
extern bool nxr_count_clients(NxRedis *r, const char *name, int *count);
extern bool nxr_kill_clients(NxRedis *r, const char *name, int64 *killed);
extern bool nxr_set_user(NxRedis *r, const char *name, bool secret, int nrules,
						 const char **rules);
extern const char *nxr_check_username(const char *name);
extern bool nxr_read_args(const NxConnectorCall *call, NxConnectorResult *out,
						  bool rules, NxRedisArgs *a);
extern char *nxr_password_hash(const char *password);
extern char *nxr_joined(int n, char **items, const char *prefix);

/* redis_client.c: the JSON objects it reports (result, evidence, state) */
extern int	nxr_json_bool_field(Jsonb *jb, const char *key);

/* redis_password.c and redis_users.c: the change types */
typedef struct NxRedisChange
{
	const char *name;
	/* may it run now?  (pre_check, and execute before it acts) */
	bool		(*check) (NxRedis *r, const NxRedisArgs *a);
	void		(*execute) (NxRedis *r, const NxRedisArgs *a);
	void		(*verify) (NxRedis *r, const NxRedisArgs *a);
	void		(*rollback) (NxRedis *r, const NxRedisArgs *a);

	/*
	 * pre_check's rollback state: the one execute would store, read before
	 * the target is touched (NULL, out saying why, when it cannot be
	 * read).  NULL for a change without rollback.
	 */
	Jsonb	   *(*rollback_state) (NxRedis *r, const NxRedisArgs *a);

	/*
	 * The recovery's end of a rotation lost inside its overlap (both
	 * passwords log in): remove every password but new_secret's.  NULL
	 * for every change but rotate_password.
	 */
	void		(*finish) (NxRedis *r, const NxRedisArgs *a);
	bool		rules;			/* does it take key patterns and categories? */
} NxRedisChange;

extern const NxRedisChange nxr_rotate_password;
extern const NxRedisChange nxr_create_user;
extern const NxRedisChange nxr_delete_user;
extern const NxRedisChange nxr_disable_user;
extern const NxRedisChange nxr_enable_user;

#endif							/* NX_REDIS_CLIENT_H */
