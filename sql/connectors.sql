-- The connector seam: connector_types() walks the registry, and risk takes
-- a change's class and weight from its connector type's table.
SELECT id AS acme FROM nexplane.tenants WHERE slug = 'acme' \gset

-- Only an authenticated caller reads the types; any role may.
SET ROLE nexplane_api;
SELECT test.try($$SELECT nexplane.connector_types()$$) AS anonymous;
BEGIN;
SELECT test.as('viewer');
SELECT t->>'type' AS type, jsonb_array_length(t->'config_fields') AS config_fields,
       jsonb_array_length(t->'credential_fields') AS credential_fields,
       jsonb_array_length(t->'change_types') AS change_types
  FROM jsonb_array_elements(nexplane.connector_types()) t ORDER BY 1;
-- Every change type says its class, weight and whether it rolls back.
SELECT t->>'type' AS type, c->>'name' AS change_type, c->>'class' AS class,
       (c->>'risk_weight')::int AS weight, (c->>'rollback')::boolean AS rollback
  FROM jsonb_array_elements(nexplane.connector_types()) t,
       jsonb_array_elements(t->'change_types') c ORDER BY 1, 2;
-- Fields say their type and whether they are required; no field is unnamed.
SELECT t->>'type' AS type, f->>'name' AS config_field, f->>'type' AS field_type,
       (f->>'required')::boolean AS required
  FROM jsonb_array_elements(nexplane.connector_types()) t,
       jsonb_array_elements(t->'config_fields') f ORDER BY 1, 2;
SELECT count(*) AS fields_without_a_description
  FROM jsonb_array_elements(nexplane.connector_types()) t,
       jsonb_array_elements(t->'config_fields' || t->'credential_fields') f
 WHERE coalesce(f->>'description', '') = '';
COMMIT;
RESET ROLE;

-- Risk reads the class from the connector's table, not from the name:
-- mariadb's "grant" is additive (5), though no verb says so; an unknown
-- type is still classed by its verb until requests are held to the table.
INSERT INTO nexplane.connectors (tenant_id, id, type, name)
VALUES (:'acme', '10000000-0000-0000-0000-000000000003', 'mariadb', 'maria-main');
BEGIN;
SET LOCAL ROLE nexplane_api;
SELECT test.as('admin');
SELECT v.connector, v.change_type, r->'factors'->0->>'name' AS class,
       (r->'factors'->0->>'weight')::int AS weight
  FROM (VALUES ('maria-main', '10000000-0000-0000-0000-000000000003'::uuid, 'grant'),
               ('maria-main', '10000000-0000-0000-0000-000000000003', 'drop_user'),
               ('pg-main', '10000000-0000-0000-0000-000000000001', 'rotate_password'),
               ('pg-main', '10000000-0000-0000-0000-000000000001', 'revoke_role'),
               ('ldap-main', '10000000-0000-0000-0000-000000000002', 'add_to_group'),
               ('pg-main', '10000000-0000-0000-0000-000000000001', 'purge_cache')) v(connector, id, change_type),
       LATERAL nexplane.risk_score(v.id, v.change_type, '{}', '2030-01-16 10:00Z') r;
COMMIT;
