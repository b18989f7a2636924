/*
 * agent_poll.c -- the agents' long poll (docs/agent.md, "The long poll").
 *
 * A poll calls agent_poll(fingerprint) through the shared pool.  If that
 * brings commands or confirmations, they are the answer.  Otherwise the
 * poll is held: no database connection, no timer and no event of its own,
 * only a small HeldPoll beside its Request, in two places:
 *
 *   - a hash map from agent id (which agent_poll returns) to the agent's
 *     held polls.  One connection LISTENs on nexplane_agents; a
 *     notification carries an agent id, and wakes only that agent's polls,
 *     which call agent_poll again.  A revocation or a lock notifies too,
 *     so the next call is refused (403) and ends the poll at once.
 *     10,000 held polls cost a notification one bucket lookup.
 *   - a timing wheel of NX_WHEEL_SLOTS slots of NX_TICK_MS: a poll sits in
 *     the slot its wait ends in, and one timer (running only while a poll
 *     is held) answers the slots that come due with the empty answer.  No
 *     scan of all polls, ever.
 *
 * A notification can arrive while a poll's agent_poll is in flight, after
 * its snapshot but before the poll is in the map.  So the last
 * NX_RECENT notifications are remembered, and a call that comes back empty
 * is made again if one for its agent was heard since it was sent.  After
 * the listening connection (re)connects, notifications may have been
 * missed: every held poll calls again.
 *
 * Calls made for a notification go through a run queue drained by one
 * event, so no list is walked while the pool's callbacks may change it.
 * Any session may NOTIFY: a payload that is not a uuid is ignored, and a
 * forged one costs one agent_poll of that agent.
 */
#include "agent_poll.h"

#include "agent_listener.h"
#include "bind.h"
#include "log.h"

#include <ctype.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#define NX_TICK_MS 250
#define NX_WHEEL_SLOTS 128
#define NX_RECENT 256
#define NX_MAP_MIN 1024

_Static_assert(NX_WHEEL_SLOTS > NX_POLL_WAIT_MAX_S * 1000 / NX_TICK_MS + 2,
			   "the timing wheel must span the longest wait");

static const char POLL_SQL[] = "SELECT nexplane.agent_poll(fingerprint => $1::text)";
static const char EMPTY_ANSWER[] = "{\"commands\":[],\"confirm\":[]}";

typedef struct HeldPoll HeldPoll;

struct HeldPoll {
	AgentPolls *hub;
	Request    *r;
	char		fingerprint[65];
	char		agent_id[37];	/* "" until agent_poll has answered */
	int			wait_s;
	uint64_t	heard;			/* hub->heard when the call was sent */
	int64_t		expires;		/* the tick its wait ends at */
	HeldPoll   *map_next;		/* the agent id's bucket */
	LIST_ENTRY(HeldPoll) wheel_link;	/* the slot of expires */
	TAILQ_ENTRY(HeldPoll) run_link; /* the run queue */
	bool		held;			/* in the map and (unless expired) the wheel */
	bool		in_wheel;
	bool		queued;			/* in the run queue */
	bool		calling;		/* an agent_poll is in flight */
	bool		again;			/* woken during the call: call again */
	bool		expired;		/* its wait is over: answer what the call brings */
};

struct AgentPolls {
	Server	   *srv;
	Pool	   *listen;
	HeldPoll  **buckets;
	size_t		nbuckets;		/* a power of two */
	size_t		nmapped;
	LIST_HEAD(WheelSlot, HeldPoll) wheel[NX_WHEEL_SLOTS];
	size_t		nwheel;
	int64_t		done_tick;		/* the last tick answered */
	struct timespec epoch;
	struct event *ticker;
	TAILQ_HEAD(RunQueue, HeldPoll) run;
	struct event *runner;
	uint64_t	heard;			/* notifications heard so far */
	char		recent[NX_RECENT][37];	/* the last ones' agent ids; "*": any */
};

static void call_done(PoolReply *reply, void *arg);

/* ---------- the map: agent id -> held polls ---------- */

static size_t
id_hash(const char *id)
{
	uint64_t	h = 1469598103934665603ull;	/* FNV-1a */

	for (; *id; id++)
		h = (h ^ (unsigned char) *id) * 1099511628211ull;
	return (size_t) h;
}

static void
map_grow(AgentPolls *hub)
{
	size_t		n = hub->nbuckets * 2;
	HeldPoll  **b = calloc(n, sizeof(HeldPoll *));

	if (b == NULL)
		return;					/* longer chains, still correct */
	for (size_t i = 0; i < hub->nbuckets; i++)
	{
		HeldPoll   *p = hub->buckets[i];

		while (p)
		{
			HeldPoll   *next = p->map_next;
			size_t		k = id_hash(p->agent_id) & (n - 1);

			p->map_next = b[k];
			b[k] = p;
			p = next;
		}
	}
	free(hub->buckets);
	hub->buckets = b;
	hub->nbuckets = n;
}

