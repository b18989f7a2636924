/*-------------------------------------------------------------------------
 *
 * login_throttle.h
 *	  Failed-login counting and account lock-out in shared memory.
 *
 *-------------------------------------------------------------------------
 */
#ifndef NX_LOGIN_THROTTLE_H
#define NX_LOGIN_THROTTLE_H

extern void nx_throttle_init(void);
extern bool nx_throttle_is_locked(const char *email);
extern void nx_throttle_failure(const char *email);
extern void nx_throttle_success(const char *email);

#endif							/* NX_LOGIN_THROTTLE_H */
