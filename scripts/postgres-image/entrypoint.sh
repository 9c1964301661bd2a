#!/bin/bash
# Runs PostgreSQL as the host account that owns the data (METALAB_UID/METALAB_GID), never root;
# everything written in the mounts is written as that account.
# Mounts: /var/lib/metalab/data (the cluster), /run/metalab (the run directory: the password
# file `postgres.password`, read here and never passed in argv or the environment, and
# `postgres.log`). Non-secret settings: METALAB_PG_USER, METALAB_PG_DATABASE, METALAB_PG_AUTH.
set -euo pipefail
DATA=/var/lib/metalab/data RUN=/run/metalab SOCK=/run/metalab-socket
: "${METALAB_UID:?}" "${METALAB_GID:?}" "${METALAB_PG_USER:?}" "${METALAB_PG_DATABASE:?}"
AUTH=${METALAB_PG_AUTH:-scram-sha-256}
[[ $METALAB_UID != 0 ]] || { echo "metalab-postgres: refusing to run the server as root" >&2; exit 2; }
exec >>"$RUN/postgres.log" 2>&1
# PID 1 ignores signals it has no handler for: stop before the server runs, then forward them.
server=
trap 'if [[ -n $server ]]; then kill -INT "$server" 2>/dev/null; else exit 130; fi' INT TERM
# initdb and the server look their uid up: give it a name inside the container.
getent passwd "$METALAB_UID" >/dev/null || echo "metalab:x:$METALAB_UID:$METALAB_GID::/tmp:/bin/false" >>/etc/passwd
getent group "$METALAB_GID" >/dev/null || echo "metalab:x:$METALAB_GID:" >>/etc/group
as_owner() { setpriv --reuid="$METALAB_UID" --regid="$METALAB_GID" --clear-groups -- "$@"; }
install -d -m 0700 -o "$METALAB_UID" -g "$METALAB_GID" "$SOCK"
TEMPLATE=/opt/metalab-pg-template INITIALISING=$RUN/.postgres-initialising
# A first start killed half-way (kill -9, docker kill) leaves the marker: start that one again.
[[ -f $INITIALISING ]] && find "$DATA" -mindepth 1 -delete
if [[ ! -f $DATA/PG_VERSION ]]; then
    as_owner touch "$INITIALISING"
    if [[ $METALAB_PG_USER == metalab && -f $TEMPLATE/PG_VERSION ]]; then
        # Root reads the template, the owner writes the copy: no file in the mount is ever
        # another uid's (under rootless Podman that would be a subuid the user cannot delete).
        tar -C "$TEMPLATE" -cf - . | (umask 077 && as_owner tar -C "$DATA" -xf - --no-same-owner)
    else
        as_owner initdb --no-sync -D "$DATA" -U "$METALAB_PG_USER" -E UTF8 --locale=C \
            --auth-local=peer --auth-host=reject >/dev/null
    fi
    sync -f "$DATA"
    rm -f "$INITIALISING"
fi
# The socket directory is private to the server's account (and root) inside the container.
rm -f "$DATA/pg_hba.conf"
(umask 077 && as_owner tee "$DATA/pg_hba.conf" >/dev/null) <<HBA
# Written by metalab at every start; edits are overwritten.
local all all trust
host  all all 0.0.0.0/0 $AUTH
host  all all ::/0 $AUTH
HBA
rm -f "$DATA/postmaster.pid"  # this container's own server is the only one on this data
# setpriv itself in the background (not the function: a subshell would ignore SIGINT), so that
# $! is the postmaster and a stop signal reaches it as a fast shutdown.
setpriv --reuid="$METALAB_UID" --regid="$METALAB_GID" --clear-groups -- \
    postgres -D "$DATA" -k "$SOCK" -h '*' -p 5432 -c unix_socket_permissions=0700 \
    -c logging_collector=off &
server=$!
for _ in $(seq 1 600); do
    as_owner pg_isready -q -h "$SOCK" -p 5432 && break
    kill -0 "$server" 2>/dev/null || { wait "$server"; exit $?; }
    sleep 0.05
done
# The password is read by psql from the mounted file (`\set` with backticks): it never appears
# in an argv, the environment or the server log (statement logging is off for this session).
as_owner psql -XqAt -v ON_ERROR_STOP=1 -h "$SOCK" -p 5432 -U "$METALAB_PG_USER" -d postgres \
    -v db="$METALAB_PG_DATABASE" -v role="$METALAB_PG_USER" <<'SQL'
SET log_statement = 'none';
SET log_min_error_statement = 'panic';
SET log_min_duration_statement = -1;
\set pw `cat /run/metalab/postgres.password`
ALTER ROLE :"role" PASSWORD :'pw';
\unset pw
SELECT format('CREATE DATABASE %I', :'db') WHERE NOT EXISTS
    (SELECT 1 FROM pg_database WHERE datname = :'db') \gexec
SQL
# A stop signal interrupts `wait` (status > 128) while the server shuts down: wait again.
set +e
wait "$server"
status=$?
while [[ $status -gt 128 ]] && kill -0 "$server" 2>/dev/null; do
    wait "$server"
    status=$?
done
exit "$status"
