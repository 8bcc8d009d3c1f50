#!/bin/bash
# SPDX-License-Identifier: MIT
# bench/manager: `tfrun up` with many services (issue 12's targets), each against a baseline in the same run.
#  1. RSS: VmRSS and VmHWM of a manager with 0 services (the baseline) and with N (mixed: every, calendar
#     with and without a time zone, cron, one-shot; native but for a few docker ones); the increment per
#     service.                                                          (target < 32 MiB, < 32 KiB/service)
#  2. ps: `tfrun ps --json` (process start + the API) against as many `tfrun --version` (process start
#     alone), interleaved; and GET /api/v1/services in one process (bench/mgr-api), the API alone.
#                                                                                 (target p99 < 50 ms)
#  3. reload with nothing changed: `tfrun reload`, ROUNDS times, against `tfrun --version`.
#                                                                                 (target < 200 ms)
#  4. 100 one-shot services triggered back to back through the API (bench/mgr-api, no exec per call);
#     each runs bench/stamp (static), which writes CLOCK_REALTIME at its exec: trigger-to-exec is that
#     minus the time the request was written. Every run must be in `tfrun history -n 200 --json`.
#                                                                                 (target p99 < 5 ms)
#  5. the one-shot `tfrun run`: the libraries it maps (none of the manager's), and with BASE=OLD_BUILDDIR
#     (a build of an earlier commit) its launch of a limited /bin/true against OLD's, interleaved.
#  6. issue 14: GET /api/v1/services under load (bench/mgr-api load: 2 clients back to back for LOAD_S
#     seconds), requests per second and latency, quiet and while 50 of the one-shot services are
#     triggered, over the unix socket and over TCP (`--listen 127.0.0.1:0`, a bearer token on every
#     request), one connection per request; GET /api/v1/services/NAME (one service) under the same load
#     as the baseline. GET /metrics, ROUNDS scrapes over both, against the same on a manager with 0
#     services (part 1's).                            (target /metrics < 20 ms per scrape)
# Usage: [BASE=OLD_BUILDDIR] [LOAD_S=3] bench/manager.sh [BUILDDIR] [SERVICES] [ROUNDS]
#        (root; dockerd for docker)
set -euo pipefail
cd "$(dirname "$0")/.."
B=${1:-build}
N=${2:-1000}
R=${3:-200}
NTRIG=100
LOAD_S=${LOAD_S:-3}
ninja -C "$B" >/dev/null
tmp=$(mktemp -d)
UP=
trap '[ -n "$UP" ] && kill -TERM $UP 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"' EXIT
T=$B/tfrun
STAMP=$(realpath "$B/bench/stamp")
DOCKER_N=0
[ -S /var/run/docker.sock ] && docker image inspect tfrun-test/busybox:latest >/dev/null 2>&1 && DOCKER_N=$((N / 100))

# gen DIR N: N specs. The first NTRIG are one-shot stamps (part 4); the rest cycle through the kinds.
gen() {
        local d=$1 n=$2 i k
        mkdir -p "$d"
        local tzs=(Europe/Paris America/New_York Asia/Tokyo UTC Australia/Sydney)
        for ((i = 0; i < n; i++)); do
                local f
                f=$(printf '%s/s%04d.yaml' "$d" "$i")
                if ((i < NTRIG)); then
                        printf 'name: s%04d\ncommand: [%s, %s/stamps/s%04d]\nsandbox: host\n' \
                                "$i" "$STAMP" "$tmp" "$i" >"$f"
                        continue
                fi
                if ((i >= n - DOCKER_N)); then
                        printf 'name: s%04d\nimage: tfrun-test/busybox:latest\ncommand: [true]\n' "$i" >"$f"
                        printf 'schedule: {every: %dh}\n' $((10 + i % 7)) >>"$f"
                        continue
                fi
                printf 'name: s%04d\ncommand: [/bin/sh, -c, "echo s%04d"]\nlimits: {memory: 64M, pids: 32}\n' \
                        "$i" "$i" >"$f"
                k=$((i % 5))
                case $k in
                0) printf 'schedule: {every: %dh}\n' $((10 + i % 13)) >>"$f" ;;
                1) printf "schedule: {calendar: '*-*-* %02d:%02d:00'}\n" $((i % 24)) $((i % 60)) >>"$f" ;;
                2) printf "schedule: {calendar: 'Mon..Fri *-*-* %02d:%02d:00 %s'}\n" $((i % 24)) $((i % 60)) \
                        "${tzs[$((i % ${#tzs[@]}))]}" >>"$f" ;;
                3) printf "schedule: {cron: '%d %d * * *'}\n" $((i % 60)) $((i % 24)) >>"$f" ;;
                4) ;; # one-shot: waits for a trigger
                esac
        done
}

