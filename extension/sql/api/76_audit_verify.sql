-- Verification: recompute a tenant's chain and report what broke it.

-- Recompute one tenant's chain; report the first broken link, then a cut
-- tail, then an event the chain skipped.
CREATE FUNCTION nexplane._audit_verify_tenant(tenant uuid) RETURNS jsonb
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    sealed integer;
    checked bigint;
    broken jsonb;
    head nexplane.audit_chain_heads;
    last_seq bigint;
    last_hash bytea;
BEGIN
    sealed := nexplane._audit_seal_tenant(tenant);
    SELECT * INTO head FROM nexplane.audit_chain_heads h WHERE h.tenant_id = tenant;
    WITH c AS (
        SELECT l.chain_seq, l.event_id, l.prev_hash, l.hash, e.id IS NOT NULL AS present,
               lag(l.hash) OVER w AS prev_link_hash, lag(l.chain_seq) OVER w AS prev_seq,
               sha256(l.prev_hash || nexplane._audit_content(e, l.chain_seq)) AS recomputed
          FROM nexplane.audit_chain l
          LEFT JOIN nexplane.audit_events e ON e.tenant_id = l.tenant_id AND e.id = l.event_id
         WHERE l.tenant_id = tenant
        WINDOW w AS (ORDER BY l.chain_seq)
    ), problems AS (
        SELECT chain_seq, event_id,
               CASE WHEN chain_seq <> coalesce(prev_seq, 0) + 1
                        THEN 'events are missing before this one'
                    WHEN prev_hash IS DISTINCT FROM coalesce(prev_link_hash, nexplane._audit_genesis())
                        THEN 'this event does not follow the one before it'
                    WHEN NOT present
                        THEN 'this event is missing'
                    WHEN hash IS DISTINCT FROM recomputed
                        THEN 'this event was altered'
               END AS problem
          FROM c
    )
    SELECT (SELECT count(*) FROM c),
           (SELECT jsonb_build_object('chain_seq', chain_seq, 'event_id', event_id, 'problem', problem)
              FROM problems WHERE problem IS NOT NULL ORDER BY chain_seq LIMIT 1),
           (SELECT coalesce(max(chain_seq), 0) FROM c),
           (SELECT coalesce((SELECT hash FROM c ORDER BY chain_seq DESC LIMIT 1),
                            nexplane._audit_genesis()))
      INTO checked, broken, last_seq, last_hash;
    IF broken IS NULL AND head.tenant_id IS NOT NULL
       AND (last_seq <> head.last_seq OR last_hash <> head.last_hash) THEN
        broken := jsonb_build_object('chain_seq', head.last_seq, 'event_id', NULL,
                                     'problem', 'events are missing at the end of the chain');
    END IF;
    IF broken IS NULL THEN
        SELECT jsonb_build_object('chain_seq', NULL, 'event_id', e.id,
                                  'problem', 'this event was left out of the chain')
          INTO broken
          FROM nexplane.audit_events e
         WHERE e.tenant_id = tenant AND e.id < coalesce(head.scan_from, 0)
           AND NOT EXISTS (SELECT 1 FROM nexplane.audit_chain l
                            WHERE l.tenant_id = tenant AND l.event_id = e.id)
         ORDER BY e.id LIMIT 1;
    END IF;
    RETURN jsonb_build_object('ok', broken IS NULL, 'tenant_id', tenant, 'checked', checked,
                              'sealed_now', sealed, 'first_broken', broken);
END
$$;

-- audit_verify(): the caller's tenant, admins.
CREATE FUNCTION nexplane.audit_verify() RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM nexplane._require_role('admin');
    RETURN nexplane._audit_verify_tenant(nexplane.current_tenant_id());
END
$$;
