#!/usr/bin/env bash
# Runs the official MCP conformance suite against examples/mcpserver on
# loopback and checks the outcome against baseline.yml (see README.md).
#
#   .ci/conformance/run.sh            # from anywhere in the repository
#
# Results and logs go to $NQ_ARTIFACTS/conformance (default
# testdata/artifacts/conformance): RESULTS.md, results.json, the suite's
# checks.json files and output, and the server's log.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out="${NQ_ARTIFACTS:-$root/testdata/artifacts}/conformance"
budget="${NQ_CONFORMANCE_TIMEOUT:-240}" # seconds for the suite itself

say() { printf '%s\n' "$*"; }
die() { say "conformance: $*" >&2; exit 1; }

work=$(mktemp -d)
server_pid=""
cleanup() {
	if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
		kill -TERM "$server_pid" 2>/dev/null || true
		for _ in $(seq 50); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$server_pid" 2>/dev/null || true
		wait "$server_pid" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# 1. The suite and a Node 22 to run it, pinned by package-lock.json. npm ci
# is skipped when node_modules already matches the lock file.
command -v npm >/dev/null || die "npm is missing (.ci/run installs Debian's npm)"
stamp="$here/node_modules/.nq-lock-sha256"
want=$(sha256sum "$here/package-lock.json" | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
	say "npm ci (.ci/conformance)"
	(cd "$here" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
	printf '%s\n' "$want" > "$stamp"
fi
node="$here/node_modules/.bin/node" # from node-linux-<arch>, see README.md
if [ ! -x "$node" ]; then
	node=$(command -v node || true)
	[ -n "$node" ] || die "no Node.js: node-linux-$(uname -m) did not install and there is no node on PATH"
fi
major=$("$node" -p 'process.versions.node.split(".")[0]')
[ "$major" -ge 22 ] || die "the suite needs Node >= 22; $node is $("$node" -v) (see README.md)"
say "node $("$node" -v) ($node)"

# The driver's own tests (scripted login, baseline comparison): a second.
"$node" --test --test-reporter=dot "$here"/test/*.test.mjs

# 2. The server under test, built once so that the process we stop is the
# server itself (go run would leave its child behind).
rm -rf "$out"
mkdir -p "$out"
(cd "$root" && go build -o "$work/mcpserver" ./examples/mcpserver)

# 3. Start it on a free loopback port (-addr 127.0.0.1:0: the server binds
# the port and derives its public URL from it, so there is no race) with
# a throwaway demo password and metadata-document clients allowed from
# loopback over http (development-only flags, needed because the suite's
# client runs on this machine).
export NQ_DEMO_USER=conformance
NQ_DEMO_PASSWORD=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
export NQ_DEMO_PASSWORD
"$work/mcpserver" -addr 127.0.0.1:0 -store memory \
	-cimd-domains 127.0.0.1 -cimd-allow-http -allow-private-fetch \
	>"$out/server.log" 2>&1 &
server_pid=$!

# 4. Wait for it: the issuer from the start-up message, then the protected
# resource metadata answering 200.
issuer=""
prm=""
for _ in $(seq 300); do
	kill -0 "$server_pid" 2>/dev/null || { cat "$out/server.log" >&2; die "the server exited during start-up"; }
	if [ -z "$issuer" ]; then
		issuer=$(sed -n 's/^ *Issuer: *\(http[^ ]*\).*/\1/p' "$out/server.log" | head -n1)
	fi
	if [ -n "$issuer" ]; then
		prm="$issuer/.well-known/oauth-protected-resource/mcp"
		"$node" -e 'fetch(process.argv[1]).then(r=>process.exit(r.status===200?0:1),()=>process.exit(1))' "$prm" && break
	fi
	sleep 0.2
done
[ -n "$issuer" ] || { cat "$out/server.log" >&2; die "no issuer in the server's start-up message after 60 s"; }
say "server pid $server_pid, issuer $issuer"

# 5. The suite, bounded in time. The driver prints the table of checks and
# the verdict against baseline.yml.
rc=0
timeout --kill-after=10 "$budget" "$node" "$here/conformance.mjs" \
	--prm-url "$prm" --user "$NQ_DEMO_USER" --password-env NQ_DEMO_PASSWORD \
	--out "$out" --cimd || rc=$?
if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
	say "conformance: the suite did not finish within ${budget}s"
fi
if [ "$rc" -ne 0 ]; then
	say "--- last lines of the server log ($out/server.log):"
	tail -n 40 "$out/server.log" | grep -v 'Demo password' || true
fi
say "results: $out/RESULTS.md"
exit "$rc"