# start DIR NAME: a manager over DIR (state in $tmp/NAME.state, socket $tmp/NAME.sock, and TCP on a free
# loopback port: tcp_addr NAME names it); sets UP.
start() {
        : >"$tmp/$2.log"
        "$T" up "$1" --state-dir "$tmp/$2.state" --socket "$tmp/$2.sock" --listen 127.0.0.1:0 \
                >"$tmp/$2.log" 2>&1 &
        UP=$!
        local i
        for ((i = 0; i < 600; i++)); do
                grep -q "managing [0-9]* service" "$tmp/$2.log" && return 0
                sleep 0.1
        done
        echo "manager: $2 did not come up: $(tail -3 "$tmp/$2.log")" >&2
        exit 1
}
stop() { kill -TERM "$UP"; wait "$UP" || true; UP=; }
tcp_addr() { echo "tcp:$(grep -o 'listening on 127\.0\.0\.1:[0-9]*' "$tmp/$1.log" | head -1 | cut -d' ' -f3)"; }
mem() { awk '/^VmRSS|^VmHWM/ {printf "%s=%s ", $1, $2}' "/proc/$UP/status"; }
# cputime: the manager's user+system time so far, in clock ticks (what a busy host does not inflate much).
cputime() { awk '{print $14 + $15}' "/proc/$UP/stat"; }
# api_cpu LABEL ADDR MODE ARGS...: bench/mgr-api's output, then the manager's CPU time over the calls.
api_cpu() {
        local label=$1 c0 out
        shift
        c0=$(cputime)
        out=$("$B/bench/mgr-api" "$@")
        echo "$label $out $(($(cputime) - c0))" >>"$tmp/out"
}

mkdir -p "$tmp/empty" "$tmp/stamps"
gen "$tmp/svcs" "$N"

# 1. RSS, 0 services then N. Started in the same run, measured after a second of settling.
t0=$(date +%s%N)
start "$tmp/empty" empty
sleep 1
echo "rss0 $(mem)" >"$tmp/out"
# Part 6's baseline: the same scrape and listing with nothing to list.
export MGR_API_TOKEN
MGR_API_TOKEN=$("$T" token create bench --role operate --socket "$tmp/empty.sock")
api_cpu metrics0_unix "$tmp/empty.sock" get /metrics "$R"
echo "metrics0_tcp $("$B/bench/mgr-api" "$(tcp_addr empty)" get /metrics "$R")" >>"$tmp/out"
echo "load0_unix $("$B/bench/mgr-api" "$tmp/empty.sock" load /api/v1/services "$LOAD_S" 2)" >>"$tmp/out"
stop
t0=$(date +%s%N)
start "$tmp/svcs" full
t1=$(date +%s%N)
echo "startup_ms $(((t1 - t0) / 1000000))" >>"$tmp/out"
grep -o "managing [0-9]* services.*([0-9]* broken)" "$tmp/full.log" | sed 's/ from [^ ]*//'
sleep 1
echo "rssN $(mem)" >>"$tmp/out"
S=$tmp/full.sock

# 2. ps round trips: exec'd verbs against the process start alone, then the API in-process.
TIMEIT_P99=1 TIMEIT_QUIET=1 "$B/bench/timeit" "$R" version "$T" --version :: status "$T" status s0100 --json \
        --socket "$S" :: ps "$T" ps --json --socket "$S" >>"$tmp/out"
api_cpu api_services "$S" get /api/v1/services "$R"
echo "api_one $("$B/bench/mgr-api" "$S" get /api/v1/services/s0100 "$R")" >>"$tmp/out"
"$T" ps --json --socket "$S" | python3 -c 'import json,sys; d=json.load(sys.stdin)["services"]; print("ps_services", len(d))' >>"$tmp/out"

