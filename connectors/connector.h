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
 * What each operation returns:
 *	test		result {"server_version": ..., ...}
 *	discover	result {"assets": [{"kind", "external_id", "name",
 *				"attributes": {}}, ...]}; the engine upserts them
 *	pre_check	ok when the change may run now (the target exists, ...);
 *				optionally the rollback_state execute would return, from
 *				what it read: the engine stores it before execute, so a
 *				worker lost inside execute leaves a rollback possible
 *	execute		result and rollback_state (what the target was before;
 *				it replaces pre_check's)
 *	verify		ok when the target shows the change (with undoing: shows
 *				it undone)
 *	rollback	ok when rollback_state is restored
 *	finish_rotation	(optional; connectors whose rotation adds the new
 *				password beside the old before removing it) ok when the
 *				target took both new_secret and old_secret and every
 *				password but new_secret's is now removed; touches nothing
 *				and fails when the target does not take both (with
 *				undoing: a rollback's, new_secret the previous version)
 *
 *-------------------------------------------------------------------------
 */
#ifndef NX_CONNECTOR_H
#define NX_CONNECTOR_H

#include "nexplane.h"

#include "lib/stringinfo.h"
#include "utils/jsonb.h"

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
	const NxField *params;		/* its parameters; cr_create checks them */

	/*
	 * A rotation: the engine, not the connector, makes the new secret.  It
	 * generates it, stores it in the vault as a pending version of the
	 * account's credential (params.credential_id, or the connector's own),
	 * and only then calls execute with new_secret and old_secret; verify
	 * must log in with new_secret; the engine promotes it after that.  A
	 * rollback gets the previous version as new_secret.
	 */
	bool		rotates_secret;
} NxChangeType;

struct NxConnectorCall;

/*
 * Report progress and learn whether the job was cancelled: connectors call
 * nx_connector_step() between the steps of an operation and stop when it
 * returns false.  The worker also extends its lease there.
 */
typedef bool (*NxStepFn) (const struct NxConnectorCall *call, int percent, const char *step);

/*
 * What an operation is given.  Everything is in the caller's memory
 * context, which is reset after the call; the secrets in it are zeroed.
 */
typedef struct NxConnectorCall
{
	Jsonb	   *config;			/* the connector's config, checked */
	Jsonb	   *credential;		/* its own login, decrypted */
	const NxChangeType *change_type;	/* NULL for test and discover */
	Jsonb	   *params;			/* the change's parameters, checked */
	Jsonb	   *new_secret;		/* rotations: the account's secret to set */
	Jsonb	   *old_secret;		/* rotations: the account's secret until now */
	Jsonb	   *rollback_state; /* what execute stored, for rollback */
	bool		undoing;		/* rollback, and the verify after it */
	TimestampTz deadline;		/* every network wait ends before it */
	NxStepFn	step;			/* may be NULL (tests) */
	void	   *step_arg;
	const char *tenant_id;		/* the job's tenant */
	const char *change_request_id;	/* the change (or rollback) request, or NULL */
} NxConnectorCall;

/*
 * What an operation reports.  Nothing in it may hold a secret: not the
 * result, not the evidence, not the error (a client library's message
 * may, if the SQL it echoes held one: never put a secret in SQL text).
 * Target failures are reported here, never by ereport(ERROR).
 */
typedef struct NxConnectorResult
{
	bool		ok;
	char	   *error;			/* a sentence for the user, when !ok */
	Jsonb	   *result;			/* what happened, shown to every role */
	Jsonb	   *rollback_state; /* what rollback needs, from execute (or pre_check) */
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

	/*
	 * Optional, for a rotation with an overlap (the new password set
	 * beside the old, proved, then the old removed): the recovery of a
	 * lost rotation calls it when verify with the pending version fails,
	 * to end a rotation lost inside the overlap, where both passwords log
	 * in; the recovery of a lost rollback calls it the same way, with
	 * undoing (new_secret the previous version, old_secret the current).
	 * It acts only when both do, and then removes every password but
	 * new_secret's.  NULL for a connector whose rotation replaces the
	 * password in one step: its target never takes both.
	 */
	NxConnectorOp finish_rotation;

	/*
	 * Optional: checks of a change's params beyond their fields' types,
	 * in cr_create, raising NX422 (the agent connector holds them to the
	 * agent's allowlist).
	 */
	void		(*check_params) (const NxChangeType *type, Jsonb *params);
} NxConnector;

/* connector_call.c: the helpers every operation uses */
extern bool nx_connector_step(const NxConnectorCall *call, int percent, const char *step);
extern int	nx_connector_timeout_ms(const NxConnectorCall *call);
extern void nx_connector_fail(NxConnectorResult *out, const char *fmt,...) pg_attribute_printf(2, 3);

/* json_out.c: results, evidence and rollback state, built as text */
extern void nx_json_begin(StringInfo buf);
extern void nx_json_key(StringInfo buf, const char *key);
extern void nx_json_str(StringInfo buf, const char *key, const char *value);
extern void nx_json_bool(StringInfo buf, const char *key, bool value);
extern void nx_json_int(StringInfo buf, const char *key, int64 value);
extern void nx_json_raw(StringInfo buf, const char *key, const char *json);
extern Jsonb *nx_json_parse(StringInfo buf);
extern Jsonb *nx_json_end(StringInfo buf);

/* fields.c: NX422 naming the field unless jb fits the table */
extern void nx_fields_check(const NxField *fields, Jsonb *jb, const char *what);

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
extern const NxConnector nx_agent_connector;

#endif							/* NX_CONNECTOR_H */
