#!/usr/bin/env python3
"""Benchmark minica-echo: full mTLS handshakes per second against
`minica-echo serve` and, in the same run, against `openssl s_server` as a
baseline; then 10,000 idle mTLS connections held by `minica-echo serve` and
its resident memory. Prints one JSON document.

    python3 bench/echo.py [--build BUILD_DIR] [--duration 10] [--connections 64] [--idle 10000]

TLS 1.3, ECDSA P-256 certificates (made with Python's `cryptography`, the same
helper the e2e tests use), client and server on this machine, 127.0.0.1 only.
Each handshake is a new TCP connection, a full handshake (no resumption), one
64-byte echo and close_notify (`minica-echo bench`), against the server's
defaults (one stateful TLS 1.3 session ticket per handshake, which the bench
client receives and never uses) and against `--tickets 0`. The server's CPU time is
read from /proc before and after each run; its RSS is read once all idle
connections are open and the server has been quiet for a moment (held), and
sampled every 100 ms throughout (peak, which includes the handshakes' transient
memory).
"""

import argparse
import json
import os
import platform
import re
import resource
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(SOURCE_ROOT, "tests"))

TARGET_HANDSHAKES = 2400
TARGET_IDLE_MIB = 200


def clock_ticks():
    return os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / clock_ticks()  # utime + stime


def rss_mib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            time.sleep(0.05)
    return False


class Server:
    def __init__(self, args, port=None):
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True)
        self.port = port
        if port is None:
            line = self.proc.stdout.readline()
            m = re.match(r"listening on 127\.0\.0\.1:(\d+)", line)
            if not m:
                self.stop()
                raise RuntimeError("server did not start: %r" % line)
            self.port = int(m.group(1))
        elif not wait_port(port):
            self.stop()
            raise RuntimeError("server did not start on port %d" % port)
        threading.Thread(target=self.proc.stdout.read, daemon=True).start()  # drain

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def run_bench(echo, pki, port, extra, timeout):
    p = pki
    args = [echo, "bench", "127.0.0.1:%d" % port, "--servername", "localhost", "--ca", p.root.cert,
            "--cert", p.client.cert, "--key", p.client.key, "--json", *extra]
    r = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    if not r.stdout.strip():
        raise RuntimeError("bench failed (%d): %s" % (r.returncode, r.stderr))
    return json.loads(r.stdout)


def handshakes(echo, pki, server, label, args):
    cpu0 = cpu_seconds(server.proc.pid)
    result = run_bench(echo, pki, server.port,
                       ["--connections", str(args.connections), "--duration", str(args.duration)],
                       timeout=args.duration + 120)
    cpu = cpu_seconds(server.proc.pid) - cpu0
    n = max(result["handshakes"], 1)
    result["server"] = label
    result["server_cpu_ms_per_handshake"] = round(cpu * 1000 / n, 3)
    result["total_cpu_ms_per_handshake"] = round(cpu * 1000 / n + result["cpu_ms_per_handshake"], 3)
    return result


