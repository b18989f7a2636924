/*
 * ratelimit.c -- a fixed table of token buckets keyed by client address.
 *
 * The table is bounded (no memory growth under a flood of addresses): a key
 * probes a few slots and, when all are taken by others, evicts the one
 * refilled furthest, which is the bucket that has been idle longest.  An
 * evicted address starts again with a full bucket; the database's own
 * per-account lock-out still applies behind this.
 */
#include "ratelimit.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SLOTS 4096
#define PROBES 8

typedef struct Bucket {
	char		key[64];
	double		tokens;
	double		updated;		/* monotonic seconds */
} Bucket;

struct RateLimiter {
	double		per_second;
	double		burst;
	Bucket		slots[SLOTS];
};

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint32_t
hash(const char *s)
{
	uint32_t	h = 2166136261u;	/* FNV-1a */

	for (; *s; s++)
		h = (h ^ (unsigned char) *s) * 16777619u;
	return h;
}

RateLimiter *
nx_ratelimit_new(int per_minute, int burst)
{
	RateLimiter *rl = calloc(1, sizeof(RateLimiter));

	if (rl == NULL)
		return NULL;
	rl->per_second = per_minute / 60.0;
	rl->burst = burst;
	return rl;
}

void
nx_ratelimit_free(RateLimiter *rl)
{
	free(rl);
}

bool
nx_ratelimit_take(RateLimiter *rl, const char *key, int *retry_after_s)
{
	double		now = now_s();
	uint32_t	h = hash(key);
	Bucket	   *b = NULL;
	Bucket	   *oldest = NULL;

	for (int i = 0; i < PROBES; i++)
	{
		Bucket	   *s = &rl->slots[(h + i) % SLOTS];

		if (strncmp(s->key, key, sizeof(s->key) - 1) == 0 && s->key[0])
		{
			b = s;
			break;
		}
		if (oldest == NULL || s->updated < oldest->updated)
			oldest = s;
	}
	if (b == NULL)
	{
		b = oldest;
		memset(b, 0, sizeof(*b));
		strncpy(b->key, key, sizeof(b->key) - 1);
		b->tokens = rl->burst;
		b->updated = now;
	}
	b->tokens = fmin(rl->burst, b->tokens + (now - b->updated) * rl->per_second);
	b->updated = now;
	if (b->tokens >= 1.0)
	{
		b->tokens -= 1.0;
		return true;
	}
	*retry_after_s = (int) ceil((1.0 - b->tokens) / rl->per_second);
	if (*retry_after_s < 1)
		*retry_after_s = 1;
	return false;
}