# 3. reload with nothing changed.
RR=$((R / 4))
TIMEIT_P99=1 TIMEIT_QUIET=1 "$B/bench/timeit" "$RR" rversion "$T" --version :: reload "$T" reload \
        --socket "$S" >>"$tmp/out"
"$T" reload --socket "$S" | sed 's/^/reload_says /' >>"$tmp/out"
echo "api_reload $("$B/bench/mgr-api" "$S" post /api/v1/reload "$RR")" >>"$tmp/out"
echo "rss_after_reloads $(mem)" >>"$tmp/out"

# 4. NTRIG one-shot runs triggered back to back.
names=()
for ((i = 0; i < NTRIG; i++)); do names+=("$(printf 's%04d' "$i")"); done
# The baseline: as many fork+exec of the stamp from a small process, stamp minus the time before the fork.
echo "bare_exec $("$B/bench/mgr-api" - bare "$NTRIG" "$STAMP" "$tmp/bare.stamp")" >>"$tmp/out"
"$B/bench/mgr-api" "$S" trigger "${names[@]}" >"$tmp/sent"
for ((i = 0; i < 100; i++)); do
        [ "$(ls "$tmp/stamps" | wc -l)" -ge "$NTRIG" ] && break
        sleep 0.1
done
sleep 1
"$T" history -n 200 --json --socket "$S" >"$tmp/history.json"
echo "rss_after_runs $(mem)" >>"$tmp/out"
mv "$tmp/stamps" "$tmp/stamps4"
mkdir "$tmp/stamps"

# 6. the API under load, over the socket and over TCP with a token; /metrics.
MGR_API_TOKEN=$("$T" token create bench --role operate --socket "$S")
A=$(tcp_addr full)
fire1=("${names[@]:0:50}")
fire2=("${names[@]:50:50}")
for via in unix tcp; do
        addr=$S
        [ $via = tcp ] && addr=$A
        fire=("${fire1[@]}")
        [ $via = tcp ] && fire=("${fire2[@]}")
        echo "load_${via} $("$B/bench/mgr-api" "$addr" load /api/v1/services "$LOAD_S" 2)" >>"$tmp/out"
        echo "loadfire_${via} $("$B/bench/mgr-api" "$addr" load /api/v1/services "$LOAD_S" 2 "${fire[@]}")" \
                >>"$tmp/out"
        echo "loadone_${via} $("$B/bench/mgr-api" "$addr" load /api/v1/services/s0100 "$LOAD_S" 2)" >>"$tmp/out"
        api_cpu "metrics_${via}" "$addr" get /metrics "$R"
done
for ((i = 0; i < 50; i++)); do
        [ "$(ls "$tmp/stamps" | wc -l)" -ge 100 ] && break
        sleep 0.1
done
echo "fired $(ls "$tmp/stamps" | wc -l)" >>"$tmp/out"
stop

# 5. what a one-shot run maps.
printf 'name: one\ncommand: [sh, -c, "cat /proc/$PPID/maps"]\nsandbox: host\n' >"$tmp/one.yaml"
maps=$("$T" -q "$tmp/one.yaml" 2>/dev/null | awk '{print $6}' | grep '\.so' | sort -u | xargs -rn1 basename | tr '\n' ' ')
echo "oneshot_maps $maps" >>"$tmp/out"
if [ -n "${BASE:-}" ]; then
        printf 'name: lim\ncommand: [/bin/true]\nlimits: {memory: 64M, pids: 64, cpus: 0.5}\n' >"$tmp/lim.yaml"
        TIMEIT_QUIET=1 "$B/bench/timeit" "$R" bare /bin/true :: before "$BASE/tfrun" -q "$tmp/lim.yaml" \
                :: after "$T" -q "$tmp/lim.yaml" | sed 's/^/launch_/' >>"$tmp/out"
        echo "base_maps $(ldd "$BASE/tfrun" | wc -l) $(ldd "$T" | wc -l)" >>"$tmp/out"
fi

python3 - "$tmp" "$N" "$R" "$RR" "$NTRIG" "$LOAD_S" <<'EOS'
import json, math, os, sys
tmp, n, rounds, rr, ntrig = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
load_s = sys.argv[6]
out = {}
for l in open(f"{tmp}/out"):
    k, _, v = l.rstrip("\n").partition(" ")
    out[k] = v
