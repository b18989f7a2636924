/*
 * agent.h -- what the parts of nexplane-agent share: the configuration,
 * the parsed command, the executor, file helpers, the dead-man store, the
 * report store and the HTTP client.  Each group is implemented in the file
 * named above it; docs/agent.md is the contract they follow.
 */
#ifndef NX_AGENT_H
#define NX_AGENT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include <jansson.h>

#include "command_table.h"

#define NX_AGENT_VERSION "0.1"
/* A dead-man command's window when none was given, and its bounds. */
#define NX_AGENT_DEFAULT_CONFIRM_S 120
#define NX_AGENT_MIN_CONFIRM_S 10
#define NX_AGENT_MAX_CONFIRM_S 3600
/* Finished commands' reports and backups are kept this long. */
#define NX_AGENT_DONE_KEEP_S (7 * 24 * 3600)

/* log.c */
typedef enum NxLogLevel { NX_LOG_DEBUG, NX_LOG_INFO, NX_LOG_WARN, NX_LOG_ERROR } NxLogLevel;
extern NxLogLevel nx_log_level;
extern void nx_log(NxLogLevel level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* config.c: /etc/nexplane/agent.conf, "key = value" lines, lists split on spaces */
#define NX_AGENT_MAX_FILES 64
typedef struct NxConfig {
	char url[512];
	char state_dir[512];
	char *managed_files[NX_AGENT_MAX_FILES];
	int n_managed;
	char *risky_files[NX_AGENT_MAX_FILES];
	int n_risky;
	int poll_wait;	 /* seconds a poll is held, 1..30 */
	int heartbeat_s; /* seconds between heartbeats */
	char sshd_path[256];
} NxConfig;
extern void nx_config_defaults(NxConfig *c);
extern int nx_config_load(NxConfig *c, const char *path, char *err, size_t errlen);
extern void nx_config_free(NxConfig *c);
extern bool nx_config_managed(const NxConfig *c, const char *path);
extern bool nx_config_risky(const NxConfig *c, const char *path);

/* command.c: a command as the poll delivers it, checked against the table */
typedef struct NxCommand {
	char id[37];
	const NxAgentCommand *def;
	json_t *params; /* a reference of the checked object */
	int timeout_s;
	int confirm_within_s; /* 0: none given */
} NxCommand;
typedef enum NxParse {
	NX_PARSE_OK,
	NX_PARSE_REFUSED,  /* has a usable id: report "refused" with the error */
	NX_PARSE_MALFORMED /* no usable id: nothing to report to */
} NxParse;
extern NxParse nx_command_parse(json_t *obj, NxCommand *out, char *err, size_t errlen);
extern NxParse nx_command_parse_text(const char *buf, size_t len, NxCommand *out, char *err,
									 size_t errlen);
extern void nx_command_free(NxCommand *c);
extern bool nx_uuid_ok(const char *s);
/* the string value of a checked parameter, or NULL */
extern const char *nx_param(const NxCommand *c, const char *name);

/* exec.c: one program, by absolute path, no shell */
typedef struct NxExecResult {
	int exit_code; /* -1: killed or not run */
	bool timed_out;
	bool truncated;
	char *output; /* stdout and stderr, NUL-terminated, at most the cap */
	size_t output_len;
} NxExecResult;
extern int nx_exec(const char *const argv[], const char *stdin_data, int timeout_s,
				   NxExecResult *r);
extern void nx_exec_free(NxExecResult *r);

/* files.c */
extern void nx_sha256_hex(const void *data, size_t len, char out[65]);
extern char *nx_base64_encode(const void *data, size_t len);
extern unsigned char *nx_base64_decode(const char *s, size_t *len);
extern int nx_read_file(const char *path, size_t max, unsigned char **data, size_t *len);
extern int nx_write_durable(const char *path, const void *data, size_t len, mode_t mode);
extern int nx_write_json(const char *path, json_t *obj);
extern json_t *nx_read_json(const char *path);
extern int nx_fsync_dir(const char *dir);
extern int nx_mkdir_private(const char *path);
extern int nx_dir_chain_safe(const char *path, char *err, size_t errlen);

/* host.c, with the commands in host_users.c, host_service.c, host_ssh.c, host_files.c */
typedef struct NxAgent NxAgent;
/* The undo of a dead-man command, filled before anything changes. */
extern json_t *nx_host_prepare_undo(NxAgent *a, const NxCommand *c, char *err, size_t errlen,
									const char **state);
/* Run the command; returns a report object (state succeeded/failed/refused). */
extern json_t *nx_host_run(NxAgent *a, const NxCommand *c);
extern json_t *nx_host_run_with(NxAgent *a, const NxCommand *c, json_t *undo);
/* Program output as a JSON string: anything not printable ASCII becomes '?'. */
extern json_t *nx_json_text(const char *s, size_t len);
/* Apply an undo made by nx_host_prepare_undo; 0 on success. */
extern int nx_host_undo(NxAgent *a, json_t *undo, char *err, size_t errlen);
/* The check after a dead-man change: NULL when it passed (what it checked in *what). */
extern char *nx_host_check(NxAgent *a, const NxCommand *c, char *what, size_t whatlen);
extern json_t *nx_host_facts(void);
extern const char *nx_host_home_root; /* host_ssh.c; tests: where homes may live ("" = any) */

/* state.c: STATE_DIR/done/<id>.json, each command's reports and how many were sent */
extern bool nx_done_exists(NxAgent *a, const char *id);
extern int nx_done_add(NxAgent *a, const char *id, json_t *report);
extern void nx_done_resend_last(NxAgent *a, const char *id);
extern int nx_done_flush(NxAgent *a);
extern void nx_done_prune(NxAgent *a, time_t now);

/* deadman.c: STATE_DIR/pending/<id>.json */
extern bool nx_pending_exists(NxAgent *a, const char *id);
extern int nx_pending_arm(NxAgent *a, const NxCommand *c, json_t *undo, time_t deadline);
extern int nx_pending_confirm(NxAgent *a, const char *id);
extern int nx_pending_tick(NxAgent *a, time_t now, time_t *next_deadline);
extern bool nx_command_is_deadman(NxAgent *a, const NxCommand *c, int *window_s);
extern void nx_handle_command(NxAgent *a, const NxCommand *c);

/* http.c: libcurl, TLS verified against ca.pem alone (or not at all for the CA fetch) */
typedef enum NxHttpStatus { NX_HTTP_NET = -1 } NxHttpStatus;
extern long nx_http(NxAgent *a, const char *method, const char *path, json_t *body,
					long timeout_s, bool verify, bool client_cert, json_t **answer);
extern volatile int nx_stop;

/* enroll.c and run.c */
struct NxAgent {
	NxConfig conf;
	char url[512];
	char path_ca[600], path_key[600], path_cert[600], path_json[600];
	char agent_id[37];
	int generation;
	time_t not_before, not_after;
	bool offline; /* the last call did not reach the shim */
	bool revoked; /* the last call was refused with 403 */
};
extern void nx_agent_paths(NxAgent *a);
extern int nx_enroll(const char *url, const char *token, const char *pin, const char *state_dir,
					 const char *key_type);
extern int nx_run(const char *config_path, bool once);
extern int nx_renew_now(const char *config_path);
extern int nx_cert_times(const char *path, time_t *not_before, time_t *not_after);
extern int nx_renew(NxAgent *a);
extern char *nx_state_path(NxAgent *a, const char *sub, const char *name);
extern char *nx_state_record(NxAgent *a, const char *sub, const char *id);
extern bool nx_state_record_exists(NxAgent *a, const char *sub, const char *id);

#endif /* NX_AGENT_H */
