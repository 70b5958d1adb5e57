#!/usr/bin/env bash
# Make sure RabbitMQ and PostgreSQL answer on localhost and that the
# `onewindow` database role exists. Uses what is running; else installs
# Debian's packages and starts them (as root); else prints the steps.
set -euo pipefail

PG_PORT=${PG_PORT:-5432}
AMQP_PORT=${AMQP_PORT:-5672}

answers() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo "$@"; else return 1; fi; }
wait_for() { for _ in $(seq 1 60); do answers "$1" && return 0; sleep 1; done; return 1; }
steps() {
  cat >&2 <<TXT
OneWindow needs RabbitMQ on 127.0.0.1:$AMQP_PORT and PostgreSQL on 127.0.0.1:$PG_PORT.
Run as root (or with sudo), then try again:
  apt-get update && apt-get install -y rabbitmq-server postgresql
  rabbitmq-server -detached            # or: systemctl start rabbitmq-server
  pg_ctlcluster \$(ls /etc/postgresql) main start   # or: systemctl start postgresql
  runuser -u postgres -- psql -c "CREATE ROLE onewindow LOGIN SUPERUSER PASSWORD 'onewindow'"
TXT
  exit 1
}

apt_install() {
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null 2>&1 || {
    as_root apt-get update -q >/dev/null && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null; }
}

if ! answers "$AMQP_PORT"; then
  echo "RabbitMQ does not answer on 127.0.0.1:$AMQP_PORT; installing and starting it"
  command -v rabbitmq-server >/dev/null || apt_install rabbitmq-server || steps
  as_root rabbitmq-server -detached >/dev/null 2>&1 || as_root systemctl start rabbitmq-server || steps
  wait_for "$AMQP_PORT" || steps
fi

if ! answers "$PG_PORT"; then
  echo "PostgreSQL does not answer on 127.0.0.1:$PG_PORT; installing and starting it"
  command -v pg_ctlcluster >/dev/null || apt_install postgresql || steps
  cluster=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n1)
  [ -n "$cluster" ] || steps
  as_root pg_ctlcluster --skip-systemctl-redirect "$cluster" main start 2>/dev/null \
    || as_root pg_ctlcluster "$cluster" main start 2>/dev/null || as_root systemctl start postgresql || steps
  wait_for "$PG_PORT" || steps
fi

# The role the services log in with. Trust auth lets us in as postgres over
# TCP; a fresh Debian install wants peer auth as the postgres user instead.
role_sql="DO \$\$BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname='onewindow') THEN CREATE ROLE onewindow LOGIN SUPERUSER PASSWORD 'onewindow'; END IF; END\$\$;"
if PGCONNECT_TIMEOUT=5 psql -X -q -h 127.0.0.1 -p "$PG_PORT" -U onewindow -d postgres -c 'select 1' >/dev/null 2>&1 \
   || PGPASSWORD=onewindow PGCONNECT_TIMEOUT=5 psql -X -q -h 127.0.0.1 -p "$PG_PORT" -U onewindow -d postgres -c 'select 1' >/dev/null 2>&1; then
  :
elif PGCONNECT_TIMEOUT=5 psql -X -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -c "$role_sql" >/dev/null 2>&1; then
  :
elif as_root runuser -u postgres -- psql -X -q -p "$PG_PORT" -c "$role_sql" >/dev/null 2>&1; then
  :
else
  steps
fi
echo "RabbitMQ on 127.0.0.1:$AMQP_PORT and PostgreSQL on 127.0.0.1:$PG_PORT are ready"
