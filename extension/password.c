/*-------------------------------------------------------------------------
 *
 * password.c
 *	  bcrypt password hashing through libxcrypt, cost 12.
 *
 * Verification of an unknown email runs against a dummy hash of the same
 * cost so that "no such user" and "wrong password" take the same time.
 *
 *-------------------------------------------------------------------------
 */
#include "nexplane.h"
#include "password.h"

#include <crypt.h>
#include <openssl/crypto.h>

#define NX_BCRYPT_COST 12

/* bcrypt, cost 12, of a random string nobody knows */
static const char dummy_hash[] =
"$2b$12$JTGAlD9721fxnmZ9d.wbfuXfno1opIpYhtkoZIk6GMe3Lln4Hxmn.";

void
nx_password_check_policy(const char *password)
{
	size_t		len = strlen(password);

	if (len < 12)
		ereport(ERROR,
				(errcode(ERRCODE_NX_INVALID),
				 errmsg("password is too short"),
				 errdetail("Passwords need at least 12 characters.")));
	/* bcrypt reads only the first 72 bytes: refuse what would be cut */
	if (len > 72)
		ereport(ERROR,
				(errcode(ERRCODE_NX_INVALID),
				 errmsg("password is too long"),
				 errdetail("Passwords may have at most 72 bytes.")));
}

char *
nx_password_hash(const char *password)
{
	char		setting[CRYPT_GENSALT_OUTPUT_SIZE];
	struct crypt_data *cd = palloc0(sizeof(struct crypt_data));
	char	   *result;

	if (crypt_gensalt_rn("$2b$", NX_BCRYPT_COST, NULL, 0,
						 setting, sizeof(setting)) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NX_INTERNAL),
				 errmsg("could not generate a password salt")));
	if (crypt_rn(password, setting, cd, sizeof(*cd)) == NULL ||
		cd->output[0] == '*')
		ereport(ERROR,
				(errcode(ERRCODE_NX_INTERNAL),
				 errmsg("could not hash the password")));
	result = pstrdup(cd->output);
	explicit_bzero(cd, sizeof(*cd));
	pfree(cd);
	return result;
}

/* Constant-time comparison; stored_hash NULL checks against the dummy. */
bool
nx_password_verify(const char *password, const char *stored_hash)
{
	struct crypt_data *cd = palloc0(sizeof(struct crypt_data));
	const char *setting = stored_hash ? stored_hash : dummy_hash;
	bool		ok = false;
	size_t		len = strlen(setting);

	if (crypt_rn(password, setting, cd, sizeof(*cd)) != NULL &&
		cd->output[0] != '*' && strlen(cd->output) == len)
		ok = CRYPTO_memcmp(cd->output, setting, len) == 0;
	explicit_bzero(cd, sizeof(*cd));
	pfree(cd);
	return ok && stored_hash != NULL;
}

NX_TAKES_SECRET(nx_password_hash_sql)
{
	char	   *pw = text_to_cstring(nx_arg_text(fcinfo, 0, "password", 1024));

	nx_password_check_policy(pw);
	PG_RETURN_TEXT_P(cstring_to_text(nx_password_hash(pw)));
}
