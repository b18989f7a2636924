/*
 * command_table.c -- the agent's allowlist: every command, its parameters,
 * and the shape each string parameter must have.
 *
 * Shared by agent/ and the extension (see command_table.h).  The checks
 * here are deliberately strict: a value is accepted only when it has the
 * shape the program it reaches expects, so nothing a requester types can
 * become an option, a second argument or a path outside what was meant.
 */
#include "command_table.h"

#include <string.h>

static const NxAgentParam user_only[] = {
	{"user", NX_AGENT_STRING, true, 32, NX_AGENT_CS_USER, 0, 0, "the local account"},
	{.name = NULL}
};

static const NxAgentParam set_password[] = {
	{"user", NX_AGENT_STRING, true, 32, NX_AGENT_CS_USER, 0, 0, "the local account"},
	{"hash", NX_AGENT_STRING, true, 256, NX_AGENT_CS_CRYPT_HASH, 0, 0,
	"the new password as a crypt(3) hash, never the plaintext"},
	{.name = NULL}
};

static const NxAgentParam ssh_key[] = {
	{"user", NX_AGENT_STRING, true, 32, NX_AGENT_CS_USER, 0, 0, "the local account"},
	{"key", NX_AGENT_STRING, true, 16384, NX_AGENT_CS_SSH_KEY, 0, 0,
	"one OpenSSH public key line: type, base64 and an optional comment"},
	{.name = NULL}
};

static const NxAgentParam unit_only[] = {
	{"unit", NX_AGENT_STRING, true, 255, NX_AGENT_CS_UNIT, 0, 0, "the systemd unit"},
	{.name = NULL}
};

static const NxAgentParam file_write[] = {
	{"path", NX_AGENT_STRING, true, 4096, NX_AGENT_CS_PATH, 0, 0,
	"absolute path of a file the agent's config lists in managed_files"},
	{"content", NX_AGENT_STRING, true, (NX_AGENT_MAX_FILE_BYTES / 3 + 1) * 4,
		NX_AGENT_CS_BASE64, 0, 0, "the new content, base64"},
	{"expected_sha256", NX_AGENT_STRING, true, 64, NX_AGENT_CS_SHA256, 0, 0,
	"SHA-256 of the file the change was approved against, or \"absent\""},
	{"mode", NX_AGENT_STRING, false, 4, NX_AGENT_CS_MODE, 0, 0,
	"octal mode of the file (default: kept, or 0644 for a new one)"},
	{.name = NULL}
};

static const NxAgentParam no_params[] = {
	{.name = NULL}
};

const NxAgentCommand nx_agent_commands[] = {
	{"user.lock", user_only, true, true, 60,
	"lock the password, expire the account and end the user's processes"},
	{"user.unlock", user_only, true, true, 60,
	"unlock the password and clear the account's expiry"},
	{"user.set_password", set_password, true, false, 60,
	"set the password from a crypt(3) hash"},
	{"ssh.authorized_key.add", ssh_key, true, true, 30,
	"add a key to the user's authorized_keys"},
	{"ssh.authorized_key.remove", ssh_key, true, true, 30,
	"remove a key from the user's authorized_keys"},
	{"service.restart", unit_only, true, false, 120, "restart a systemd unit"},
	{"service.reload", unit_only, true, false, 120, "reload a systemd unit"},
	{"service.status", unit_only, false, false, 30, "show a systemd unit's state"},
	{"file.write", file_write, true, true, 60,
	"write a managed file if it is still what the change was approved against"},
	{"facts.collect", no_params, false, false, 30, "collect the host's facts"},
	{.name = NULL}
};

const NxAgentCommand *
nx_agent_command_find(const char *name)
{
	if (name == NULL)
		return NULL;
	for (const NxAgentCommand *c = nx_agent_commands; c->name; c++)
		if (strcmp(c->name, name) == 0)
			return c;
	return NULL;
}

const NxAgentParam *
nx_agent_param_find(const NxAgentCommand *c, const char *name)
{
	if (c == NULL || name == NULL)
		return NULL;
	for (const NxAgentParam *p = c->params; p->name; p++)
		if (strcmp(p->name, name) == 0)
			return p;
	return NULL;
}

static bool
is_lower(char ch)
{
	return ch >= 'a' && ch <= 'z';
}

static bool
is_alpha(char ch)
{
	return is_lower(ch) || (ch >= 'A' && ch <= 'Z');
}

static bool
is_digit(char ch)
{
	return ch >= '0' && ch <= '9';
}

static bool
is_b64(char ch)
{
	return is_alpha(ch) || is_digit(ch) || ch == '+' || ch == '/';
}

static bool
has_prefix(const char *s, size_t len, const char *prefix)
{
	size_t		n = strlen(prefix);

	return len >= n && memcmp(s, prefix, n) == 0;
}

static bool
has_suffix(const char *s, size_t len, const char *suffix)
{
	size_t		n = strlen(suffix);

	return len > n && memcmp(s + len - n, suffix, n) == 0;
}

