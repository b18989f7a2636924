/*
 * host_internal.h -- what host.c and the commands' files (host_users.c,
 * host_service.c, host_ssh.c, host_files.c) share and nothing else of the
 * agent uses: the report shapes, the program runner, and the functions the
 * dispatch, the undo and the check call.  agent.h has the agent-wide API
 * (nx_host_run, nx_host_prepare_undo, nx_host_undo, nx_host_check).
 */
#ifndef NX_HOST_INTERNAL_H
#define NX_HOST_INTERNAL_H

#include "agent.h"

/* the largest managed file the agent backs up and rewrites */
#define MAX_MANAGED_BYTES (16 * 1024 * 1024)

/* host.c: a report {state, error}, a succeeded one with its output, and run() */
extern json_t *report(const char *state, const char *error);
extern json_t *succeeded(json_t *output);
extern json_t *run(const char *const argv[], const char *stdin_data, int timeout_s, int ok2,
				   NxExecResult *keep);

/* host_users.c */
extern json_t *user_lock(const NxCommand *c);
extern json_t *user_unlock(const NxCommand *c);
extern json_t *user_set_password(const NxCommand *c);

/* host_service.c: verb is restart, reload or show */
extern json_t *service(const NxCommand *c, const char *verb);

/* host_ssh.c: ~user/.ssh and its authorized_keys, open while an edit or a look lasts */
typedef struct SshFiles {
	int home, ssh;
	uid_t uid;
	gid_t gid;
	char *content; /* current authorized_keys, NUL-terminated */
	size_t len;
} SshFiles;
extern const char *ssh_open(const char *user, SshFiles *f);
extern bool ssh_has(const SshFiles *f, const char *key);
extern void ssh_close(SshFiles *f);
extern json_t *ssh_key(const NxCommand *c, bool add);

/* host_files.c */
extern json_t *file_undo(NxAgent *a, const NxCommand *c, char *err, size_t errlen,
						 const char **state);
extern json_t *file_write(NxAgent *a, const NxCommand *c, json_t *undo);
extern int managed_put(const char *path, const void *data, size_t len, mode_t mode, uid_t uid,
					   gid_t gid);

#endif /* NX_HOST_INTERNAL_H */