static void
map_add(AgentPolls *hub, HeldPoll *p)
{
	size_t		k;

	if (hub->nmapped >= hub->nbuckets)
		map_grow(hub);
	k = id_hash(p->agent_id) & (hub->nbuckets - 1);
	p->map_next = hub->buckets[k];
	hub->buckets[k] = p;
	hub->nmapped++;
}

static void
map_remove(AgentPolls *hub, HeldPoll *p)
{
	HeldPoll  **pp = &hub->buckets[id_hash(p->agent_id) & (hub->nbuckets - 1)];

	for (; *pp; pp = &(*pp)->map_next)
		if (*pp == p)
		{
			*pp = p->map_next;
			hub->nmapped--;
			return;
		}
}

/* ---------- the wheel: when each wait ends ---------- */

static int64_t
now_tick(const AgentPolls *hub)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return ((int64_t) (now.tv_sec - hub->epoch.tv_sec) * 1000 +
			(now.tv_nsec - hub->epoch.tv_nsec) / 1000000) / NX_TICK_MS;
}

static void
wheel_add(AgentPolls *hub, HeldPoll *p)
{
	int64_t		now = now_tick(hub);

	if (hub->nwheel == 0)
	{
		struct timeval tv = {.tv_usec = NX_TICK_MS * 1000};

		hub->done_tick = now;
		event_add(hub->ticker, &tv);
	}
	/* the first tick that begins after the wait: never early */
	p->expires = now + (int64_t) p->wait_s * 1000 / NX_TICK_MS + 1;
	LIST_INSERT_HEAD(&hub->wheel[p->expires % NX_WHEEL_SLOTS], p, wheel_link);
	p->in_wheel = true;
	hub->nwheel++;
}

static void
wheel_remove(AgentPolls *hub, HeldPoll *p)
{
	if (!p->in_wheel)
		return;
	LIST_REMOVE(p, wheel_link);
	p->in_wheel = false;
	hub->nwheel--;
	if (hub->nwheel == 0)
		event_del(hub->ticker);
}

/* ---------- the run queue: calls made for notifications ---------- */

static void
run_remove(AgentPolls *hub, HeldPoll *p)
{
	if (!p->queued)
		return;
	TAILQ_REMOVE(&hub->run, p, run_link);
	p->queued = false;
}

/* p should call agent_poll again: now if idle, after its call otherwise. */
static void
wake(HeldPoll *p)
{
	AgentPolls *hub = p->hub;

	if (p->calling)
	{
		p->again = true;
		return;
	}
	if (p->queued || p->expired)
		return;
	TAILQ_INSERT_TAIL(&hub->run, p, run_link);
	p->queued = true;
	event_active(hub->runner, 0, 0);
}

/* ---------- answers ---------- */

/* Before p's answer: out of every list. */
static void
unhold(HeldPoll *p)
{
	if (p->held)
		map_remove(p->hub, p);
	p->held = false;
	wheel_remove(p->hub, p);
	run_remove(p->hub, p);
}

/* The end of p: r answered 200 with json, p freed. */
static void
finish(HeldPoll *p, const char *json)
{
	unhold(p);
	nx_reply_json(p->r, 200, json);
	free(p);
}

/*
 * Send agent_poll(p's fingerprint); false if the pool refused it.  A
 * wake-up (a command or a revocation for p's agent) goes ahead of the
 * pool's queue: it is what the p99 from commit to receipt is made of,
 * and the fleet's routine re-polls can wait a few milliseconds.
 */
static bool
call(HeldPoll *p, bool wakeup)
{
	PoolStmt	s = {.sql = POLL_SQL, .nparams = 1, .values = {p->fingerprint}};

	p->heard = p->hub->heard;
	p->again = false;
	p->calling = true;
	if (nx_pool_submit_at(p->hub->srv->pool, &s, 1, call_done, p, wakeup) == NX_SUBMIT_QUEUED)
		return true;			/* p may be answered and gone already */
	p->calling = false;
	return false;
}

/* Was a notification for p's agent heard since its call was sent? */
static bool
missed(const HeldPoll *p)
{
	const AgentPolls *hub = p->hub;

	if (hub->heard - p->heard >= NX_RECENT)
		return true;
	for (uint64_t i = p->heard; i < hub->heard; i++)
	{
		const char *id = hub->recent[i % NX_RECENT];

		if (id[0] == '*' || strcmp(id, p->agent_id) == 0)
			return true;
	}
	return false;
}

