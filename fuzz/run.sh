#!/usr/bin/env bash
# Runs the libFuzzer targets one at a time, each on a copy of its seed corpus,
# and prints one JSON line per target: executions, speed, final coverage and
# features, and whether it found a crash (kept under fuzz/findings/).
# Exits 1 if any target found something, 2 on a usage or build error.
#
#   bash fuzz/run.sh [--minutes N | --smoke SECONDS] [--targets a,b] [--build DIR] [--jobs N] [--keep-going]
#
# --minutes N   fuzz each target N minutes (default 1)
# --smoke S     fuzz each target S seconds (CI: --smoke 20)
# --targets     comma-separated names (fuzz_certificate or certificate); default all
# --build DIR   the fuzz build directory (default build-fuzz); configured and
#               built if needed (clang, ASan+UBSan, fuzz=true)
# --jobs N      compile jobs if it needs building (default: all cores)
# --keep-going  do not stop at a target's first finding (libFuzzer -fork=1
#               -ignore_crashes=1 ...): for long runs past a known bug
# Each run: -max_total_time, -rss_limit_mb=2048, -timeout=10 (a slower input is
# a finding), fuzz/<target>.dict when there is one. MINICA_FUZZ_STRICT=1 is
# passed through (fuzz/common.hpp says what it adds).
set -uo pipefail
export LC_ALL=C
cd "$(dirname "$0")/.."
all=(fuzz_certificate fuzz_chain fuzz_csr fuzz_key fuzz_crl fuzz_names fuzz_policy fuzz_http fuzz_jws)
seconds=60 build=build-fuzz jobs=$(nproc) targets=("${all[@]}") keep_going=()
usage() { sed -n '7,16p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
while [ $# -gt 0 ]; do
  case $1 in
    --minutes) [ $# -ge 2 ] || usage; seconds=$(( $2 * 60 )); shift 2 ;;
    --smoke) [ $# -ge 2 ] || usage; seconds=$2; shift 2 ;;
    --targets) [ $# -ge 2 ] || usage; IFS=, read -r -a targets <<<"$2"; shift 2 ;;
    --build) [ $# -ge 2 ] || usage; build=$2; shift 2 ;;
    --jobs) [ $# -ge 2 ] || usage; jobs=$2; shift 2 ;;
    --keep-going) keep_going=(-fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1); shift ;;
    *) usage ;;
  esac
done
[[ $seconds =~ ^[1-9][0-9]*$ ]] || { echo "run.sh: the time must be a positive whole number" >&2; exit 2; }
for i in "${!targets[@]}"; do
  t=${targets[$i]}; [[ $t == fuzz_* ]] || t=fuzz_$t; targets[$i]=$t
  [[ " ${all[*]} " == *" $t "* ]] || { echo "run.sh: no target $t (have: ${all[*]})" >&2; exit 2; }
done

if [ ! -f "$build/build.ninja" ]; then
  CC=clang CXX=clang++ meson setup "$build" -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false -Dwerror=false \
    -Dtests=false -Dbench=false -Dexamples=false >/dev/null || { echo "run.sh: configuring $build failed" >&2; exit 2; }
fi
meson compile -C "$build" -j "$jobs" "${targets[@]}" >/dev/null \
  || { echo "run.sh: building the targets in $build failed (meson compile -C $build)" >&2; exit 2; }

