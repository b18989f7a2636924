/*
 * command_table.h -- the commands an agent may run, and their parameters.
 *
 * One table, compiled into both the agent (which checks every command again
 * before it runs it) and the extension (which checks a command when it is
 * queued), so the two sides cannot disagree about what is allowed.  Plain
 * C data and one pure function: no library, no allocation, so the same
 * file builds in a PostgreSQL backend and in a C11 program.
 *
 * docs/agent.md says what each command runs.
 */
#ifndef NX_AGENT_COMMAND_TABLE_H
#define NX_AGENT_COMMAND_TABLE_H

#include <stdbool.h>
#include <stddef.h>

typedef enum NxAgentParamType
{
	NX_AGENT_STRING,
	NX_AGENT_INTEGER,
	NX_AGENT_BOOLEAN
} NxAgentParamType;

/* What characters a string parameter may hold, and in what shape. */
typedef enum NxAgentCharset
{
	NX_AGENT_CS_USER,			/* POSIX user name: [a-z_][a-z0-9_-]*, at most 32 */
	NX_AGENT_CS_UNIT,			/* systemd unit: [A-Za-z0-9:_.@-]+ with a known suffix */
	NX_AGENT_CS_SSH_KEY,		/* one OpenSSH public key line: "type base64 [comment]" */
	NX_AGENT_CS_PATH,			/* absolute path, no "..", no "//", printable ASCII */
	NX_AGENT_CS_BASE64,			/* standard base64 with padding */
	NX_AGENT_CS_SHA256,			/* 64 lowercase hex digits, or "absent" */
	NX_AGENT_CS_CRYPT_HASH,		/* a crypt(3) hash: $y$, $6$, $5$ or $2b$ prefix */
	NX_AGENT_CS_MODE			/* octal file mode: 0644, 600, ... (at most 0777) */
} NxAgentCharset;

typedef struct NxAgentParam
{
	const char *name;			/* NULL ends a command's table */
	NxAgentParamType type;
	bool		required;
	size_t		max_len;		/* strings: bytes */
	NxAgentCharset charset;		/* strings */
	long		min;			/* integers */
	long		max;
	const char *description;
} NxAgentParam;

typedef struct NxAgentCommand
{
	const char *name;			/* NULL ends the table */
	const NxAgentParam *params;
	bool		changes_host;	/* false: read-only (status, facts) */
	bool		can_revert;		/* may be queued with confirm_within */
	int			default_timeout_s;
	const char *description;
} NxAgentCommand;

/* Longest timeout a command may be queued with, in seconds. */
#define NX_AGENT_MAX_TIMEOUT_S	300
/* Largest decoded file.write content, and a report's output, in bytes. */
#define NX_AGENT_MAX_FILE_BYTES	(256 * 1024)
#define NX_AGENT_MAX_OUTPUT_BYTES (32 * 1024)
/* Largest request or report body either side accepts, in bytes. */
#define NX_AGENT_MAX_BODY_BYTES	(64 * 1024)

extern const NxAgentCommand nx_agent_commands[];

/* The command of that name, or NULL. */
extern const NxAgentCommand *nx_agent_command_find(const char *name);

/* The parameter of that name of command c, or NULL. */
extern const NxAgentParam *nx_agent_param_find(const NxAgentCommand *c, const char *name);

/*
 * Whether s (len bytes, not necessarily NUL-terminated) is a valid value
 * for string parameter p: its length and its charset's shape.  Embedded
 * NULs, control characters and anything outside the charset fail.
 */
extern bool nx_agent_string_ok(const NxAgentParam *p, const char *s, size_t len);

#endif							/* NX_AGENT_COMMAND_TABLE_H */
