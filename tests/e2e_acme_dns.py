"""dns-01 end to end against a real authoritative DNS server: knotd serves
the zone test. on 127.0.0.1 and takes RFC 2136 dynamic updates from
127.0.0.1; minica serve sends every validation lookup to it
(--dns-resolver), and lego's rfc2136 provider writes the TXT records there
for a name and its wildcard. The certificate passes `openssl verify
-x509_strict` and `minica verify`, and `minica list` shows it with the
account that ordered it. A dns-01 challenge answered with no TXT record
published, or with a TXT record of another value (a raw RFC 2136 UPDATE),
ends invalid: unauthorized. Skipped when knotd (Debian package knot) or lego
is missing."""
import hashlib
import os
import pathlib
import shutil
import socket
import struct
import subprocess
import time
import unittest

from acme_common import Client, Key, ServeCase, b64u, free_port, stop_process
from cli_common import main, minica

KNOTD = shutil.which("knotd") or ("/usr/sbin/knotd" if os.access("/usr/sbin/knotd", os.X_OK) else None)
CLIENT_TIMEOUT = 60


def free_dns_port():
    """A port free for both TCP and UDP on 127.0.0.1 (knotd listens on both)."""
    for _ in range(50):
        port = free_port()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            try:
                u.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise RuntimeError("no port free for both TCP and UDP")


def dns_query(port, name, qtype, timeout=0.5, tries=1):
    """A UDP query, sent up to `tries` times; returns (rcode, answer count,
    authoritative) or None when nothing answers."""
    types = {"A": 1, "TXT": 16, "SOA": 6}
    qname = dns_name(name)
    for _ in range(tries):
        qid = int.from_bytes(os.urandom(2), "big")
        header = qid.to_bytes(2, "big") + b"\x00\x00" + b"\x00\x01" + b"\x00\x00" * 3
        packet = header + qname + types[qtype].to_bytes(2, "big") + b"\x00\x01"
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(timeout)
            try:
                s.sendto(packet, ("127.0.0.1", port))
                data, _ = s.recvfrom(4096)
            except OSError:
                continue
        if len(data) >= 12 and int.from_bytes(data[:2], "big") == qid:
            return data[3] & 0x0F, int.from_bytes(data[6:8], "big"), bool(data[2] & 0x04)
    return None


def dns_answer(port, name, qtype):
    """dns_query for a server that is up: a lost packet or a slow machine is
    retried (3 x 5 s) rather than read as no answer."""
    q = dns_query(port, name, qtype, timeout=5, tries=3)
    assert q is not None, f"no DNS answer for {name} {qtype} from 127.0.0.1:{port}"
    return q


def dns_name(name):
    return b"".join(bytes([len(label)]) + label.encode() for label in name.rstrip(".").split(".")) + b"\x00"


def dns_update_txt(port, fqdn, value, zone="test", ttl=1, timeout=5):
    """An RFC 2136 UPDATE adding one TXT record, over UDP; returns the rcode."""
    qid = int.from_bytes(os.urandom(2), "big")
    header = struct.pack(">HHHHHH", qid, 5 << 11, 1, 0, 1, 0)  # opcode UPDATE; ZO 1, PR 0, UP 1, AD 0
    zone_section = dns_name(zone) + struct.pack(">HH", 6, 1)  # SOA IN
    v = value.encode()
    rr = dns_name(fqdn) + struct.pack(">HHIH", 16, 1, ttl, len(v) + 1) + bytes([len(v)]) + v
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(header + zone_section + rr, ("127.0.0.1", port))
        data, _ = s.recvfrom(4096)
    if int.from_bytes(data[:2], "big") != qid:
        raise RuntimeError("a DNS answer to another query")
    return data[3] & 0x0F


