/*-------------------------------------------------------------------------
 *
 * master_key.h
 *	  The vault master key, as the postmaster read it at start.
 *
 *-------------------------------------------------------------------------
 */
#ifndef NX_MASTER_KEY_H
#define NX_MASTER_KEY_H

#include "nexplane.h"

/* One master key as the postmaster read it, or why it could not. */
typedef struct NxMasterKey
{
	unsigned char *secret;		/* locked memory, or NULL */
	size_t		len;
	char		id[17];			/* public fingerprint, hex */
	char		error[256];
} NxMasterKey;

extern void nx_master_key_init(void);
extern const NxMasterKey *nx_master_require(void);
extern const NxMasterKey *nx_master_find(const char *id);
extern const char *nx_master_loaded_ids(void);
extern void *nx_locked_alloc(size_t len);

#endif							/* NX_MASTER_KEY_H */
