/*
 * refusal.c -- libevent's own refusals, answered in the shim's shape.
 *
 * libevent 2.1 answers some requests without ever calling the shim: one it
 * cannot parse (400: a malformed request line or header line, a request
 * line or header block over --max-headers, a bad Content-Length), a body
 * over --max-body or a corrupt chunked body (413), an Expect other than
 * 100-continue (417) and a method HTTP/1.1 does not define (501).  It
 * writes a small HTML page (evhttp_send_error) without the security
 * headers or a request id, and tells no one: evhttp_set_errorcb only came
 * in 2.2, and the request never reaches the generic callback.
 *
 * So each connection's output buffer is watched as evhttp writes into it.
 * evhttp writes an answer in one synchronous burst -- the status line,
 * each header line, the blank line, then the body, each its own
 * evbuffer_add (evhttp_make_header) -- and the TLS bufferevent sends
 * nothing before its write event runs, after the burst.  libevent's pages
 * are the only answers with "Content-Type: text/html" (evhttp_send_page_
 * clears the headers and sets it, with Connection: close); the shim only
 * writes JSON and event streams.  When a header block that begins at a
 * status line is complete and says text/html, it is replaced, before any
 * of it is sent, by the shim's JSON error with the same status, the
 * answer headers, a fresh request id and Connection: close, and what
 * libevent adds after it (its HTML body) is dropped.  libevent closes the
 * connection once that is written, as after its own page, and the access
 * log gets a line (method and path "-": the request was never parsed).
 *
 * Interim answers (100 Continue, libevent's own too) pass untouched.
 */
#include "refusal.h"

#include "errors.h"
#include "log.h"
#include "request.h"

#include <ctype.h>
#include <jansson.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

/* what only libevent's pages say, at the start of a header line */
static const char HTML_TYPE[] = "\r\nContent-Type: text/html";

/* past this without a blank line, it was not a header block being written */
#define NX_REFUSAL_HEADER_MAX 16384

/*
 * libevent writes a page only once the answer before it is sent (evhttp
 * reads the next request after that), so its status line lands in an
 * empty buffer, or after an interim "HTTP/1.1 100 Continue\r\n\r\n".
 * Adds further in (bodies, a stream's chunks) are not looked at, which
 * keeps a long stream's backlog from being walked on every write.
 */
#define NX_REFUSAL_LEAD_MAX 64

/* The status of a status line at offset off ("HTTP/1.1 400 "), or -1. */
static int
status_line_at(struct evbuffer *out, size_t off, char version[9])
{
	char		line[13];
	struct evbuffer_ptr p;

	if (evbuffer_get_length(out) < off + sizeof(line) ||
		evbuffer_ptr_set(out, &p, off, EVBUFFER_PTR_SET) < 0 ||
		evbuffer_copyout_from(out, &p, line, sizeof(line)) != (ev_ssize_t) sizeof(line))
		return -1;
	if (memcmp(line, "HTTP/1.", 7) != 0 || !isdigit((unsigned char) line[7]) ||
		line[8] != ' ' || !isdigit((unsigned char) line[9]) ||
		!isdigit((unsigned char) line[10]) || !isdigit((unsigned char) line[11]) ||
		line[12] != ' ')
		return -1;
	memcpy(version, line, 8);
	version[8] = '\0';
	return (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
}

/*
 * Remove the last n bytes of out (evbuffers only drain from the front);
 * false, with out unchanged, when memory is short.
 */
static bool
drop_tail(struct evbuffer *out, size_t n)
{
	size_t		keep = evbuffer_get_length(out) - n;
	struct evbuffer *head;

	if (keep == 0)				/* the usual case: libevent's page is all there is */
		return evbuffer_drain(out, n) == 0;
	if ((head = evbuffer_new()) == NULL)
		return false;
	if (evbuffer_remove_buffer(out, head, keep) != (int) keep)
	{
		evbuffer_prepend_buffer(out, head);
		evbuffer_free(head);
		return false;
	}
	evbuffer_drain(out, n);
	evbuffer_add_buffer(out, head);
	evbuffer_free(head);
	return true;
}

/* What went wrong, as far as the status tells (libevent says no more). */
static void
refusal_message(const Config *cfg, int status, char *buf, size_t size)
{
	switch (status)
	{
		case 400:
			snprintf(buf, size, "malformed request: the request line or a header could not be "
					 "parsed, or the headers are over --max-headers (%zu bytes)",
					 cfg->max_headers);
			return;
		case 413:
			snprintf(buf, size, "the request body is over --max-body (%zu bytes), or its chunked "
					 "encoding is malformed", cfg->max_body);
			return;
		case 417:
			snprintf(buf, size, "the Expect header is not supported; only 100-continue is");
			return;
		case 501:
			snprintf(buf, size, "the request method is not one of HTTP's");
			return;
		default:
			snprintf(buf, size, "%s", nx_status_reason(status));
			return;
	}
}

static void
peer_of(struct bufferevent *bev, char *buf, size_t size)
{
	struct sockaddr_storage ss;
	socklen_t	len = sizeof(ss);
	evutil_socket_t fd = bufferevent_getfd(bev);

	snprintf(buf, size, "-");
	if (fd >= 0 && getpeername(fd, (struct sockaddr *) &ss, &len) == 0 &&
		getnameinfo((struct sockaddr *) &ss, len, buf, size, NULL, 0, NI_NUMERICHOST) != 0)
		snprintf(buf, size, "-");
}

/*
 * libevent's page from w->start to the end of out becomes the shim's;
 * false when memory is short (libevent's page then goes out).
 */
static bool
replace_page(RefusalWatch *w, struct evbuffer *out, int status, const char *version)
{
	struct evbuffer *answer = evbuffer_new();
	char		id[65];
	char		msg[200];
	char		date[40];
	char		peer[64];
	char	   *doc;
	size_t		len;
	time_t		now = time(NULL);
	struct tm	tm;
	json_t	   *line;

	nx_request_id_random(id);
	refusal_message(w->srv->cfg, status, msg, sizeof(msg));
	doc = nx_error_json(status, NULL, msg, NULL, NULL, id);
	if (answer == NULL || doc == NULL)
	{
		if (answer)
			evbuffer_free(answer);
		free(doc);
		return false;
	}
	len = strlen(doc) + 1;
	gmtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);

	evbuffer_add_printf(answer, "%s %d %s\r\n", version, status, nx_status_reason(status));
	evbuffer_add_printf(answer, "Content-Type: application/json\r\nX-Request-Id: %s\r\n", id);
	for (const NxHeaderField *h = nx_answer_headers; h->name; h++)
		evbuffer_add_printf(answer, "%s: %s\r\n", h->name, h->value);
	evbuffer_add_printf(answer, "Date: %s\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
						date, len);
	evbuffer_add(answer, doc, len - 1);
	evbuffer_add(answer, "\n", 1);

	if (!drop_tail(out, evbuffer_get_length(out) - w->start))
	{
		evbuffer_free(answer);
		free(doc);
		return false;
	}
	evbuffer_add_buffer(out, answer);
	evbuffer_free(answer);
	free(doc);

	peer_of(w->bev, peer, sizeof(peer));
	line = json_object();
	json_object_set_new(line, "request_id", json_string(id));
	json_object_set_new(line, "method", json_string("-"));
	json_object_set_new(line, "path", json_string("-"));
	json_object_set_new(line, "status", json_integer(status));
	json_object_set_new(line, "bytes", json_integer((json_int_t) len));
	json_object_set_new(line, "remote", json_string(peer));
	nx_log_access(line);
	return true;
}