class Knot:
    """knotd serving zone test. from a temp dir on 127.0.0.1:port: every
    name under test. is A 127.0.0.1 (no AAAA), and 127.0.0.1 may send
    dynamic updates (RFC 2136, no TSIG) that stay in memory."""

    def __init__(self, directory):
        self.dir = pathlib.Path(directory)
        (self.dir / "run").mkdir(parents=True, exist_ok=True)
        (self.dir / "db").mkdir(parents=True, exist_ok=True)
        (self.dir / "test.zone").write_text(
            "$ORIGIN test.\n$TTL 1\n"
            "@ SOA ns.test. admin.test. 1 3600 600 86400 1\n"
            "@ NS ns.test.\n"
            "@ A 127.0.0.1\n"
            "* A 127.0.0.1\n")
        self.proc = None
        for _ in range(3):  # the port may be taken between choosing and binding it
            self.port = free_dns_port()
            conf = self.dir / "knot.conf"
            conf.write_text(
                "server:\n"
                f"    rundir: \"{self.dir / 'run'}\"\n"
                f"    listen: 127.0.0.1@{self.port}\n"
                "    udp-workers: 1\n    tcp-workers: 1\n    background-workers: 1\n"
                f"database:\n    storage: \"{self.dir / 'db'}\"\n"
                "acl:\n  - id: local-update\n    address: 127.0.0.1\n    action: update\n"
                f"template:\n  - id: default\n    storage: \"{self.dir}\"\n"
                "    zonefile-sync: -1\n    zonefile-load: whole\n    journal-content: none\n"
                "zone:\n  - domain: test.\n    file: test.zone\n    acl: local-update\n"
                "log:\n  - target: stderr\n    any: info\n")
            self.log = self.dir / f"knotd-{self.port}.log"
            with open(self.log, "w") as logf:
                self.proc = subprocess.Popen([KNOTD, "-c", str(conf)], stdout=logf, stderr=subprocess.STDOUT,
                                             stdin=subprocess.DEVNULL)
            if self.ready():
                return
            self.stop()
        raise RuntimeError(f"knotd did not serve test.: {self.log.read_text()[-2000:]}")

    def ready(self, timeout=10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            a = dns_query(self.port, "anything.test", "A")
            if a and a[0] == 0 and a[1] == 1 and a[2]:
                return True
            time.sleep(0.1)
        return False

    def stop(self):
        stop_process(self.proc)


class KnotCase(ServeCase):
    """knotd is the DNS server; nothing answers http-01 or tls-alpn-01
    here: only dns-01 can pass."""
    temp_prefix = "minica-acme-dns-"
    crl = False

    @classmethod
    def start_dns(cls):
        if not KNOTD:
            raise unittest.SkipTest("knotd is not installed (Debian package knot)")
        cls.knot = Knot(cls.tmp / "knot")
        return cls.knot.port

    @classmethod
    def serve_ports(cls):
        return free_port(), free_port()

    def logs(self):
        return (f"\nserver log: {self.serve.log_text()[-3000:]}\nknotd log: "
                f"{self.knot.log.read_text()[-2000:]}")


class LegoRfc2136(KnotCase):
    def setUp(self):
        if not shutil.which("lego"):
            self.skipTest("lego is not installed (Debian package lego)")

    def lego(self, path, *args):
        env = {"LEGO_CA_CERTIFICATES": str(self.root), "RFC2136_NAMESERVER": f"127.0.0.1:{self.knot.port}",
               "RFC2136_POLLING_INTERVAL": "1", "RFC2136_PROPAGATION_TIMEOUT": "10",
               "RFC2136_SEQUENCE_INTERVAL": "1", "RFC2136_TTL": "1", "RFC2136_DNS_TIMEOUT": "5"}
        args = ["lego", "--server", self.serve.directory, "--accept-tos", "-m", "a@example.test", "--path", path,
                "--dns", "rfc2136", "--dns.resolvers", f"127.0.0.1:{self.knot.port}", "--dns.disable-cp",
                "--dns-timeout", "5", *args]
        p = self.run_client(args, env, CLIENT_TIMEOUT)
        self.assertEqual(p.returncode, 0, p.report)
        return p

    def test_name_and_wildcard_through_rfc2136(self):
        path = self.tmp / "lego"
        self.lego(path, "-d", "dns.test", "-d", "*.dns.test", "run")
        crt = path / "certificates" / "dns.test.crt"
        certs = self.verify_leaf(crt.read_text(), ["*.dns.test", "dns.test"])
        m = minica(["verify", crt], ca=self.ca, home=self.tmp)
        self.assertEqual(m.code, 0, m)

        serial = format(certs[0].serial_number, "X")
        listed = minica(["list", "--json"], ca=self.ca, home=self.tmp)
        self.assertEqual(listed.code, 0, listed)
        rows = [r for r in listed.json() if r["serial"].upper().lstrip("0") == serial.lstrip("0")]
        self.assertEqual(len(rows), 1, listed.out)
        self.assertIsNotNone(rows[0]["account"], rows[0])

        # The TXT records went through knot by RFC 2136 (and lego removed them).
        log = self.knot.log.read_text()
        self.assertIn("DDNS, finished", log)
        self.assertEqual(dns_answer(self.knot.port, "_acme-challenge.dns.test", "TXT")[1], 0)


class RawDns01(KnotCase):
    def client(self):
        c = Client(self.serve.directory, self.root, Key("ES256"))
        r = c.register()
        self.assertEqual(r.status, 201, r)
        return c

    def test_missing_txt_record_is_invalid(self):
        c = self.client()
        order = c.order(["missing.test"])
        self.assertEqual(order.status, 201, order)
        authz_url = order.json()["authorizations"][0]
        authz = c.post(authz_url, None).json()
        ch = next(x for x in authz["challenges"] if x["type"] == "dns-01")
        # No TXT at _acme-challenge.missing.test: knot answers NOERROR with no
        # TXT (the wildcard has only an A record).
        q = dns_answer(self.knot.port, "_acme-challenge.missing.test", "TXT")
        self.assertIsNotNone(q)
        self.assertEqual(q[1], 0, q)
        answer = c.post(ch["url"], {})
        self.assertEqual(answer.status, 200, answer)
        final = answer.json()
        deadline = time.monotonic() + 15
        while final["status"] in ("pending", "processing") and time.monotonic() < deadline:
            time.sleep(0.2)
            final = c.post(ch["url"], None).json()
        self.assertEqual(final["status"], "invalid", f"{final}{self.logs()}")
        self.assertIn("error", final, final)
        kind = final["error"]["type"].rsplit(":", 1)[1]
        self.assertIn(kind, ("unauthorized", "dns"), final)
        self.assertIn("_acme-challenge.missing.test", final["error"].get("detail", ""), final)
        self.assertEqual(c.post(authz_url, None).json()["status"], "invalid")
        self.assertEqual(c.post(order.headers["Location"], None).json()["status"], "invalid")

    def test_wrong_txt_record_is_invalid(self):
        """A TXT record published by RFC 2136 with another value: unauthorized."""
        c = self.client()
        order = c.order(["wrong.test"])
        self.assertEqual(order.status, 201, order)
        authz_url = order.json()["authorizations"][0]
        authz = c.post(authz_url, None).json()
        ch = next(x for x in authz["challenges"] if x["type"] == "dns-01")
        wrong = b64u(hashlib.sha256(b"not the key authorization").digest())
        self.assertEqual(dns_update_txt(self.knot.port, "_acme-challenge.wrong.test", wrong), 0)
        q = dns_answer(self.knot.port, "_acme-challenge.wrong.test", "TXT")
        self.assertEqual(q, (0, 1, True))  # knot applies an update before it answers it
        answer = c.post(ch["url"], {})
        final = answer.json()
        deadline = time.monotonic() + 15
        while final.get("status") in ("pending", "processing") and time.monotonic() < deadline:
            time.sleep(0.2)
            final = c.post(ch["url"], None).json()
        self.assertEqual(final["status"], "invalid", f"{final}{self.logs()}")
        self.assertEqual(final["error"]["type"], "urn:ietf:params:acme:error:unauthorized", final)
        self.assertIn("_acme-challenge.wrong.test", final["error"]["detail"], final)


if __name__ == "__main__":
    main()
