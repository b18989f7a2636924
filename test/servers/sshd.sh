#!/usr/bin/env bash
# A throwaway OpenSSH server for the agent's end-to-end test: Debian's
# sshd, started as root with a config of its own in a directory the test
# gives, on 127.0.0.1 and a given port, key and password logins on, PAM
# off (so sshd itself refuses a locked password or an expired account),
# StrictModes on, as on a real host.  And a throwaway account to log in as.
#
#   nx_sshd_init DIR PORT        host key and DIR/sshd_config
#   nx_sshd_start DIR            start it (foreground, -e log to DIR/sshd.log)
#                                and wait until it accepts connections
#   nx_sshd_stop DIR             stop it; harmless if not running
#   nx_ssh_user NAME PASSWORD    an account with a home under /home
#   nx_ssh_user_del NAME         remove it and its home
#   nx_ssh_key DIR PORT USER KEY    does sshd let USER in with private key KEY?
#   nx_ssh_password DIR PORT USER PW  ... with password PW (sshpass)?

nx_sshd_init() {
  local dir=$1 port=$2
  mkdir -p "$dir" /run/sshd
  chmod 755 "$dir"
  echo "$port" >"$dir/port"
  ssh-keygen -q -t ed25519 -N '' -f "$dir/host_key" </dev/null >/dev/null
  cat >"$dir/sshd_config" <<CONF
Port $port
ListenAddress 127.0.0.1
HostKey $dir/host_key
PidFile $dir/sshd.pid
UsePAM no
PubkeyAuthentication yes
PasswordAuthentication yes
KbdInteractiveAuthentication no
PermitRootLogin no
StrictModes yes
AuthorizedKeysFile .ssh/authorized_keys
LogLevel VERBOSE
MaxStartups 50
CONF
}

nx_sshd_start() {
  local dir=$1 port
  port=$(cat "$dir/port")
  /usr/sbin/sshd -D -e -f "$dir/sshd_config" >>"$dir/sshd.log" 2>&1 &
  echo $! >"$dir/sshd.run.pid"
  for _ in $(seq 1 100); do
    (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

nx_sshd_stop() {
  local dir=$1 pid
  [ -f "$dir/sshd.run.pid" ] || return 0
  pid=$(cat "$dir/sshd.run.pid")
  kill -TERM "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  rm -f "$dir/sshd.run.pid"
}

nx_ssh_user() {
  useradd -m -s /bin/sh "$1" >/dev/null 2>&1 || return 1
  printf '%s:%s\n' "$1" "$2" | chpasswd
}

nx_ssh_user_del() {
  pkill -KILL -u "$1" 2>/dev/null
  userdel -r "$1" >/dev/null 2>&1
  return 0
}

_nx_ssh_opts=(-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR
  -o ConnectTimeout=10 -o NumberOfPasswordPrompts=1)

nx_ssh_key() { # DIR PORT USER KEYFILE
  ssh "${_nx_ssh_opts[@]}" -o BatchMode=yes -o PasswordAuthentication=no \
    -o PreferredAuthentications=publickey -o IdentitiesOnly=yes -i "$4" \
    -p "$2" "$3@127.0.0.1" 'echo in' </dev/null 2>/dev/null | grep -qx in
}

nx_ssh_password() { # DIR PORT USER PASSWORD
  SSHPASS=$4 sshpass -e ssh "${_nx_ssh_opts[@]}" -o PubkeyAuthentication=no \
    -o PreferredAuthentications=password -p "$2" "$3@127.0.0.1" 'echo in' </dev/null 2>/dev/null |
    grep -qx in
}
