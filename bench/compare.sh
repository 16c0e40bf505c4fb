#!/usr/bin/env bash
# Side by side: run the same `xmppd bench` scenarios against xmppd, Prosody
# 0.12 and ejabberd 23.01 (Debian packages) on this machine, each with
# message archiving off and on, and write a markdown table.
#
#   bench/compare.sh [--full] [--servers "xmppd prosody ejabberd"] [--archive "off on"]
#                    [--users N] [--login-workers N] [--pairs N] [--window N]
#                    [--rooms N] [--occupants N] [--idle N] [--duration 5s]
#                    [--grace 60s] [--out FILE] [--keep]
#
# Defaults are small (200 users, 20 login workers, 50 chat pairs window 16,
# 10 rooms x 10 occupants, 1000 idle connections, 5s per scenario: about 10
# minutes on 2 cores). --full runs the reference parameters of issue 8
# (1000 users, 50 login workers, 500 pairs window 16, 20 rooms x 10
# occupants, 5000 idle connections). Every flag has an environment
# variable of the same name in capitals (USERS=1000, DURATION=10s, ...).
#
# As root it installs the missing Debian packages prosody and ejabberd
# (their system services are not started: each server runs here as its own
# instance from a generated config in a temporary directory, on loopback
# ports of its own). Each server is started fresh for each archive mode;
# idle (memory per connection) runs first on the fresh server, then login,
# chat and muc. The table goes to stdout and to bench/results/<date>.md
# (or --out). Everything it starts is stopped on exit.
set -euo pipefail

args="$*"
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)

usage() { sed -n '2,24p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }

SERVERS=${SERVERS:-"xmppd prosody ejabberd"}
ARCHIVE=${ARCHIVE:-"off on"}
USERS=${USERS:-200}
LOGIN_WORKERS=${LOGIN_WORKERS:-20}
PAIRS=${PAIRS:-50}
WINDOW=${WINDOW:-16}
ROOMS=${ROOMS:-10}
OCCUPANTS=${OCCUPANTS:-10}
IDLE=${IDLE:-1000}
DURATION=${DURATION:-5s}
GRACE=${GRACE:-60s}   # chat, muc: how long messages in flight may take after the load
SETTLE=${SETTLE:-120} # seconds to wait for a busy server between scenarios
OUT=${OUT:-}
KEEP=${KEEP:-}
PRINT_XMPPD_CONFIG=
while (($#)); do
	case $1 in
	--full) USERS=1000 LOGIN_WORKERS=50 PAIRS=500 WINDOW=16 ROOMS=20 OCCUPANTS=10 IDLE=5000; shift ;;
	--servers) SERVERS=$2; shift 2 ;;
	--archive) ARCHIVE=$2; shift 2 ;;
	--users) USERS=$2; shift 2 ;;
	--login-workers) LOGIN_WORKERS=$2; shift 2 ;;
	--pairs) PAIRS=$2; shift 2 ;;
	--window) WINDOW=$2; shift 2 ;;
	--rooms) ROOMS=$2; shift 2 ;;
	--occupants) OCCUPANTS=$2; shift 2 ;;
	--idle) IDLE=$2; shift 2 ;;
	--duration) DURATION=$2; shift 2 ;;
	--grace) GRACE=$2; shift 2 ;;
	--out) OUT=$2; shift 2 ;;
	--keep) KEEP=1; shift ;; # keep the temporary directory (configs, logs, JSON)
	--xmppd-config) PRINT_XMPPD_CONFIG=$2; shift 2 ;; # print xmppd's config for archive on|off, run nothing (tests)
	-h | --help) usage ;;
	*) echo "compare: unknown argument $1" >&2; usage ;;
	esac
done
for v in USERS LOGIN_WORKERS PAIRS WINDOW ROOMS OCCUPANTS IDLE SETTLE; do
	[[ ${!v} =~ ^[1-9][0-9]*$ ]] || { echo "compare: $v must be a positive number, got '${!v}'" >&2; exit 2; }
done
((2 * PAIRS <= USERS)) || { echo "compare: --pairs $PAIRS needs $((2 * PAIRS)) users, --users is $USERS" >&2; exit 2; }

DOMAIN=localhost
MUC=conference.$DOMAIN
PASSWORD=bench-password
PREFIX=bench

