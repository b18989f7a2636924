/*-------------------------------------------------------------------------
 *
 * login_throttle.h
 *	  Failed-login counting and lock-out in shared memory, per account and
 *	  source address.
 *
 *-------------------------------------------------------------------------
 */
#ifndef NX_LOGIN_THROTTLE_H
#define NX_LOGIN_THROTTLE_H

extern void nx_throttle_init(void);
extern char *nx_throttle_source(FunctionCallInfo fcinfo, int argno);
extern bool nx_throttle_is_locked(const char *email, const char *source);
extern void nx_throttle_failure(const char *email, const char *source);
extern void nx_throttle_success(const char *email, const char *source);

#endif							/* NX_LOGIN_THROTTLE_H */
