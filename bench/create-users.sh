#!/usr/bin/env bash
# Create the accounts `xmppd bench` logs in as: <prefix>1..<prefix>N@<domain>,
# all with the same password. Accounts that exist already are kept. Works
# whether the server runs (admin socket) or not (store opened directly).
#
#   bench/create-users.sh [-n USERS] [-p PREFIX] [-d DOMAIN] [-w PASSWORD] [-- XMPPD-ARGS...]
#   bench/create-users.sh -n 1000 -- --config /tmp/bench/xmppd.toml
#
# XMPPD names the binary (default: xmppd on PATH). The defaults match
# those of `xmppd bench` (100 users bench1..bench100@localhost, password
# bench-password). For xmppd, `xmppd bench --create` does the same faster.
set -euo pipefail

n=100 prefix=bench domain=localhost password=bench-password
while getopts "n:p:d:w:h" opt; do
	case $opt in
	n) n=$OPTARG ;;
	p) prefix=$OPTARG ;;
	d) domain=$OPTARG ;;
	w) password=$OPTARG ;;
	*) sed -n '2,12p' "$0" >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
xmppd=${XMPPD:-xmppd}

created=0 existed=0
for ((i = 1; i <= n; i++)); do
	if out=$(printf '%s\n' "$password" | "$xmppd" user add "$prefix$i@$domain" --password-stdin "$@" 2>&1); then
		created=$((created + 1))
	elif [[ $out == *"already exists"* ]]; then
		existed=$((existed + 1))
	else
		echo "create-users: $prefix$i@$domain: $out" >&2
		exit 1
	fi
done
echo "users: $created created, $existed existed already"
