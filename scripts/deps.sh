#!/usr/bin/env bash
# Install, from Debian's packages, whatever of the build and test
# dependencies is missing.  One apt-get update, and only when needed.
set -euo pipefail

packages=(
  gcc make libc6-dev pkg-config
  postgresql-15 postgresql-server-dev-15 postgresql-15-cron libpq-dev
  libssl-dev libcrypt-dev libjansson-dev libevent-dev libcurl4-openssl-dev
  openssl curl ca-certificates perl libipc-run-perl jq
  clang libclang-rt-14-dev wrk
  libmariadb-dev mariadb-server libhiredis-dev redis-server
  libldap2-dev slapd ldap-utils
  openssh-server openssh-client sshpass
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "missing packages: ${missing[*]}; run as root to install them" >&2
  exit 1
fi
# Our clusters are private and temporary: keep Debian from making and
# starting its own "main" cluster when postgresql-15 is installed.
mkdir -p /etc/postgresql-common
[ -f /etc/postgresql-common/createcluster.conf ] ||
  echo "create_main_cluster = false" > /etc/postgresql-common/createcluster.conf
echo "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends \
  -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
  "${missing[@]}" >/dev/null