def kv(s): return {a.split("=")[0].rstrip(":"): int(a.split("=")[1]) for a in s.split()}
m0, m1 = kv(out["rss0"]), kv(out["rssN"])
print(f"services={n} (ps lists {out['ps_services']}); startup {out['startup_ms']} ms")
print(f"RSS:   0 services VmRSS={m0['VmRSS']/1024:.1f} MiB VmHWM={m0['VmHWM']/1024:.1f} MiB;"
      f" {n}: VmRSS={m1['VmRSS']/1024:.1f} MiB VmHWM={m1['VmHWM']/1024:.1f} MiB (target < 32 MiB)")
print(f"       per service: VmRSS +{(m1['VmRSS']-m0['VmRSS'])/n:.1f} KiB, VmHWM +{(m1['VmHWM']-m0['VmHWM'])/n:.1f} KiB"
      f" (target < 32 KiB)")
for k in ("rss_after_reloads", "rss_after_runs"):
    m = kv(out[k]); print(f"       {k.replace('_', ' ')}: VmRSS={m['VmRSS']/1024:.1f} MiB VmHWM={m['VmHWM']/1024:.1f} MiB")
v, st, p = ([float(x) for x in out[k].split()] for k in ("version", "status", "ps"))
print(f"ps:    tfrun ps --json median={p[0]/1000:.1f} ms p90={p[1]/1000:.1f} ms p99={p[2]/1000:.1f} ms (target p99 < 50 ms);"
      f" ps / version (medians): {p[0]/v[0]:.1f}")
print(f"       tfrun --version median={v[0]/1000:.1f} ms p99={v[2]/1000:.1f} ms; tfrun status NAME --json (a small answer)"
      f" median={st[0]/1000:.1f} ms p99={st[2]/1000:.1f} ms ({rounds} rounds, interleaved)")
a = [float(x) for x in out["api_services"].split()]; o = [float(x) for x in out["api_one"].split()]
hz = os.sysconf("SC_CLK_TCK")
def cpu_ms(k, calls): return float(out[k].split()[-1]) * 1000 / hz / (calls + 1)
print(f"       GET /api/v1/services in-process: median={a[0]/1000:.2f} ms p99={a[1]/1000:.2f} ms max={a[2]/1000:.2f} ms"
      f" ({int(a[3])//1024} KiB) (target p99 < 50 ms); one service: median={o[0]/1000:.2f} ms p99={o[1]/1000:.2f} ms")
print(f"       the manager's CPU per GET /api/v1/services: {cpu_ms('api_services', rounds):.2f} ms")
r = [float(x) for x in out["reload"].split()]; v2 = [float(x) for x in out["rversion"].split()]
print(f"reload: tfrun reload (nothing changed) median={r[0]/1000:.1f} ms p99={r[2]/1000:.1f} ms ({rr} rounds;"
      f" tfrun --version {v2[0]/1000:.1f} ms) (target < 200 ms): {out['reload_says']}")
ar = [float(x) for x in out["api_reload"].split()]
print(f"       POST /api/v1/reload in-process: median={ar[0]/1000:.1f} ms p99={ar[1]/1000:.1f} ms")
sent = {l.split()[0]: (float(l.split()[1]), l.split()[2]) for l in open(f"{tmp}/sent")}
lat = []
for name, (t, _) in sent.items():
    try: lat.append(int(open(f"{tmp}/stamps4/{name}").read()) - t)
    except FileNotFoundError: pass
