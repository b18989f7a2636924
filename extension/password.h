/*-------------------------------------------------------------------------
 *
 * password.h
 *	  bcrypt password hashing and verification.
 *
 *-------------------------------------------------------------------------
 */
#ifndef NX_PASSWORD_H
#define NX_PASSWORD_H

extern void nx_password_check_policy(const char *password);
extern char *nx_password_hash(const char *password);
extern bool nx_password_verify(const char *password, const char *stored_hash);

#endif							/* NX_PASSWORD_H */