static bool
set_agent_id(HeldPoll *p, const char *id)
{
	if (!nx_is_uuid(id))
		return false;
	if (p->agent_id[0] == '\0')
		for (int i = 0; i < 36; i++)
			p->agent_id[i] = (char) tolower((unsigned char) id[i]);
	return true;
}

static void
call_done(PoolReply *reply, void *arg)
{
	HeldPoll   *p = arg;
	AgentPolls *hub = p->hub;
	json_t	   *root;
	json_t	   *commands;
	json_t	   *confirm;

	p->calling = false;
	p->r->db_ms += reply->db_ms;
	if (reply->failed && p->held)
	{
		/* the database is away: the wait's end answers (empty: nothing known) */
		if (p->expired)
			finish(p, EMPTY_ANSWER);
		return;
	}
	if (nx_agent_reply_locked(p->r, reply))
	{
		unhold(p);				/* locked just now, as a clone */
		free(p);
		return;
	}
	if (reply->failed || nx_pool_first_error(reply))
	{
		unhold(p);
		nx_reply_db(p->r, reply, 200, 0);	/* e.g. 403: revoked, locked or unknown */
		free(p);
		return;
	}
	root = json_loads(reply->r[0].value ? reply->r[0].value : "", 0, NULL);
	commands = json_object_get(root, "commands");
	confirm = json_object_get(root, "confirm");
	if (!json_is_object(root) || !json_is_array(commands) ||
		!(confirm == NULL || json_is_array(confirm)) ||
		!set_agent_id(p, json_string_value(json_object_get(root, "agent_id"))))
	{
		nx_log("error", "request %s: agent_poll answered something unexpected", p->r->request_id);
		json_decref(root);
		unhold(p);
		nx_reply_error(p->r, 500, "internal error");
		free(p);
		return;
	}
	if (json_array_size(commands) > 0 || json_array_size(confirm) > 0)
	{
		char	   *doc;

		json_object_del(root, "agent_id");	/* the agent knows who it is */
		if (confirm == NULL)
			json_object_set_new(root, "confirm", json_array());
		doc = json_dumps(root, JSON_COMPACT);
		json_decref(root);
		finish(p, doc ? doc : EMPTY_ANSWER);
		free(doc);
		return;
	}
	json_decref(root);
	if (p->expired || p->wait_s == 0 || hub->srv->draining)
	{
		finish(p, EMPTY_ANSWER);
		return;
	}
	if (!p->held)
	{
		map_add(hub, p);
		wheel_add(hub, p);
		p->held = true;
	}
	if (p->again || missed(p))
		wake(p);
}

/* ---------- events ---------- */

static void
on_run(evutil_socket_t fd, short what, void *arg)
{
	AgentPolls *hub = arg;
	HeldPoll   *p;

	while ((p = TAILQ_FIRST(&hub->run)) != NULL)
	{
		run_remove(hub, p);
		/* refused (queue full, database down): the wait's end answers it */
		(void) call(p, true);
	}
}

static void
expire(HeldPoll *p)
{
	wheel_remove(p->hub, p);
	if (p->calling)
		p->expired = true;		/* answered when the call comes back */
	else
		finish(p, EMPTY_ANSWER);
}

static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
	AgentPolls *hub = arg;
	int64_t		now = now_tick(hub);
	int64_t		t = hub->done_tick + 1;

	if (now - t >= NX_WHEEL_SLOTS)
		t = now - NX_WHEEL_SLOTS + 1;	/* the loop was away: every slot once */
	for (; t <= now && hub->nwheel > 0; t++)
	{
		HeldPoll   *p = LIST_FIRST(&hub->wheel[t % NX_WHEEL_SLOTS]);
		HeldPoll   *next;

		for (; p; p = next)
		{
			next = LIST_NEXT(p, wheel_link);
			if (p->expires <= t)
				expire(p);
		}
	}
	hub->done_tick = now;
}

/* A notification: an agent id, or NULL after the listener (re)connected. */
static void
on_notify(const char *payload, void *arg)
{
	AgentPolls *hub = arg;
	char	   *slot = hub->recent[hub->heard % NX_RECENT];
	HeldPoll   *p;

	if (payload == NULL)
	{
		strcpy(slot, "*");
		hub->heard++;
		for (int i = 0; i < NX_WHEEL_SLOTS; i++)
			LIST_FOREACH(p, &hub->wheel[i], wheel_link)
				wake(p);
		return;
	}
	if (!nx_is_uuid(payload))
		return;
	for (int i = 0; i < 36; i++)
		slot[i] = (char) tolower((unsigned char) payload[i]);
	slot[36] = '\0';
	hub->heard++;
	for (p = hub->buckets[id_hash(slot) & (hub->nbuckets - 1)]; p; p = p->map_next)
		if (strcmp(p->agent_id, slot) == 0)
			wake(p);
}

