/*
 * router.c -- route matching.
 *
 * A path is compared with each pattern segment by segment; a "{name}"
 * segment captures one decoded segment.  The first route in table order
 * whose pattern and method match wins.  Captured values are percent-decoded
 * with libevent and refused when they decode to a NUL byte or contain a
 * slash, so what reaches the binder is one plain segment.
 */
#include "router.h"

#include <event2/http.h>
#include <stdlib.h>
#include <string.h>

/* Compare one raw path segment [s, s+n) with one pattern segment [p, p+pn). */
static bool
segment_literal_eq(const char *s, size_t n, const char *p, size_t pn)
{
	return n == pn && memcmp(s, p, n) == 0;
}

/* Does path match pattern?  On success, fills captures (not yet decoded). */
static bool
pattern_match(const char *pattern, const char *path, RouteMatch *m)
{
	const char *p = pattern;
	const char *s = path;

	m->ncaptures = 0;
	while (*p == '/' && *s == '/')
	{
		const char *pe = strchr(p + 1, '/');
		const char *se = strchr(s + 1, '/');
		size_t		pn,
					sn;

		if (pe == NULL)
			pe = p + strlen(p);
		if (se == NULL)
			se = s + strlen(s);
		pn = pe - p - 1;
		sn = se - s - 1;
		if (pn > 2 && p[1] == '{' && p[pn] == '}')
		{
			if (sn == 0 || m->ncaptures == NX_MAX_CAPTURES)
				return false;
			m->captures[m->ncaptures].value = (char *) (s + 1);
			m->ncaptures++;
		}
		else if (!segment_literal_eq(s + 1, sn, p + 1, pn))
			return false;
		p = pe;
		s = se;
	}
	return *p == '\0' && *s == '\0';
}

/* The capture names of a pattern, in order, into m. */
static void
capture_names(const char *pattern, RouteMatch *m)
{
	const char *p = pattern;
	int			i = 0;

	while ((p = strchr(p, '{')) != NULL && i < m->ncaptures)
	{
		const char *e = strchr(p, '}');
		size_t		n = e - p - 1;

		if (n >= sizeof(m->captures[i].name))
			n = sizeof(m->captures[i].name) - 1;
		memcpy(m->captures[i].name, p + 1, n);
		m->captures[i].name[n] = '\0';
		i++;
		p = e;
	}
}

/* Decode each captured raw segment into an owned string. */
static bool
decode_captures(RouteMatch *m)
{
	for (int i = 0; i < m->ncaptures; i++)
	{
		const char *raw = m->captures[i].value;
		const char *end = strchr(raw, '/');
		size_t		n = end ? (size_t) (end - raw) : strlen(raw);
		char	   *seg = strndup(raw, n);
		size_t		outlen = 0;
		char	   *dec;

		m->captures[i].value = NULL;
		if (seg == NULL)
			return false;
		dec = evhttp_uridecode(seg, 0, &outlen);
		free(seg);
		if (dec == NULL)
			return false;
		if (outlen != strlen(dec) || strchr(dec, '/') != NULL || outlen == 0)
		{
			free(dec);
			return false;
		}
		m->captures[i].value = dec;
	}
	return true;
}

NxMatchResult
nx_route_match(const char *method, const char *path, RouteMatch *m)
{
	return nx_route_match_in(nx_routes, nx_route_count, method, path, m);
}

NxMatchResult
nx_route_match_in(const Route *routes, size_t nroutes, const char *method, const char *path,
				  RouteMatch *m)
{
	bool		path_known = false;

	memset(m, 0, sizeof(*m));
	if (path == NULL || path[0] != '/' || strlen(path) > NX_MAX_PATH)
		return NX_MATCH_BAD_PATH;
	for (size_t i = 0; i < nroutes; i++)
	{
		const Route *r = &routes[i];
		RouteMatch	tmp;

		memset(&tmp, 0, sizeof(tmp));
		if (!pattern_match(r->pattern, path, &tmp))
			continue;
		if (strcmp(r->method, method) != 0)
		{
			/* remember the methods this path has, for Allow */
			if (!strstr(m->allow, r->method) &&
				strlen(m->allow) + strlen(r->method) + 3 < sizeof(m->allow))
			{
				if (m->allow[0])
					strcat(m->allow, ", ");
				strcat(m->allow, r->method);
			}
			path_known = true;
			continue;
		}
		*m = tmp;
		m->route = r;
		capture_names(r->pattern, m);
		if (!decode_captures(m))
		{
			nx_route_match_free(m);
			return NX_MATCH_BAD_PATH;
		}
		return NX_MATCH_OK;
	}
	return path_known ? NX_MATCH_BAD_METHOD : NX_MATCH_NOT_FOUND;
}

void
nx_route_match_free(RouteMatch *m)
{
	for (int i = 0; i < m->ncaptures; i++)
	{
		free(m->captures[i].value);
		m->captures[i].value = NULL;
	}
	m->ncaptures = 0;
}

const char *
nx_route_capture(const RouteMatch *m, const char *name)
{
	for (int i = 0; i < m->ncaptures; i++)
		if (strcmp(m->captures[i].name, name) == 0)
			return m->captures[i].value;
	return NULL;
}