/* A header block began at w->start: is it complete, and is it libevent's? */
static void
look_at_header(RefusalWatch *w, struct evbuffer *out)
{
	struct evbuffer_ptr from;
	struct evbuffer_ptr end;
	char		version[9];
	int			status;

	if (evbuffer_ptr_set(out, &from, w->start, EVBUFFER_PTR_SET) < 0)
	{
		w->state = NX_REFUSAL_IDLE;
		return;
	}
	end = evbuffer_search(out, "\r\n\r\n", 4, &from);
	if (end.pos < 0)
	{
		if (evbuffer_get_length(out) - w->start > NX_REFUSAL_HEADER_MAX)
			w->state = NX_REFUSAL_IDLE;
		return;					/* more header lines to come */
	}
	evbuffer_ptr_set(out, &end, 4, EVBUFFER_PTR_ADD);
	if (evbuffer_search_range(out, HTML_TYPE, strlen(HTML_TYPE), &from, &end).pos < 0 ||
		(status = status_line_at(out, w->start, version)) < 0)
	{
		w->state = NX_REFUSAL_IDLE;	/* the shim's own answer */
		return;
	}
	w->busy = true;
	w->state = replace_page(w, out, status, version) ? NX_REFUSAL_SWALLOW : NX_REFUSAL_IDLE;
	w->busy = false;
}

/* Every change to the connection's output: evhttp's writes, TLS's sends. */
static void
on_output(struct evbuffer *out, const struct evbuffer_cb_info *info, void *arg)
{
	RefusalWatch *w = arg;
	size_t		len = evbuffer_get_length(out);
	char		version[9];
	int			status;

	if (w->busy)
		return;
	if (w->state == NX_REFUSAL_HEADER && info->n_deleted > 0)
	{
		/* sending drains from the front; a block half sent is past saving */
		if (info->n_deleted > w->start)
		{
			w->state = NX_REFUSAL_IDLE;
			return;
		}
		w->start -= info->n_deleted;
	}
	if (info->n_added == 0 || info->n_added > len)
		return;
	switch (w->state)
	{
		case NX_REFUSAL_SWALLOW:
			/* (short of memory, the rest of the page trails the answer; the
			 * client reads Content-Length bytes and the connection closes) */
			w->busy = true;
			(void) drop_tail(out, info->n_added);
			w->busy = false;
			return;
		case NX_REFUSAL_IDLE:
			if (len - info->n_added > NX_REFUSAL_LEAD_MAX)
				return;
			status = status_line_at(out, len - info->n_added, version);
			if (status < 200)
				return;			/* a body, a stream's chunk, or 100 Continue */
			w->state = NX_REFUSAL_HEADER;
			w->start = len - info->n_added;
			break;
		case NX_REFUSAL_HEADER:
			break;
	}
	look_at_header(w, out);
}

void
nx_refusal_watch(RefusalWatch *w, Server *srv, struct bufferevent *bev)
{
	*w = (RefusalWatch) {.srv = srv, .bev = bev, .state = NX_REFUSAL_IDLE};
	w->cb = evbuffer_add_cb(bufferevent_get_output(bev), on_output, w);
}

void
nx_refusal_unwatch(RefusalWatch *w)
{
	if (w->cb)
		evbuffer_remove_cb_entry(bufferevent_get_output(w->bev), w->cb);
	w->cb = NULL;
}