def idle(echo, pki, args):
    p = pki
    srv = Server([echo, "--log-level", "warn", "serve", "--cert", p.server.fullchain, "--key", p.server.key,
                  "--ca", p.root.cert, "--listen", "127.0.0.1:0", "--max-conns", str(args.idle + 1000),
                  "--idle-timeout", "3600"])
    try:
        time.sleep(0.3)
        base = rss_mib(srv.proc.pid)
        peak = [base]
        done = threading.Event()

        def sample():
            while not done.is_set():
                try:
                    peak[0] = max(peak[0], rss_mib(srv.proc.pid))
                except OSError:
                    return
                time.sleep(0.1)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        bench = subprocess.Popen([echo, "bench", "127.0.0.1:%d" % srv.port, "--servername", "localhost",
                                  "--ca", p.root.cert, "--cert", p.client.cert, "--key", p.client.key, "--json",
                                  "--hold", str(args.idle), "--connections", "50",
                                  "--duration", str(args.hold_seconds)],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        # "holding N connections" on stderr: all are open. The server gives back
        # the handshakes' transient memory after a quiet second; then measure.
        held_rss = None
        deadline = time.monotonic() + 900
        for line in bench.stderr:
            if "holding" in line:
                time.sleep(min(2.5, args.hold_seconds * 0.8))
                held_rss = rss_mib(srv.proc.pid)
                break
            if time.monotonic() > deadline:
                break
        stdout, _ = bench.communicate(timeout=600)
        done.set()
        sampler.join(5)
        result = json.loads(stdout) if stdout.strip() else {"error": "bench failed"}
        result["server_rss_before_mib"] = round(base, 1)
        result["server_rss_peak_mib"] = round(peak[0], 1)
        result["server_rss_held_mib"] = round(held_rss, 1) if held_rss is not None else None
        held = max(result.get("held", 0), 1)
        if held_rss is not None:
            result["server_kib_per_connection"] = round((held_rss - base) * 1024 / held, 2)
        return result
    finally:
        srv.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.environ.get("MINICA_BUILD_ROOT", os.path.join(SOURCE_ROOT, "build")))
    ap.add_argument("--duration", type=float, default=10)
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--idle", type=int, default=10000, help="idle connections to hold (0: skip)")
    ap.add_argument("--hold-seconds", type=float, default=5)
    ap.add_argument("--no-baseline", action="store_true", help="skip openssl s_server")
    args = ap.parse_args()

    echo = os.path.join(args.build, "tools", "minica-echo", "minica-echo")
    if not os.path.exists(echo):
        sys.exit("no %s: build it first (ninja -C %s tools/minica-echo/minica-echo)" % (echo, args.build))
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # inherited by both programs
    if args.idle and args.idle + 200 > hard:
        sys.exit("--idle %d needs a file-descriptor limit above %d (hard limit %d)" % (args.idle, args.idle + 200, hard))

    import echo_certs
    out = {
        "machine": {
            "cpus": os.cpu_count(),
            "kernel": platform.release(),
            "openssl": subprocess.run(["openssl", "version"], capture_output=True, text=True).stdout.strip(),
            "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        },
        "settings": {"tls": "1.3", "keys": "ECDSA P-256", "connections": args.connections,
                     "duration_s": args.duration, "payload_bytes": 64},
        "targets": {"handshakes_per_s": TARGET_HANDSHAKES, "idle_connections": args.idle,
                    "idle_rss_mib": TARGET_IDLE_MIB},
    }
    with tempfile.TemporaryDirectory(prefix="echo-bench-") as tmp:
        pki = echo_certs.EchoPki(tmp)
        p = pki
        runs = []
        for label, extra in (("minica-echo serve", []), ("minica-echo serve --tickets 0", ["--tickets", "0"])):
            srv = Server([echo, "--log-level", "warn", "serve", "--cert", p.server.fullchain, "--key", p.server.key,
                          "--ca", p.root.cert, "--listen", "127.0.0.1:0", "--max-conns", "20000", *extra])
            try:
                runs.append(handshakes(echo, pki, srv, label, args))
            finally:
                srv.stop()
        if not args.no_baseline:
            port = free_port()
            srv = Server(["openssl", "s_server", "-accept", "127.0.0.1:%d" % port, "-cert", p.server.cert,
                          "-key", p.server.key, "-CAfile", p.root.cert, "-Verify", "1", "-verify_return_error",
                          "-tls1_3", "-rev", "-quiet"], port=port)
            try:
                runs.append(handshakes(echo, pki, srv, "openssl s_server -rev (single-threaded)", args))
            finally:
                srv.stop()
        out["handshakes"] = runs
        if args.idle:
            out["idle"] = idle(echo, pki, args)
    best = runs[0]
    out["summary"] = {
        "minica_echo_handshakes_per_s": best["handshakes_per_s"],
        "handshake_target_met": best["handshakes_per_s"] >= TARGET_HANDSHAKES,
    }
    if not args.no_baseline:
        out["summary"]["openssl_s_server_handshakes_per_s"] = runs[-1]["handshakes_per_s"]
    if args.idle:
        out["summary"]["idle_connections_held"] = out["idle"].get("held")
        held_rss = out["idle"].get("server_rss_held_mib")
        out["summary"]["idle_server_rss_held_mib"] = held_rss
        out["summary"]["idle_server_rss_peak_mib"] = out["idle"]["server_rss_peak_mib"]
        out["summary"]["idle_target_met"] = (out["idle"].get("held") == args.idle and held_rss is not None
                                             and held_rss < TARGET_IDLE_MIB)
    out["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
