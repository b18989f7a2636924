/*
 * ratelimit.h -- login attempts per client address: a token bucket each.
 */
#ifndef NX_RATELIMIT_H
#define NX_RATELIMIT_H

#include <stdbool.h>

typedef struct RateLimiter RateLimiter;

RateLimiter *nx_ratelimit_new(int per_minute, int burst);
void nx_ratelimit_free(RateLimiter *rl);

/* Take one token for key; when none is left, false and *retry_after_s. */
bool nx_ratelimit_take(RateLimiter *rl, const char *key, int *retry_after_s);

#endif
