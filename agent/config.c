/*
 * config.c -- the agent's configuration file (agent/agent.conf shows every
 * key).  "key = value" lines, '#' comments; list values are split on
 * spaces.  An unknown key or a bad value is an error naming the line: a
 * typo in managed_files must not silently leave a file unmanaged.
 */
#include "agent.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
nx_config_defaults(NxConfig *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->state_dir, sizeof(c->state_dir), "/var/lib/nexplane-agent");
	c->risky_files[c->n_risky++] = strdup("/etc/ssh/sshd_config");
	c->poll_wait = 30;
	c->heartbeat_s = 60;
	snprintf(c->sshd_path, sizeof(c->sshd_path), "/usr/sbin/sshd");
}

void
nx_config_free(NxConfig *c)
{
	for (int i = 0; i < c->n_managed; i++)
		free(c->managed_files[i]);
	for (int i = 0; i < c->n_risky; i++)
		free(c->risky_files[i]);
	c->n_managed = c->n_risky = 0;
}

static char *
trim(char *s)
{
	char *end;

	while (isspace((unsigned char) *s))
		s++;
	end = s + strlen(s);
	while (end > s && isspace((unsigned char) end[-1]))
		*--end = '\0';
	return s;
}

/* Paths of a list must be what the command table calls a path. */
static int
set_list(char **list, int *n, char *value, char *err, size_t errlen, int lineno)
{
	const NxAgentParam *p = nx_agent_param_find(nx_agent_command_find("file.write"), "path");
	char *save = NULL;

	for (int i = 0; i < *n; i++)
		free(list[i]);
	*n = 0;
	for (char *tok = strtok_r(value, " \t,", &save); tok; tok = strtok_r(NULL, " \t,", &save))
	{
		if (!nx_agent_string_ok(p, tok, strlen(tok)))
		{
			snprintf(err, errlen, "line %d: \"%s\" is not an absolute path", lineno, tok);
			return -1;
		}
		if (*n == NX_AGENT_MAX_FILES)
		{
			snprintf(err, errlen, "line %d: more than %d paths", lineno, NX_AGENT_MAX_FILES);
			return -1;
		}
		list[(*n)++] = strdup(tok);
	}
	return 0;
}

static int
set_int(int *out, const char *value, int min, int max, char *err, size_t errlen, int lineno)
{
	char *end;
	long v = strtol(value, &end, 10);

	if (*value == '\0' || *end != '\0' || v < min || v > max)
	{
		snprintf(err, errlen, "line %d: expected an integer from %d to %d", lineno, min, max);
		return -1;
	}
	*out = (int) v;
	return 0;
}

static int
set_str(char *out, size_t size, const char *value, char *err, size_t errlen, int lineno)
{
	if (strlen(value) >= size)
	{
		snprintf(err, errlen, "line %d: value too long", lineno);
		return -1;
	}
	snprintf(out, size, "%s", value);
	return 0;
}

int
nx_config_load(NxConfig *c, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	char line[8192];
	int lineno = 0;
	int rc = 0;

	if (f == NULL)
	{
		snprintf(err, errlen, "cannot open %s: %m", path);
		return -1;
	}
	while (rc == 0 && fgets(line, sizeof(line), f))
	{
		char *s, *eq, *key, *value;

		lineno++;
		if (strchr(line, '\n') == NULL && !feof(f))
		{
			snprintf(err, errlen, "line %d: too long", lineno);
			rc = -1;
			break;
		}
		s = trim(line);
		if (*s == '\0' || *s == '#')
			continue;
		eq = strchr(s, '=');
		if (eq == NULL)
		{
			snprintf(err, errlen, "line %d: expected key = value", lineno);
			rc = -1;
			break;
		}
		*eq = '\0';
		key = trim(s);
		value = trim(eq + 1);
		if (strcmp(key, "url") == 0)
			rc = set_str(c->url, sizeof(c->url), value, err, errlen, lineno);
		else if (strcmp(key, "state_dir") == 0)
			rc = set_str(c->state_dir, sizeof(c->state_dir), value, err, errlen, lineno);
		else if (strcmp(key, "sshd") == 0)
			rc = set_str(c->sshd_path, sizeof(c->sshd_path), value, err, errlen, lineno);
		else if (strcmp(key, "managed_files") == 0)
			rc = set_list(c->managed_files, &c->n_managed, value, err, errlen, lineno);
		else if (strcmp(key, "risky_files") == 0)
			rc = set_list(c->risky_files, &c->n_risky, value, err, errlen, lineno);
		else if (strcmp(key, "poll_wait") == 0)
			rc = set_int(&c->poll_wait, value, 1, 30, err, errlen, lineno);
		else if (strcmp(key, "heartbeat") == 0)
			rc = set_int(&c->heartbeat_s, value, 5, 3600, err, errlen, lineno);
		else if (strcmp(key, "log_level") == 0)
		{
			if (strcmp(value, "debug") == 0)
				nx_log_level = NX_LOG_DEBUG;
			else if (strcmp(value, "info") == 0)
				nx_log_level = NX_LOG_INFO;
			else if (strcmp(value, "warning") == 0)
				nx_log_level = NX_LOG_WARN;
			else if (strcmp(value, "error") == 0)
				nx_log_level = NX_LOG_ERROR;
			else
			{
				snprintf(err, errlen, "line %d: log_level is debug, info, warning or error",
						 lineno);
				rc = -1;
			}
		}
		else
		{
			snprintf(err, errlen, "line %d: unknown key \"%.64s\"", lineno, key);
			rc = -1;
		}
	}
	fclose(f);
	if (rc == 0 && c->state_dir[0] != '/')
	{
		snprintf(err, errlen, "state_dir must be an absolute path");
		rc = -1;
	}
	return rc;
}

static bool
in_list(char *const *list, int n, const char *path)
{
	for (int i = 0; i < n; i++)
		if (strcmp(list[i], path) == 0)
			return true;
	return false;
}

bool
nx_config_managed(const NxConfig *c, const char *path)
{
	return in_list(c->managed_files, c->n_managed, path);
}

bool
nx_config_risky(const NxConfig *c, const char *path)
{
	return in_list(c->risky_files, c->n_risky, path);
}