# xmppd_config DIR PORT ARCHIVE CERTDIR: xmppd's configuration for one run.
# Archive off is [mam] enabled = false (no users' archive) and [muc]
# archive = false (no rooms' archives).
xmppd_config() {
	local dir=$1 port=$2 archive=$3 certs=$4 on=true
	[[ $archive == on ]] || on=false
	cat <<-EOF
		domain = "$DOMAIN"
		data_dir = "$dir/data"
		[c2s]
		listen = "127.0.0.1:$port"
		direct_tls_listen = ""
		[http]
		listen = ""
		[tls]
		cert_file = "$certs/cert.pem"
		key_file = "$certs/key.pem"
		[admin]
		socket = "$dir/admin.sock"
		[log]
		level = "warn"
		[limits]
		connections_per_ip = 100000
		max_resources_per_user = 100
		failed_logins_per_ip = 100000
		[muc]
		domain = "$MUC"
		message_rate = 0
		presence_rate = 0
		archive = $on
		[mam]
		enabled = $on
	EOF
}
if [[ -n $PRINT_XMPPD_CONFIG ]]; then
	xmppd_config /tmp/xmppd-compare 5222 "$PRINT_XMPPD_CONFIG" /tmp/xmppd-compare
	exit 0
fi

log() { printf '%s compare: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "$*"; exit 1; }

# --- clean-up: every process we start is recorded and stopped on exit ---

tmp=$(mktemp -d /tmp/xmppd-compare.XXXXXX)
chmod 755 "$tmp" # the ejabberd user reads its config and certificate here
server_pid=   # what `xmppd bench --pid` samples
server_stop=  # a function that stops the current server
server_top=   # the process we started (server_pid may be a descendant)
bench_pid=    # the running `xmppd bench`
own_policy=   # set while we own /usr/sbin/policy-rc.d
cleanup() {
	local rc=$?
	if [[ -n $bench_pid ]]; then stop_tree "$bench_pid"; fi
	if [[ -n $server_stop ]]; then "$server_stop" || true; fi
	if [[ -n $own_policy ]]; then rm -f /usr/sbin/policy-rc.d; fi
	if [[ -n $KEEP ]]; then log "kept $tmp"; else rm -rf "$tmp"; fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# wait_port HOST:PORT SECONDS PID: until something accepts connections
# there; fails at once when process PID (the server we started) is gone.
wait_port() {
	local host=${1%:*} port=${1##*:} deadline=$((SECONDS + $2))
	while ((SECONDS < deadline)); do
		if (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then return 0; fi
		kill -0 "$3" 2>/dev/null || return 1
		sleep 0.2
	done
	return 1
}

# descendant PID NAME: the first process called NAME in the tree under PID
# (ejabberdctl runs erl, which runs beam.smp: we measure the VM).
kids() {
	local k
	read -ra k < <(cat /proc/"$1"/task/*/children 2>/dev/null; echo) || true
	printf '%s\n' "${k[@]}"
}
descendant() {
	local pid=$1 name=$2 child found
	[[ $(cat "/proc/$pid/comm" 2>/dev/null) == "$name" ]] && { echo "$pid"; return 0; }
	for child in $(kids "$pid"); do
		if found=$(descendant "$child" "$name"); then echo "$found"; return 0; fi
	done
	return 1
}

# stop_tree PID: TERM the process and its descendants, KILL what is left
# after 10 s.
tree() {
	local child
	echo "$1"
	for child in $(kids "$1"); do tree "$child"; done
}
# alive PID...: whether any of them still runs.
alive() {
	local p
	for p; do kill -0 "$p" 2>/dev/null && return 0; done
	return 1
}
stop_tree() {
	local pids i
	mapfile -t pids < <(tree "$1")
	kill -TERM "${pids[@]}" 2>/dev/null || true
	for ((i = 0; i < 50; i++)); do
		alive "${pids[@]}" || return 0
		sleep 0.2
	done
	kill -KILL "${pids[@]}" 2>/dev/null || true
}

# The idle scenario holds IDLE connections on each side: raise the
# open-files limit as far as we may.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
ulimit -n 65536 2>/dev/null || true

# --- 1. packages and the xmppd binary ---

need_pkgs=()
for s in $SERVERS; do
	case $s in
	xmppd) ;;
	prosody) command -v prosody >/dev/null || need_pkgs+=(prosody lua-dbi-sqlite3) ;;
	ejabberd) command -v ejabberdctl >/dev/null || need_pkgs+=(ejabberd) ;;
	*) die "unknown server '$s' (want xmppd, prosody, ejabberd)" ;;
	esac
done
if [[ " $SERVERS " == *" prosody "* ]] && ! dpkg -s lua-dbi-sqlite3 >/dev/null 2>&1; then
	need_pkgs+=(lua-dbi-sqlite3) # Prosody's SQL (SQLite) storage for the archive
fi
if [[ " $SERVERS " == *" ejabberd "* ]] && ((EUID != 0)); then
	die "ejabberd runs as the ejabberd user: run as root, or leave it out (--servers \"xmppd prosody\")"
fi
if ((${#need_pkgs[@]})); then
	((EUID == 0)) || die "missing packages ${need_pkgs[*]}: run as root to install them, or apt-get install them"
	log "installing ${need_pkgs[*]}"
	# policy-rc.d 101 keeps the packages' system services from starting:
	# we run our own instances. Only ours is removed afterwards.
	if [[ ! -e /usr/sbin/policy-rc.d ]]; then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod 755 /usr/sbin/policy-rc.d
		own_policy=1 # removed by cleanup, also when the install fails
	fi
	apt-get update -q >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need_pkgs[@]}" >&2
	if [[ -n $own_policy ]]; then rm -f /usr/sbin/policy-rc.d; own_policy=; fi
fi
# A system service that runs anyway (e.g. started by the package on a
# systemd machine) costs CPU during the measurement: stop it.
for svc in prosody ejabberd; do
	if [[ " $SERVERS " == *" $svc "* ]] && command -v systemctl >/dev/null && systemctl is-active --quiet "$svc" 2>/dev/null; then
		log "stopping the system service $svc"
		systemctl stop "$svc"
	fi
done

X=$tmp/xmppd
log "building xmppd"
(cd "$root" && go build -o "$X" ./cmd/xmppd)

# One self-signed certificate for the domain and the MUC service.
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=$DOMAIN" \
	-addext "subjectAltName=DNS:$DOMAIN,DNS:$MUC" \
	-keyout "$tmp/key.pem" -out "$tmp/cert.pem" 2>/dev/null
cat "$tmp/cert.pem" "$tmp/key.pem" >"$tmp/combined.pem"
chmod 644 "$tmp"/*.pem

# Ports: one block per run, away from the defaults (5222) so a running
# system server does not get in the way.
port_base=${PORT_BASE:-25222}

# --- 2. the servers ---

# Each start_<server> DIR PORT ARCHIVE starts the server, sets server_pid
# and server_stop, and waits until it accepts connections; each
# users_<server> creates the users.

start_xmppd() {
	local dir=$1 port=$2 archive=$3
	xmppd_config "$dir" "$port" "$archive" "$tmp" >"$dir/xmppd.toml"
	"$X" serve --config "$dir/xmppd.toml" >"$dir/server.log" 2>&1 &
	server_pid=$!
	server_stop=stop_server
	wait_port "127.0.0.1:$port" 30 "$server_pid" || die "xmppd did not listen on $port: $(tail -3 "$dir/server.log")"
}
users_xmppd() {
	"$X" bench login --create --config "$1/xmppd.toml" --addr "127.0.0.1:$2" --users "$USERS" \
		--connections 1 --duration 1ms >/dev/null 2>"$1/create.log" ||
		die "creating xmppd users: $(tail -3 "$1/create.log")"
}

start_prosody() {
	local dir=$1 port=$2 archive=$3 mods="" mucmods=""
	if [[ $archive == on ]]; then
		mods='"mam";'
		mucmods='modules_enabled = { "muc_mam" }'
	fi
	mkdir -p "$dir/data"
	# SCRAM-SHA-256 (password_hash), STARTTLS required; MAM in SQLite
	# (Prosody's recommended archive backend), everything else in its
	# internal file storage; no s2s, no HTTP.
	cat >"$dir/prosody.cfg.lua" <<-EOF
		run_as_root = true
		pidfile = "$dir/prosody.pid"
		data_path = "$dir/data"
		admin_socket = "$dir/prosody.sock"
		log = { { levels = { min = "warn" }, to = "file", filename = "$dir/server.log" } }
		interfaces = { "127.0.0.1" }
		c2s_ports = { $port }
		c2s_direct_tls_ports = { }
		s2s_ports = { }
		http_ports = { }
		https_ports = { }
		component_ports = { }
		network_backend = "epoll"
		modules_enabled = {
			"roster"; "saslauth"; "tls"; "disco"; "carbons"; "pep"; "private";
			"blocklist"; "vcard4"; "vcard_legacy"; "version"; "uptime"; "time";
			"ping"; "offline"; "admin_shell"; $mods
		}
		modules_disabled = { "s2s" }
		authentication = "internal_hashed"
		password_hash = "SHA-256"
		c2s_require_encryption = true
		allow_registration = false
		storage = { archive = "sql"; muc_log = "sql" }
		sql = { driver = "SQLite3"; database = "prosody.sqlite" }
		default_archive_policy = true
		archive_expires_after = "never"
		certificates = "$tmp" -- (else it looks for a certs/ directory)
		ssl = { certificate = "$tmp/cert.pem"; key = "$tmp/key.pem" }
		VirtualHost "$DOMAIN"
		Component "$MUC" "muc"
			$mucmods
			muc_log_by_default = true
			restrict_room_creation = false
	EOF
	prosody --config "$dir/prosody.cfg.lua" -F >"$dir/stdout.log" 2>&1 &
	server_pid=$!
	server_stop=stop_server
	wait_port "127.0.0.1:$port" 30 "$server_pid" || die "prosody did not listen on $port: $(tail -3 "$dir/server.log" "$dir/stdout.log")"
}
users_prosody() {
	local dir=$1
	# `prosodyctl register` starts Lua and loads the config per user (a
	# third of a second each on a busy box): create them all in the
	# running server through its admin shell (mod_admin_shell) instead.
	local lua=">local um = require 'core.usermanager'; local made = 0
		for i = 1, $USERS do local u = '$PREFIX' .. i
			if not um.user_exists(u, '$DOMAIN') then assert(um.create_user(u, '$PASSWORD', '$DOMAIN')); made = made + 1 end
		end; return made .. ' created'"
	local i
	for ((i = 0; i < 50; i++)); do
		[[ -S $dir/prosody.sock ]] && break
		sleep 0.2
	done
	timeout 600 prosodyctl --config "$dir/prosody.cfg.lua" shell "${lua//$'\n'/ }" >"$dir/create.log" 2>&1 ||
		die "creating prosody users: $(tail -3 "$dir/create.log")"
}

# ejabberd_ctl DIR ARGS...: ejabberdctl for our instance. As root,
# ejabberdctl would switch to the ejabberd user with su, which resets the
# open-files limit to 1024 (too few for the idle scenario): switch with
# setpriv instead, which keeps it.
ejabberd_ctl() {
	local as=()
	((EUID == 0)) && as=(env HOME="$1" setpriv --reuid=ejabberd --regid=ejabberd --init-groups --)
	"${as[@]}" ejabberdctl --config-dir "$1" --ctl-config "$1/ejabberdctl.cfg" --config "$1/ejabberd.yml" \
		--logs "$1" --spool "$1/spool" "${@:2}"
}
start_ejabberd() {
	local dir=$1 port=$2 archive=$3 mam="" roommam=false
	if [[ $archive == on ]]; then
		mam=$'  mod_mam:\n    db_type: mnesia\n    default: always\n    assume_mam_usage: true'
		roommam=true
	fi
	mkdir -p "$dir/spool"
	# Our own Erlang node: its own distribution port on loopback (no
	# epmd), cookie and spool, so neither a system ejabberd nor another run
	# gets in the way.
	cat >"$dir/ejabberdctl.cfg" <<-EOF
		ERLANG_NODE=xmppdbench@localhost
		ERL_DIST_PORT=$((port + 1))
		INET_DIST_INTERFACE=127.0.0.1
		ERL_OPTIONS="-setcookie xmppd-bench-$$"
	EOF
	# SCRAM-SHA-256 storage, STARTTLS required, no traffic shapers (the
	# default config throttles c2s to 1,000 B/s), a listen backlog like the
	# other servers' (the default of 5 drops SYNs when many clients connect
	# at once: 1 s retransmits look like slow logins), mnesia for
	# everything.
	cat >"$dir/ejabberd.yml" <<-EOF
		hosts:
		  - $DOMAIN
		loglevel: warning
		certfiles:
		  - $tmp/combined.pem
		listen:
		  -
		    port: $port
		    ip: "127.0.0.1"
		    module: ejabberd_c2s
		    max_stanza_size: 262144
		    shaper: none
		    access: c2s
		    starttls_required: true
		    backlog: 1024
		auth_method: internal
		auth_password_format: scram
		auth_scram_hash: sha256
		acl:
		  local:
		    user_regexp: ""
		access_rules:
		  local:
		    allow: local
		  c2s:
		    allow: all
		  muc_create:
		    allow: local
		shaper_rules:
		  max_user_sessions: 1000
		  max_user_offline_messages: 5000
		  c2s_shaper: none
		modules:
		  mod_blocking: {}
		  mod_caps: {}
		  mod_carboncopy: {}
		  mod_disco: {}
		  mod_offline: {}
		  mod_ping: {}
		  mod_private: {}
		  mod_privacy: {}
		  mod_pubsub: {}
		  mod_roster: {}
		  mod_stream_mgmt: {}
		  mod_vcard: {}
		  mod_version: {}
		  mod_muc:
		    host: "$MUC"
		    access: all
		    access_create: muc_create
		    access_persistent: muc_create
		    access_admin: none
		    max_users: 1000
		    default_room_options:
		      mam: $roommam
		$mam
	EOF
	# Name resolution as in the package's inetrc (ejabberdctl reads it from
	# the config directory).
	cp /etc/ejabberd/inetrc "$dir/inetrc" 2>/dev/null || echo '{lookup,["file","native"]}.' >"$dir/inetrc"
	chown -R ejabberd: "$dir"
	ejabberd_ctl "$dir" foreground >"$dir/stdout.log" 2>&1 &
	local top=$!
	server_stop=stop_server
	server_pid=$top
	wait_port "127.0.0.1:$port" 60 "$top" || die "ejabberd did not listen on $port: $(grep -h critical "$dir/ejabberd.log" | tail -1)"
	server_pid=$(descendant "$top" beam.smp) || die "ejabberd: no beam.smp under $top"
	server_top=$top
}
users_ejabberd() {
	local dir=$1
	# `ejabberdctl register` starts an Erlang VM per call (about a second
	# each): register all users from one hidden node over the distribution
	# port instead, the way ejabberdctl talks to the server.
	local eval="N='xmppdbench@localhost', H=list_to_binary(\"$DOMAIN\"), P=list_to_binary(\"$PASSWORD\"),
		R=[rpc:call(N, ejabberd_auth, try_register, [list_to_binary(\"$PREFIX\" ++ integer_to_list(I)), H, P], 30000) || I <- lists:seq(1, $USERS)],
		Bad=[X || X <- R, X =/= ok, X =/= {error, exists}],
		io:format(\"~p ok, ~p failed ~p~n\", [length(R) - length(Bad), length(Bad), lists:sublist(Bad, 3)]),
		halt(case Bad of [] -> 0; _ -> 1 end)."
	timeout 300 erl -sname "xmppdbenchreg$$" -hidden -noinput -setcookie "xmppd-bench-$$" \
		-erl_epmd_port "$(($2 + 1))" -dist_listen false -start_epmd false -eval "$eval" >"$dir/create.log" 2>&1 ||
		die "registering ejabberd users: $(tail -3 "$dir/create.log")"
}

stop_server() {
	[[ -n $server_pid ]] || return 0
	local top=${server_top:-$server_pid}
	stop_tree "$top"
	wait "$top" 2>/dev/null || true
	server_pid='' server_stop='' server_top=
}

# --- 3. the runs ---

results=$tmp/results.jsonl
: >"$results"

# cpu_ticks: the server's user+system CPU time so far, in clock ticks.
cpu_ticks() {
	local stat f
	stat=$(cat "/proc/$server_pid/stat" 2>/dev/null) || { echo 0; return; }
	read -ra f <<<"${stat##*) }" # the fields after the command name
	echo $((f[11] + f[12]))
}

# settle: wait (at most SETTLE seconds) until the server is idle, i.e.
# used less than 5% of a core over a second, so that a backlog one
# scenario left (a server that could not keep up with chat still writing
# its archive) is not measured as the next scenario's cost.
settle() {
	local deadline=$((SECONDS + SETTLE)) a b
	b=$(cpu_ticks)
	while ((SECONDS < deadline)); do
		sleep 1
		a=$b b=$(cpu_ticks)
		((b - a < 5)) && return 0
	done
	log "server still busy after ${SETTLE}s, going on"
}

# label SERVER: the server's name and version for the table.
label() {
	case $1 in
	xmppd) echo "xmppd $(cd "$root" && git rev-parse --short HEAD 2>/dev/null || echo dev)" ;;
	prosody) echo "Prosody $(dpkg-query -W -f '${Version}' prosody 2>/dev/null | sed 's/-.*//')" ;;
	ejabberd) echo "ejabberd $(dpkg-query -W -f '${Version}' ejabberd 2>/dev/null | sed 's/-.*//')" ;;
	esac
}

# bench SERVER ARCHIVE SCENARIO PORT ARGS...: one `xmppd bench` run; its
# result (or its error) becomes a line of results.jsonl.
bench() {
	local server=$1 archive=$2 scenario=$3 port=$4 out err
	shift 4
	log "$server archive=$archive: $scenario"
	# In the background, so that an interrupt reaches the trap at once
	# (bash runs traps only between foreground commands).
	timeout 900 "$X" bench "$scenario" --json --addr "127.0.0.1:$port" --domain "$DOMAIN" \
		--users "$USERS" --password "$PASSWORD" --user-prefix "$PREFIX" --pid "$server_pid" \
		--muc-domain "$MUC" --grace "$GRACE" "$@" >"$tmp/bench.out" 2>"$tmp/bench.err" &
	bench_pid=$!
	wait "$bench_pid" || true
	bench_pid=''
	out=$(grep '"type":"result"' "$tmp/bench.out" | tail -1) || true
	if [[ -n $out ]]; then
		printf '{"server":"%s","label":"%s","archive":"%s","report":%s}\n' "$server" "$(label "$server")" "$archive" "$out" >>"$results"
	else
		err=$(tail -1 "$tmp/bench.err" | tr -d '\000-\037' | sed 's/[\\"]//g') # safe inside a JSON string
		log "$server archive=$archive $scenario failed: $err"
		printf '{"server":"%s","label":"%s","archive":"%s","scenario":"%s","error":"%s"}\n' "$server" "$(label "$server")" "$archive" "$scenario" "$err" >>"$results"
	fi
}

# The machine and how busy it was: the figures are only comparable with
# that in mind (the generator shares the cores with the server).
machine="$(nproc) cores ($(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)), load average $(cut -d' ' -f1-3 /proc/loadavg) at the start"
run=0
t0=$SECONDS
for server in $SERVERS; do
	for archive in $ARCHIVE; do
		dir=$tmp/$server-$archive
		mkdir -p "$dir"
		port=$((port_base + 10 * run))
		run=$((run + 1))
		log "starting $server (archive $archive) on 127.0.0.1:$port"
		"start_$server" "$dir" "$port" "$archive"
		log "creating $USERS users"
		"users_$server" "$dir" "$port"
		settle
		bench "$server" "$archive" idle "$port" --connections "$IDLE" --duration "$DURATION"
		settle
		bench "$server" "$archive" login "$port" --connections "$LOGIN_WORKERS" --duration "$DURATION"
		settle
		bench "$server" "$archive" chat "$port" --pairs "$PAIRS" --window "$WINDOW" --duration "$DURATION"
		settle
		bench "$server" "$archive" muc "$port" --rooms "$ROOMS" --occupants "$OCCUPANTS" --window "$WINDOW" --duration "$DURATION"
		stop_server
	done
done
log "all runs took $((SECONDS - t0)) s; load average now $(cut -d' ' -f1-3 /proc/loadavg)"
machine="$machine, $(cut -d' ' -f1-3 /proc/loadavg) at the end"

# --- 4. the table ---

if [[ -z $OUT ]]; then
	mkdir -p "$here/results"
	OUT=$here/results/$(date -u +%Y-%m-%d).md
fi
params="$(date -u '+%Y-%m-%d %H:%M UTC'), $machine; users $USERS, login workers $LOGIN_WORKERS, chat pairs $PAIRS window $WINDOW, muc $ROOMS rooms x $OCCUPANTS occupants, idle $IDLE connections, $DURATION per scenario, up to $GRACE for messages in flight"
(cd "$root" && go run ./bench/comparetable --params "$params" --duration "$DURATION" --command "bench/compare.sh${args:+ $args}" <"$results") >"$tmp/table.md"
cp "$tmp/table.md" "$OUT"
cat "$OUT"
log "table written to $OUT"
