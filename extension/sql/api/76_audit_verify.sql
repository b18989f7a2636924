-- Verification: recompute a tenant's chain, check its events' MACs, and
-- report what broke it.

-- Recompute one tenant's chain and check every chained event's MAC;
-- report the first broken link or event (by chain_seq), then a cut tail,
-- then an event the chain skipped, then a state no event explains.  No
-- event is named by its id, a number of the sequence all tenants share:
-- by its chain_seq, or for one the chain skipped, its time and action.
CREATE FUNCTION nexplane._audit_verify_tenant(tenant uuid) RETURNS jsonb
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    sealed integer;
    checked bigint;
    broken jsonb;
    mac_failures jsonb;
    head nexplane.audit_chain_heads;
    last_seq bigint;
    last_hash bytea;
BEGIN
    sealed := nexplane._audit_seal_tenant(tenant);
    SELECT * INTO head FROM nexplane.audit_chain_heads h WHERE h.tenant_id = tenant;
    WITH c AS (
        SELECT l.chain_seq, l.prev_hash, l.hash, e.id IS NOT NULL AS present,
               lag(l.hash) OVER w AS prev_link_hash, lag(l.chain_seq) OVER w AS prev_seq,
               sha256(l.prev_hash || nexplane._audit_content(e, l.chain_seq)) AS recomputed,
               -- written by audit.c, as it is? (a forged event is chained
               -- like any other, so only its MAC tells)
               CASE WHEN e.id IS NOT NULL THEN nexplane._audit_mac_ok(e) END AS mac_ok
          FROM nexplane.audit_chain l
          LEFT JOIN nexplane.audit_events e ON e.tenant_id = l.tenant_id AND e.id = l.event_id
         WHERE l.tenant_id = tenant
        WINDOW w AS (ORDER BY l.chain_seq)
    ), problems AS (
        SELECT chain_seq, mac_ok,
               CASE WHEN chain_seq <> coalesce(prev_seq, 0) + 1
                        THEN 'events are missing before this one'
                    WHEN prev_hash IS DISTINCT FROM coalesce(prev_link_hash, nexplane._audit_genesis())
                        THEN 'this event does not follow the one before it'
                    WHEN NOT present
                        THEN 'this event is missing'
                    WHEN hash IS DISTINCT FROM recomputed
                        THEN 'this event was altered'
                    WHEN NOT mac_ok
                        THEN 'this event was not written by Nexplane: its MAC is missing or does not hold'
               END AS problem
          FROM c
    )
    SELECT (SELECT count(*) FROM c),
           (SELECT jsonb_build_object('chain_seq', chain_seq, 'problem', problem)
              FROM problems WHERE problem IS NOT NULL ORDER BY chain_seq LIMIT 1),
           (SELECT jsonb_build_object('count', count(*), 'first_chain_seq', min(chain_seq))
              FROM problems WHERE NOT mac_ok),
           (SELECT coalesce(max(chain_seq), 0) FROM c),
           (SELECT coalesce((SELECT hash FROM c ORDER BY chain_seq DESC LIMIT 1),
                            nexplane._audit_genesis()))
      INTO checked, broken, mac_failures, last_seq, last_hash;
    IF broken IS NULL AND head.tenant_id IS NOT NULL
       AND (last_seq <> head.last_seq OR last_hash <> head.last_hash) THEN
        broken := jsonb_build_object('chain_seq', head.last_seq,
                                     'problem', 'events are missing at the end of the chain');
    END IF;
    IF broken IS NULL THEN
        SELECT jsonb_build_object('chain_seq', NULL, 'occurred_at', e.occurred_at,
                                  'action', e.action,
                                  'problem', 'this event was left out of the chain')
          INTO broken
          FROM nexplane.audit_events e
         WHERE e.tenant_id = tenant AND e.id < coalesce(head.scan_from, 0)
           AND NOT EXISTS (SELECT 1 FROM nexplane.audit_chain l
                            WHERE l.tenant_id = tenant AND l.event_id = e.id)
         ORDER BY e.id LIMIT 1;
    END IF;
    -- A change request's state is the one its last recorded event put it
    -- in: a state changed with the triggers disabled shows here.
    IF broken IS NULL THEN
        SELECT jsonb_build_object('chain_seq', NULL, 'change_request_id', c.id,
                                  'problem', 'this change request is in a state no recorded event put it in')
          INTO broken
          FROM nexplane.change_requests c
         WHERE c.tenant_id = tenant
           AND c.state IS DISTINCT FROM (SELECT e.to_state FROM nexplane.change_request_events e
                                          WHERE e.tenant_id = c.tenant_id AND e.change_request_id = c.id
                                          ORDER BY e.id DESC LIMIT 1)
         LIMIT 1;
    END IF;
    RETURN jsonb_build_object('ok', broken IS NULL, 'tenant_id', tenant, 'checked', checked,
                              'sealed_now', sealed, 'first_broken', broken,
                              'mac_failures', mac_failures,
                              'head', jsonb_build_object('chain_seq', last_seq,
                                                         'hash', encode(last_hash, 'hex')));