/* ---------- the route ---------- */

/* ?wait=S: 0 to 30 seconds (more is 30); -1 with *why on anything else. */
static int
parse_wait(const char *query, const char **why)
{
	struct evkeyvalq q;
	struct evkeyval *kv;
	int			wait = NX_POLL_WAIT_MAX_S;
	int			n = 0;

	*why = NULL;
	TAILQ_INIT(&q);
	if (query == NULL || *query == '\0')
		return wait;
	if (evhttp_parse_query_str(query, &q) != 0)
		*why = "malformed query string";
	TAILQ_FOREACH(kv, &q, next)
	{
		if (*why)
			break;
		if (strcmp(kv->key, "wait") != 0)
			*why = "the only query parameter is wait";
		else if (n++ > 0)
			*why = "query parameter \"wait\" is given twice";
		else if (kv->value[0] == '\0' || strlen(kv->value) > 6 ||
				 strspn(kv->value, "0123456789") != strlen(kv->value))
			*why = "wait must be a whole number of seconds (at most 30 are used)";
		else
		{
			wait = atoi(kv->value);
			if (wait > NX_POLL_WAIT_MAX_S)
				wait = NX_POLL_WAIT_MAX_S;
		}
	}
	evhttp_clear_headers(&q);
	return *why ? -1 : wait;
}

void
nx_agent_poll(AgentPolls *hub, Request *r, const char *query, const char *fingerprint)
{
	const char *why;
	int			wait = parse_wait(query, &why);
	HeldPoll   *p;

	if (wait < 0)
	{
		nx_reply_error(r, 400, why);
		return;
	}
	p = calloc(1, sizeof(HeldPoll));
	if (p == NULL)
	{
		nx_reply_unavailable(r, "out of memory");
		return;
	}
	p->hub = hub;
	p->r = r;
	p->wait_s = wait;
	snprintf(p->fingerprint, sizeof(p->fingerprint), "%s", fingerprint);
	if (!call(p, false))
	{
		nx_reply_unavailable(r, "the database is unavailable or busy; retry shortly");
		free(p);
	}
}

void
nx_agent_polls_drain(AgentPolls *hub)
{
	for (int i = 0; i < NX_WHEEL_SLOTS; i++)
	{
		HeldPoll   *p = LIST_FIRST(&hub->wheel[i]);
		HeldPoll   *next;

		for (; p; p = next)
		{
			next = LIST_NEXT(p, wheel_link);
			expire(p);
		}
	}
}

size_t
nx_agent_polls_held(const AgentPolls *hub)
{
	return hub->nwheel;
}

AgentPolls *
nx_agent_polls_new(Server *srv)
{
	AgentPolls *hub = calloc(1, sizeof(AgentPolls));

	if (hub == NULL)
		return NULL;
	hub->srv = srv;
	for (int i = 0; i < NX_WHEEL_SLOTS; i++)
		LIST_INIT(&hub->wheel[i]);
	TAILQ_INIT(&hub->run);
	hub->nbuckets = NX_MAP_MIN;
	hub->buckets = calloc(hub->nbuckets, sizeof(HeldPoll *));
	clock_gettime(CLOCK_MONOTONIC, &hub->epoch);
	hub->ticker = event_new(srv->base, -1, EV_PERSIST, on_tick, hub);
	hub->runner = event_new(srv->base, -1, 0, on_run, hub);
	if (hub->buckets == NULL || hub->ticker == NULL || hub->runner == NULL)
	{
		nx_agent_polls_free(hub);
		return NULL;
	}
	hub->listen = nx_pool_new(srv->base, srv->cfg->db, 1, 1, 0);
	nx_pool_listen(hub->listen, "nexplane_agents", on_notify, hub);
	return hub;
}

/* After the loop: whatever is still held is only freed. */
void
nx_agent_polls_free(AgentPolls *hub)
{
	if (hub == NULL)
		return;
	nx_pool_free(hub->listen);
	for (size_t i = 0; hub->buckets && i < hub->nbuckets; i++)
	{
		HeldPoll   *p = hub->buckets[i];
		HeldPoll   *next;

		for (; p; p = next)
		{
			next = p->map_next;
			if (!p->calling)
			{
				nx_request_free(p->r);
				free(p);
			}
		}
	}
	if (hub->ticker)
		event_free(hub->ticker);
	if (hub->runner)
		event_free(hub->runner);
	free(hub->buckets);
	free(hub);
}
