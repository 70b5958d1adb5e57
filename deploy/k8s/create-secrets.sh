#!/usr/bin/env bash
# Creates the Secrets the manifests read; none is committed. Run it once,
# after 00-namespace.yaml and before the rest:
#
#   bash deploy/k8s/create-secrets.sh            (NAMESPACE=... for another namespace)
#
# Every password is generated here, goes straight into the cluster and is
# printed nowhere.
#   onewindow-admin      the broker's and the database's administrator, the
#                        Erlang cookie, and the services' passwords: read by
#                        RabbitMQ, PostgreSQL and the set-up Job
#                        (`onewindow setup --service-users` creates each
#                        service's user and role with them)
#   onewindow-monitor    the password of ow_monitor (statistics only, no
#                        table's rows): read by postgres_exporter alone
#   onewindow-<service>  that service's own broker user (ow-<service>) and
#                        database role (ow_<service>), and the readiness
#                        probe's user (ow-probe, health only); notify's and
#                        the portal's also the rating links' key: read by that
#                        service's pods alone
# A new service goes into SERVICES (and 50-services.yaml reads onewindow-<it>).
set -euo pipefail

NAMESPACE=${NAMESPACE:-onewindow}
SERVICES=(intake review fees notify hall gateway portal)
BROKER="rabbitmq.$NAMESPACE.svc:5672"
DATABASE="postgres.$NAMESPACE.svc:5432"

password() { openssl rand -hex 24; }
secret() { kubectl -n "$NAMESPACE" create secret generic "$@"; }

admin_broker=$(password)
admin_database=$(password)
probe=$(password)
monitor=$(password)
portal_secret=$(openssl rand -hex 32)   # signs the rating links: notify writes them, the portal checks them
admin=(
  --from-literal=RABBITMQ_ERLANG_COOKIE="$(openssl rand -hex 32)"
  --from-literal=RABBITMQ_DEFAULT_USER=onewindow
  --from-literal=RABBITMQ_DEFAULT_PASS="$admin_broker"
  --from-literal=POSTGRES_PASSWORD="$admin_database"
  --from-literal=AMQP_URI="amqp://onewindow:$admin_broker@$BROKER/"
  --from-literal=OW_RABBITMQ_ADMIN_USER=onewindow
  --from-literal=OW_RABBITMQ_ADMIN_PASSWORD="$admin_broker"
  --from-literal=OW_ADMIN_DATABASE_URL="postgresql://onewindow:$admin_database@$DATABASE/postgres"
  --from-literal=OW_PROBE_PASSWORD="$probe"
  --from-literal=OW_MONITOR_PASSWORD="$monitor"
)
for service in "${SERVICES[@]}"; do
  SERVICE=${service^^}
  broker=$(password)
  database=$(password)
  own=(
    --from-literal=AMQP_URI="amqp://ow-$service:$broker@$BROKER/"
    --from-literal="${SERVICE}_DATABASE_URL=postgresql://ow_$service:$database@$DATABASE/onewindow_$service"
    --from-literal=OW_PROBE_AMQP_URI="amqp://ow-probe:$probe@$BROKER/"
  )
  case $service in
    notify|portal) own+=(--from-literal=OW_PORTAL_SECRET="$portal_secret") ;;
  esac
  secret "onewindow-$service" "${own[@]}"
  admin+=(
    # the set-up Job migrates as the administrator, who owns every table
    --from-literal="${SERVICE}_DATABASE_URL=postgresql://onewindow:$admin_database@$DATABASE/onewindow_$service"
    --from-literal="${SERVICE}_BROKER_PASSWORD=$broker"
    --from-literal="${SERVICE}_DATABASE_PASSWORD=$database"
  )
done
secret onewindow-admin "${admin[@]}"
secret onewindow-monitor --from-literal=DATA_SOURCE_PASS="$monitor"