END
$$;

-- Signed checkpoints (audit_checkpoint.c): the key is derived from the
-- master key and never reaches SQL; _audit_sign signs the head as it is.
CREATE FUNCTION nexplane._audit_sign(tenant uuid) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'nx_audit_sign' LANGUAGE C VOLATILE;
CREATE FUNCTION nexplane._audit_signature_ok(checkpoint jsonb) RETURNS boolean
    AS 'MODULE_PATHNAME', 'nx_audit_signature_ok' LANGUAGE C STABLE;
CREATE FUNCTION nexplane._audit_checkpoint_key() RETURNS jsonb
    AS 'MODULE_PATHNAME', 'nx_audit_checkpoint_key' LANGUAGE C STABLE;

-- audit_checkpoint(): the caller's tenant's chain, sealed up to now, as a
-- signed checkpoint to keep outside the database.  Admins.
CREATE FUNCTION nexplane.audit_checkpoint() RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM nexplane._require_role('admin');
    PERFORM nexplane._audit_seal_tenant(nexplane.current_tenant_id());
    RETURN nexplane._audit_sign(nexplane.current_tenant_id());
END
$$;

-- audit_checkpoint_key(): the public key that checks checkpoints offline.
CREATE FUNCTION nexplane.audit_checkpoint_key() RETURNS jsonb
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM nexplane._require_auth();
    RETURN nexplane._audit_checkpoint_key();
END
$$;

-- audit_verify([checkpoint]): the caller's tenant, admins.  With a
-- checkpoint, also whether the trail still extends it: its signature
-- holds, it is this tenant's, and the chain still has its link.
CREATE FUNCTION nexplane.audit_verify(checkpoint jsonb DEFAULT NULL) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_variable
DECLARE
    tenant uuid;
    r jsonb;
    seq bigint;
    problem text;
BEGIN
    PERFORM nexplane._require_role('admin');
    tenant := nexplane.current_tenant_id();
    IF checkpoint IS NOT NULL AND jsonb_typeof(checkpoint) <> 'object' THEN
        PERFORM nexplane._raise('NX422', 'a checkpoint is a JSON object',
                                'Pass it exactly as audit_checkpoint() returned it.');
    END IF;
    r := nexplane._audit_verify_tenant(tenant);
    IF checkpoint IS NULL THEN
        RETURN r;
    END IF;
    IF NOT nexplane._audit_signature_ok(checkpoint) THEN
        problem := 'its signature does not hold: it was not made by audit_checkpoint(), or was changed';
    ELSIF checkpoint->>'tenant_id' IS DISTINCT FROM tenant::text THEN
        problem := 'it is not a checkpoint of this tenant';
    ELSE
        seq := (checkpoint->>'chain_seq')::bigint;
        IF seq > (r->'head'->>'chain_seq')::bigint THEN
            problem := 'the chain is shorter than the checkpoint: events were removed';
        ELSIF seq > 0 AND NOT EXISTS (
                SELECT 1 FROM nexplane.audit_chain l
                 WHERE l.tenant_id = tenant AND l.chain_seq = seq
                   AND l.hash = decode(checkpoint->>'hash', 'hex')) THEN
            problem := 'the chain no longer holds the checkpoint''s link: it was rewritten';
        END IF;
    END IF;
    RETURN r || jsonb_build_object(
        'ok', (r->>'ok')::boolean AND problem IS NULL,
        'checkpoint', jsonb_build_object('chain_seq', checkpoint->'chain_seq',
                                         'extended', problem IS NULL, 'problem', problem));
END
$$;
