#!/usr/bin/env bash
# bench/vault: encryptions and decryptions per second of a 200-byte secret,
# Nexplane's vault against pgcrypto's pgp_sym_encrypt/pgp_sym_decrypt and
# encrypt_iv/decrypt_iv with AES, measured in one run on one cluster.
# Target: the vault encrypts at least 3x as fast as pgp_sym_encrypt.
#
# The vault is measured two ways: warm, with the tenant's data key cached
# for the transaction (a batch, like rotate_tenant_key or a loop over
# generate_series, which is how the pgcrypto figures are taken), and cold,
# looking up and unwrapping the data key for every operation (an SPI query
# and an AES-GCM unwrap), which is what one credential per transaction
# costs.  The target is judged on the like-for-like warm figure; both print.
. "$(dirname "$0")/../lib.sh"
N_VAULT=${N_VAULT:-20000}
N_PGP=${N_PGP:-2000}
N_IV=${N_IV:-20000}

sql -c "CREATE EXTENSION nexplane" -c "CREATE EXTENSION nexplane_test" -c "CREATE EXTENSION pgcrypto" >/dev/null
tenant=$(sql -c "SELECT nexplane.tenant_create('bench', 'Bench', 'admin@bench.test', 'bench-admin-password')->'tenant'->>'id'")
sql <<'SQL'
CREATE FUNCTION ops_per_sec(q text, n int) RETURNS numeric LANGUAGE plpgsql AS $$
DECLARE t0 timestamptz := clock_timestamp();
BEGIN
    EXECUTE q;
    RETURN round(n / extract(epoch FROM clock_timestamp() - t0));
END $$;
CREATE TABLE secret AS SELECT repeat('s', 200) AS s;
SQL
sql -c "SELECT nexplane_test.vault_bench('$tenant', 200)" >/dev/null   # warm: derive the KEK once
vault=$(sql -c "SELECT nexplane_test.vault_bench('$tenant', $N_VAULT)")
venc=$(sed -E 's/.*"encrypt_per_sec": ([0-9]+).*/\1/' <<<"$vault")
vdec=$(sed -E 's/.*"decrypt_per_sec": ([0-9]+).*/\1/' <<<"$vault")
vencc=$(sed -E 's/.*"encrypt_cold_per_sec": ([0-9]+).*/\1/' <<<"$vault")
vdecc=$(sed -E 's/.*"decrypt_cold_per_sec": ([0-9]+).*/\1/' <<<"$vault")
penc=$(sql -c "SELECT ops_per_sec(\$q\$CREATE TABLE pgp AS SELECT pgp_sym_encrypt(s, 'bench key') AS b FROM secret, generate_series(1, $N_PGP)\$q\$, $N_PGP)")
pdec=$(sql -c "SELECT ops_per_sec(\$q\$SELECT count(pgp_sym_decrypt(b, 'bench key')) FROM pgp\$q\$, $N_PGP)")
ienc=$(sql -c "SELECT ops_per_sec(\$q\$CREATE TABLE iv AS SELECT encrypt_iv(convert_to(s, 'UTF8'), '\\x000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f', '\\x000102030405060708090a0b0c0d0e0f', 'aes') AS b FROM secret, generate_series(1, $N_IV)\$q\$, $N_IV)")
idec=$(sql -c "SELECT ops_per_sec(\$q\$SELECT count(decrypt_iv(b, '\\x000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f', '\\x000102030405060708090a0b0c0d0e0f', 'aes')) FROM iv\$q\$, $N_IV)")

printf '\nvault benchmark: 200-byte secret, operations per second (higher is better)\n'
printf '%-44s %12s %12s\n' "" encrypt decrypt
printf '%-44s %12s %12s\n' "nexplane vault, data key cached (warm)" "$venc" "$vdec"
printf '%-44s %12s %12s\n' "nexplane vault, key unwrapped per op (cold)" "$vencc" "$vdecc"
printf '%-44s %12s %12s\n' "pgcrypto pgp_sym_encrypt/decrypt (baseline)" "$penc" "$pdec"
printf '%-44s %12s %12s\n' "pgcrypto encrypt_iv/decrypt_iv, aes (CBC)" "$ienc" "$idec"
awk -v v="$venc" -v c="$vencc" -v p="$penc" 'BEGIN {
  r = v / p; printf "vault / pgp_sym_encrypt: %.1fx warm (target >= 3x): %s; %.1fx cold\n",
  r, (r >= 3 ? "met" : "NOT met"), c / p }'