lat.sort()
runs = json.load(open(f"{tmp}/history.json"))["runs"]
ids = {x[1] for x in sent.values()}
got = [x for x in runs if x["run_id"] in ids]
ok = [x for x in got if x["status"] == "success"]
hs = sorted(x["started_usec"] - sent[x["service"]][0] for x in got if x.get("started_usec"))
if lat:
    # Nearest rank: the p99 of 100 samples is the 99th, not the largest (printed as max).
    q = lambda v, f: v[max(0, math.ceil(len(v) * f) - 1)]
    print(f"trigger: {len(sent)} triggered back to back, {len(lat)} exec'd, {len(got)} in history ({len(ok)} success)"
          f" (target: all)")
    print(f"       trigger-to-exec median={q(lat,.5)/1000:.2f} ms p99={q(lat,.99)/1000:.2f} ms max={lat[-1]/1000:.2f} ms"
          f" (target p99 < 5 ms)")
    b = [float(x) for x in out["bare_exec"].split()]
    print(f"       baseline, fork+exec of the stamp from a small process: median={b[0]/1000:.2f} ms p99={b[1]/1000:.2f} ms"
          f"; trigger-to-exec / baseline (medians): {q(lat,.5)/b[0]:.1f}")
    if hs:
        print(f"       trigger-to-started_usec (history) median={q(hs,.5)/1000:.2f} ms p99={q(hs,.99)/1000:.2f} ms")
def ld(k):
    r, med, p99, mx, n, fired = out[k].split()
    return float(r), float(med) / 1000, float(p99) / 1000, float(mx) / 1000, int(n), int(fired)
def gt(k): return [float(x) / 1000 for x in out[k].split()[:3]]
l0 = ld("load0_unix")
print(f"API load (bench/mgr-api load: 2 clients back to back for {load_s} s each, one connection per request):")
print(f"       0 services, unix: GET /api/v1/services {l0[0]:.0f} req/s median={l0[1]:.2f} ms p99={l0[2]:.2f} ms")
for via in ("unix", "tcp"):
    q, f, o = ld(f"load_{via}"), ld(f"loadfire_{via}"), ld(f"loadone_{via}")
    print(f"       {n} services, {via}: GET /api/v1/services {q[0]:.0f} req/s median={q[1]:.2f} ms p99={q[2]:.2f} ms"
          f" max={q[3]:.1f} ms")
    print(f"         while {f[5]} runs fire: {f[0]:.0f} req/s median={f[1]:.2f} ms p99={f[2]:.2f} ms max={f[3]:.1f} ms"
          f" (p99 with fires / quiet: {f[2]/q[2]:.2f})")
    print(f"         one service (GET /api/v1/services/s0100): {o[0]:.0f} req/s median={o[1]:.2f} ms p99={o[2]:.2f} ms;"
          f" list / one (req/s): {q[0]/o[0]:.3f}")
print(f"       runs fired by the load: {out['fired']} of 100 exec'd")
m0u, m0t = gt("metrics0_unix"), gt("metrics0_tcp")
for via in ("unix", "tcp"):
    mm = gt(f"metrics_{via}")
    b = m0u if via == "unix" else m0t
    print(f"/metrics {via}: {n} services median={mm[0]:.2f} ms p99={mm[1]:.2f} ms max={mm[2]:.1f} ms"
          f" ({int(out[f'metrics_{via}'].split()[3])//1024} KiB; target < 20 ms);"
          f" 0 services median={b[0]:.2f} ms p99={b[1]:.2f} ms; the manager's CPU per scrape"
          f" {cpu_ms(f'metrics_{via}', rounds):.2f} ms (0 services: {cpu_ms('metrics0_unix', rounds):.2f} ms)")
mu, mt = gt("metrics_unix"), gt("metrics_tcp")
print(f"       tcp / unix (medians): /metrics {mt[0]/mu[0]:.2f}, GET /api/v1/services"
      f" {ld('load_unix')[1] and ld('load_tcp')[1]/ld('load_unix')[1]:.2f}")
libs = out["oneshot_maps"].split()
bad = [l for l in libs if any(w in l for w in ("sqlite", "microhttpd", "curl", "tfrun-manager", "gnutls"))]
print(f"one-shot tfrun run maps {len(libs)} libraries; the manager's among them: {' '.join(bad) or 'none'}")
if "launch_after" in out:
    lb, lo, ln = (float(out[k].split()[0]) for k in ("launch_bare", "launch_before", "launch_after"))
    nb, nn = out["base_maps"].split()
    print(f"launch: tfrun -q limited /bin/true median before={lo/1000:.2f} ms after={ln/1000:.2f} ms"
          f" (bare fork+exec {lb/1000:.2f} ms; {rounds} rounds): after / before = {ln/lo:.2f};"
          f" ldd lines before={nb} after={nn}")
EOS
