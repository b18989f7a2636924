/*-------------------------------------------------------------------------
 *
 * nexplane.h
 *	  The one header that gathers PostgreSQL's includes and the pieces the
 *	  extension's files share: SQLSTATEs of class NX, the parameters, and
 *	  the small helpers every SQL-callable function leans on.
 *
 *-------------------------------------------------------------------------
 */
#ifndef NEXPLANE_H
#define NEXPLANE_H

#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "guc.h"

/*
 * Errors use SQLSTATE class NX with the HTTP status in the last three
 * digits, so the API shim maps them mechanically.
 */
#define ERRCODE_NX_BAD_INPUT		MAKE_SQLSTATE('N','X','4','0','0')
#define ERRCODE_NX_UNAUTHENTICATED	MAKE_SQLSTATE('N','X','4','0','1')
#define ERRCODE_NX_FORBIDDEN		MAKE_SQLSTATE('N','X','4','0','3')
#define ERRCODE_NX_NOT_FOUND		MAKE_SQLSTATE('N','X','4','0','4')
#define ERRCODE_NX_CONFLICT			MAKE_SQLSTATE('N','X','4','0','9')
#define ERRCODE_NX_TOO_LARGE		MAKE_SQLSTATE('N','X','4','1','3')
#define ERRCODE_NX_INVALID			MAKE_SQLSTATE('N','X','4','2','2')
#define ERRCODE_NX_RATE_LIMITED		MAKE_SQLSTATE('N','X','4','2','9')
#define ERRCODE_NX_INTERNAL			MAKE_SQLSTATE('N','X','5','0','0')

/* args.c */
extern text *nx_arg_text(FunctionCallInfo fcinfo, int argno, const char *name,
						 int maxlen);
extern bool nx_uuid_parse(const char *s, pg_uuid_t *out);
extern char *nx_uuid_out(const pg_uuid_t *u);

/* tokens.c */
extern void nx_openssl_error(const char *what) pg_attribute_noreturn();
extern char *nx_random_token(const char *prefix);
extern bytea *nx_sha256(const char *data, size_t len);
extern char *nx_base64url_encode(const unsigned char *data, int len);
extern unsigned char *nx_base64url_decode(const char *src, int srclen,
										  int *outlen);
extern bool nx_hkdf_sha256(const unsigned char *key, size_t keylen, const char *label,
						   unsigned char *out, size_t outlen);

/* json_fields.c */
extern char *nx_jsonb_get_cstring(Jsonb *jb, const char *key);
extern bool nx_jsonb_get_int64(Jsonb *jb, const char *key, int64 *out);
extern bool nx_jsonb_get_bool(Jsonb *jb, const char *key);
extern Jsonb *nx_jsonb_parse(const char *json, int len);

/* secret_params.c */
extern void nx_secret_guard(void);

/*
 * NX_TAKES_SECRET(fn) { ... } defines the SQL-callable function fn whose
 * body runs only after nx_secret_guard(): before any argument is checked,
 * so that no error of the body can log the secret it was passed.
 */
#define NX_TAKES_SECRET(fn) \
	static Datum fn##_body(FunctionCallInfo fcinfo); \
	PG_FUNCTION_INFO_V1(fn); \
	Datum fn(PG_FUNCTION_ARGS) \
	{ \
		nx_secret_guard(); \
		return fn##_body(fcinfo); \
	} \
	static Datum fn##_body(FunctionCallInfo fcinfo)

/* pki.c: NX403 unless the caller is the API shim's role itself */
extern void nx_require_shim(void);
extern bool nx_agent_ca_rewrap(void);

/* agents.c: NX422 naming it unless the command and params are allowlisted */
extern void nx_agent_command_check(const char *command, Jsonb *params);

/* tenants.c */
extern void nx_check_email(const char *email);

#endif							/* NEXPLANE_H */
