#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the tests: `source .ci/postgres.sh start` initdb's a cluster in a temp
# folder as a non-root user, starts it on a unix socket in that folder (no TCP port), creates the database
# `navbill_test` and exports NAVBILL_TEST_POSTGRES_URL; `.ci/postgres.sh stop` (or pg_stop) removes it all.
# Needs the Debian package `postgresql` (its binaries live in /usr/lib/postgresql/<version>/bin).

pg_bin() {
    local dir
    dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
    if [ -z "$dir" ]; then dir=$(dirname "$(command -v pg_ctl 2>/dev/null || echo /nonexistent/pg_ctl)"); fi
    echo "$dir"
}

pg_start() {
    local bin user as
    bin=$(pg_bin)
    if [ ! -x "$bin/initdb" ]; then echo "PostgreSQL is not installed (apt-get install postgresql); its tests are skipped" >&2; return 1; fi
    NAVBILL_PG_DIR=$(mktemp -d /tmp/navbill-pg.XXXXXX)
    export NAVBILL_PG_DIR
    as=()
    if [ "$(id -u)" = "0" ]; then  # initdb refuses root: the cluster belongs to nobody
        user=nobody
        chown "$user" "$NAVBILL_PG_DIR"
        as=(runuser -u "$user" --)
    fi
    chmod 0755 "$NAVBILL_PG_DIR"
    "${as[@]}" "$bin/initdb" -D "$NAVBILL_PG_DIR/data" -U navbill --auth=trust -E UTF8 --no-sync >/dev/null || return 1
    "${as[@]}" "$bin/pg_ctl" -D "$NAVBILL_PG_DIR/data" -l "$NAVBILL_PG_DIR/log" -w -s \
        -o "-c listen_addresses='' -c unix_socket_directories='$NAVBILL_PG_DIR' -c fsync=off -c max_connections=200" \
        start || { cat "$NAVBILL_PG_DIR/log" >&2; return 1; }
    "${as[@]}" "$bin/createdb" -h "$NAVBILL_PG_DIR" -U navbill navbill_test || return 1
    export NAVBILL_TEST_POSTGRES_URL="postgresql+psycopg://navbill@/navbill_test?host=$NAVBILL_PG_DIR"
    echo "PostgreSQL test server: $NAVBILL_TEST_POSTGRES_URL" >&2
}

pg_stop() {
    local bin as
    [ -n "${NAVBILL_PG_DIR:-}" ] && [ -d "$NAVBILL_PG_DIR" ] || return 0
    bin=$(pg_bin)
    as=()
    if [ "$(id -u)" = "0" ]; then as=(runuser -u nobody --); fi
    "${as[@]}" "$bin/pg_ctl" -D "$NAVBILL_PG_DIR/data" -m immediate -s stop || true
    rm -rf "$NAVBILL_PG_DIR"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    case "${1:-}" in
        start) pg_start && echo "export NAVBILL_PG_DIR=$NAVBILL_PG_DIR NAVBILL_TEST_POSTGRES_URL='$NAVBILL_TEST_POSTGRES_URL'" ;;
        stop) NAVBILL_PG_DIR="${2:-${NAVBILL_PG_DIR:-}}" pg_stop ;;
        *) echo "usage: $0 start|stop [DIR]" >&2; exit 2 ;;
    esac
fi