/* [a-z_][a-z0-9_-]*: what useradd accepts by default, minus a trailing '$'. */
static bool
user_ok(const char *s, size_t len)
{
	if (len == 0 || !(is_lower(s[0]) || s[0] == '_'))
		return false;
	for (size_t i = 1; i < len; i++)
		if (!(is_lower(s[i]) || is_digit(s[i]) || s[i] == '_' || s[i] == '-'))
			return false;
	return true;
}

static bool
unit_ok(const char *s, size_t len)
{
	static const char *const suffixes[] = {
		".service", ".socket", ".timer", ".target", ".path", ".mount", NULL
	};
	bool		suffix = false;

	if (len == 0 || s[0] == '-' || s[0] == '.')
		return false;
	for (size_t i = 0; i < len; i++)
		if (!(is_alpha(s[i]) || is_digit(s[i]) || strchr(":_.@-", s[i]) != NULL) || s[i] == '\0')
			return false;
	for (int i = 0; suffixes[i]; i++)
		if (has_suffix(s, len, suffixes[i]))
			suffix = true;
	return suffix;
}

/* standard base64, length a multiple of 4, '=' only as the last one or two */
static bool
base64_ok(const char *s, size_t len)
{
	size_t		pad = 0;

	if (len == 0 || len % 4 != 0)
		return false;
	while (pad < 2 && pad < len && s[len - 1 - pad] == '=')
		pad++;
	for (size_t i = 0; i < len - pad; i++)
		if (!is_b64(s[i]))
			return false;
	return true;
}

/* "type base64 [comment]" on one line, a key type OpenSSH knows */
static bool
ssh_key_ok(const char *s, size_t len)
{
	static const char *const types[] = {
		"ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384",
		"ecdsa-sha2-nistp521", "sk-ssh-ed25519@openssh.com",
		"sk-ecdsa-sha2-nistp256@openssh.com", NULL
	};
	size_t		type_len = 0,
				b64_start,
				b64_end;
	bool		known = false;

	for (size_t i = 0; i < len; i++)
		if ((unsigned char) s[i] < 0x20 || (unsigned char) s[i] > 0x7e)
			return false;
	while (type_len < len && s[type_len] != ' ')
		type_len++;
	for (int i = 0; types[i]; i++)
		if (type_len == strlen(types[i]) && memcmp(s, types[i], type_len) == 0)
			known = true;
	if (!known || type_len == len)
		return false;
	b64_start = type_len + 1;
	b64_end = b64_start;
	while (b64_end < len && s[b64_end] != ' ')
		b64_end++;
	/* the shortest real key blob (ed25519) is 68 base64 characters */
	if (b64_end - b64_start < 68 || !base64_ok(s + b64_start, b64_end - b64_start))
		return false;
	return true;
}

static bool
path_ok(const char *s, size_t len)
{
	if (len < 2 || s[0] != '/' || s[len - 1] == '/')
		return false;
	for (size_t i = 0; i < len; i++)
	{
		if ((unsigned char) s[i] <= 0x20 || (unsigned char) s[i] > 0x7e)
			return false;
		if (s[i] == '/' && i + 1 < len && s[i + 1] == '/')
			return false;
		/* a "." or ".." component */
		if (s[i] == '/' && i + 1 < len && s[i + 1] == '.' &&
			(i + 2 == len || s[i + 2] == '/' ||
			 (s[i + 2] == '.' && (i + 3 == len || s[i + 3] == '/'))))
			return false;
	}
	return true;
}

static bool
sha256_ok(const char *s, size_t len)
{
	if (len == 6 && memcmp(s, "absent", 6) == 0)
		return true;
	if (len != 64)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!(is_digit(s[i]) || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

static bool
crypt_hash_ok(const char *s, size_t len)
{
	if (!(has_prefix(s, len, "$y$") || has_prefix(s, len, "$6$") ||
		  has_prefix(s, len, "$5$") || has_prefix(s, len, "$2b$")))
		return false;
	if (len < 20)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!(is_alpha(s[i]) || is_digit(s[i]) || s[i] == '.' || s[i] == '/' || s[i] == '$'))
			return false;
	return true;
}

static bool
mode_ok(const char *s, size_t len)
{
	if (len < 3 || len > 4 || (len == 4 && s[0] != '0'))
		return false;
	for (size_t i = 0; i < len; i++)
		if (s[i] < '0' || s[i] > '7')
			return false;
	return true;
}

bool
nx_agent_string_ok(const NxAgentParam *p, const char *s, size_t len)
{
	if (p == NULL || s == NULL || p->type != NX_AGENT_STRING || len > p->max_len)
		return false;
	if (memchr(s, '\0', len) != NULL)
		return false;
	switch (p->charset)
	{
		case NX_AGENT_CS_USER:
			return user_ok(s, len);
		case NX_AGENT_CS_UNIT:
			return unit_ok(s, len);
		case NX_AGENT_CS_SSH_KEY:
			return ssh_key_ok(s, len);
		case NX_AGENT_CS_PATH:
			return path_ok(s, len);
		case NX_AGENT_CS_BASE64:
			return base64_ok(s, len);
		case NX_AGENT_CS_SHA256:
			return sha256_ok(s, len);
		case NX_AGENT_CS_CRYPT_HASH:
			return crypt_hash_ok(s, len);
		case NX_AGENT_CS_MODE:
			return mode_ok(s, len);
	}
	return false;
}
