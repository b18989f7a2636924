/*-------------------------------------------------------------------------
 *
 * connector.h
 *	  The connector seam: what every connector declares (its fields and its
 *	  change types) and the operations it implements.
 *
 * A connector is one static NxConnector, defined in its own file
 * (postgresql.c, ldap.c, ...) and listed in registry.c.  The tables are
 * data the rest of the extension reads: connector_types() shows them,
 * connector_create checks config and credentials against the fields, and
 * risk scoring takes a change's class and weight from its change type,
 * never from what the requester says.
 *
 * The operations run only in a job worker, never in a request, and never
 * inside an open transaction: they talk to the target over the network.
 * They get everything they need in an NxConnectorCall (config, decrypted
 * credential, parameters, a deadline) and report through NxConnectorResult.
 * A NULL operation means the connector does not offer it.
 *
 *-------------------------------------------------------------------------
 */
#ifndef NX_CONNECTOR_H
#define NX_CONNECTOR_H

#include "nexplane.h"

/* What a change does to its target; risk starts from this. */
typedef enum NxChangeClass
{
	NX_CHANGE_ADDITIVE,
	NX_CHANGE_MODIFYING,
	NX_CHANGE_DESTRUCTIVE
} NxChangeClass;

/* The risk weight each class carries unless a change type says otherwise. */
#define NX_WEIGHT_ADDITIVE		5
#define NX_WEIGHT_MODIFYING		20
#define NX_WEIGHT_DESTRUCTIVE	40

typedef enum NxFieldType
{
	NX_FIELD_STRING,
	NX_FIELD_INTEGER,
	NX_FIELD_BOOLEAN
} NxFieldType;

/* One field of a connector's config or credential; tables end at name NULL. */
typedef struct NxField
{
	const char *name;
	NxFieldType type;
	bool		required;
	const char *description;
} NxField;

/* One kind of change a connector makes; tables end at name NULL. */
typedef struct NxChangeType
{
	const char *name;
	NxChangeClass class;
	int			risk_weight;
	bool		rollback;		/* can it be rolled back? */
	const char *description;
} NxChangeType;

/* What an operation is given.  Nothing here is in shared or SQL memory. */
typedef struct NxConnectorCall
{
	Jsonb	   *config;			/* the connector's config, checked */
	Jsonb	   *credential;		/* decrypted; zeroed when the call ends */
	const NxChangeType *change_type;	/* NULL for test and discover */
	Jsonb	   *params;			/* the change's parameters */
	Jsonb	   *rollback_state; /* what execute stored, for rollback */
	TimestampTz deadline;		/* every network wait ends before it */
	volatile bool *cancel;		/* set when the job is cancelled */
} NxConnectorCall;

/* What an operation reports.  Nothing in it may hold a secret. */
typedef struct NxConnectorResult
{
	bool		ok;
	char	   *error;			/* a sentence for the user, when !ok */
	Jsonb	   *result;			/* what happened, shown to every role */
	Jsonb	   *rollback_state; /* what rollback needs, from execute */
	Jsonb	   *evidence;		/* what was checked, kept immutable */
} NxConnectorResult;

typedef void (*NxConnectorOp) (const NxConnectorCall *call, NxConnectorResult *out);

typedef struct NxConnector
{
	const char *name;			/* the type in connector_create(type, ...) */
	const char *description;
	const NxField *config_fields;
	const NxField *credential_fields;
	const NxChangeType *change_types;
	NxConnectorOp test;			/* can we reach and log in to the target? */
	NxConnectorOp discover;		/* list the target's assets */
	NxConnectorOp pre_check;	/* may this change run now? */
	NxConnectorOp execute;		/* make the change */
	NxConnectorOp verify;		/* did it happen, seen from the target? */
	NxConnectorOp rollback;		/* undo it from rollback_state */
} NxConnector;

/* registry.c */
extern const NxConnector *nx_connector_find(const char *name);
extern const NxChangeType *nx_change_type_find(const NxConnector *c, const char *name);
extern const char *nx_change_class_name(NxChangeClass class);
extern NxChangeClass nx_change_class_by_verb(const char *change_type);

/* the connectors, one file each */
extern const NxConnector nx_postgresql_connector;
extern const NxConnector nx_mariadb_connector;
extern const NxConnector nx_redis_connector;
extern const NxConnector nx_ldap_connector;

#endif							/* NX_CONNECTOR_H */