mkdir -p fuzz/findings
work=$(mktemp -d "${TMPDIR:-/tmp}/minica-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT
# LeakSanitizer on (libFuzzer reports leaks as findings); UBSan stops at its first report.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
status=0
for t in "${targets[@]}"; do
  mkdir -p "$work/$t/corpus"
  [ -d "fuzz/corpus/$t" ] && cp -r "fuzz/corpus/$t/." "$work/$t/corpus/"
  # Every kept reproducer for this target (findings/<target without fuzz_>-*,
  # README there) runs first, as part of the corpus: a fixed bug that comes
  # back fails the run, the smoke run in CI included.
  for f in fuzz/findings/"${t#fuzz_}"-*; do [ -f "$f" ] && cp "$f" "$work/$t/corpus/"; done
  dict=(); [ -f "fuzz/$t.dict" ] && dict=(-dict="fuzz/$t.dict")
  before=$(ls fuzz/findings)
  start=$(date +%s)
  # The outer timeout only guards against a hang libFuzzer itself misses.
  timeout --signal=KILL $((seconds + 120)) "$build/fuzz/$t" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 \
    -print_final_stats=1 -artifact_prefix="fuzz/findings/$t-" "${dict[@]}" "${keep_going[@]}" "$work/$t/corpus" \
    >"$work/$t.log" 2>&1
  rc=$?
  elapsed=$(( $(date +%s) - start ))
  new=$(comm -13 <(echo "$before") <(ls fuzz/findings) | grep -v '\.log$' | sed 's|^|fuzz/findings/|')
  log=
  if [ "$rc" -ne 0 ] || [ -n "$new" ]; then
    status=1
    log=fuzz/findings/$t-$(date -u +%Y%m%dT%H%M%SZ).log
    cp "$work/$t.log" "$log"
    echo "run.sh: $t exited $rc; the end of its log ($log):" >&2
    grep -v '^#[0-9]' "$work/$t.log" | tail -n 40 >&2
  fi
  # Each new input is run again to say what it shows; of inputs that show the
  # same thing (--keep-going finds one bug many times) the smallest is kept.
  python3 - "$t" "$rc" "$elapsed" "$work/$t.log" "$build/fuzz/$t" "$log" $new <<'PY'
import json, os, re, subprocess, sys
target, rc, elapsed, log, binary, kept_log, artifacts = (sys.argv[1], int(sys.argv[2]), int(sys.argv[3]),
                                                          sys.argv[4], sys.argv[5], sys.argv[6], sys.argv[7:])
text = open(log, errors="replace").read()
def stat(name):
    m = re.findall(r"^stat::%s:\s*(\d+)" % name, text, re.M)
    return int(m[-1]) if m else None
def last(pattern):
    m = re.findall(pattern, text, re.M)
    return int(m[-1]) if m else None
def what(path):
    try:
        out = subprocess.run([binary, path], capture_output=True, text=True, errors="replace", timeout=120).stderr
    except subprocess.TimeoutExpired:
        return "hangs (over 120 s)"
    for pattern in (r"==minica-fuzz== FINDING: (.*)", r"^SUMMARY: (.*)", r"^==\d+==ERROR: (.*)"):
        m = re.search(pattern, out, re.M)
        if m:
            return m.group(1).strip()
    return "does not reproduce alone"
findings, seen = [], {}
for path in sorted(artifacts, key=os.path.getsize):
    w = what(path)
    key = re.sub(r"0x[0-9a-fA-F]+|\d+", "N", w)
    if key in seen:
        os.remove(path)
        seen[key]["copies"] += 1
        continue
    seen[key] = {"file": path, "what": w, "copies": 1}
    findings.append(seen[key])
cov = re.findall(r"\bcov: (\d+) ft: (\d+)", text)
# -fork=1 (--keep-going) prints no final stats: its last status line has the counts.
execs = stat("number_of_executed_units") or last(r"^#(\d+)")
speed = stat("average_exec_per_sec") or (execs // max(elapsed, 1) if execs else None)
print(json.dumps({
    "target": target,
    "seconds": elapsed,
    "executions": execs,
    "exec_per_sec": speed,
    "coverage": int(cov[-1][0]) if cov else None,
    "features": int(cov[-1][1]) if cov else None,
    "corpus": last(r"\bcorp: (\d+)"),
    "peak_rss_mb": stat("peak_rss_mb"),
    "crashed": rc != 0 or bool(findings),
    "exit_code": rc,
    "findings": findings,
    "log": kept_log or None,
}))
PY
done
exit $status
