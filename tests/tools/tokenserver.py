#!/usr/bin/env python3
"""tokenserver.py — small HTTP servers for the registry tests (loopback only).

  tokenserver.py token PORT --key KEY --cert CERT --issuer ISS --service SVC
                 [--user USER --password PASS] [--expires SECONDS] [--log FILE]
      A Docker registry token server: GET /token?service=..&scope=repository:NAME:pull
      answers {"token", "access_token", "expires_in", "issued_at"} with an RS256 JWT
      whose x5c header carries CERT (the registry's auth.token.rootcertbundle). With
      the right Basic credentials the token grants what the scope asks; anonymous
      requests get a token granting nothing (the registry then says
      insufficient_scope); wrong credentials get 401.

  tokenserver.py files PORT DIR [--log FILE]
      Serves DIR read-only with Range support (the target of the registry's redirect
      storage middleware). Logs one line per request: "GET PATH auth=yes|no range=R".

Both log to --log (appending) and run until killed.
"""
import argparse
import base64
import http.server
import json
import os
import re
import sys
import time
import uuid

LOG = None


def log(line):
    if LOG:
        with open(LOG, "a") as f:
            f.write(line + "\n")


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def make_jwt(key, cert_der, claims):
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding
    header = {"typ": "JWT", "alg": "RS256", "x5c": [base64.b64encode(cert_der).decode()]}
    signing_input = (b64url(json.dumps(header).encode()) + "." +
                     b64url(json.dumps(claims).encode())).encode()
    sig = key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    return signing_input.decode() + "." + b64url(sig)


class TokenHandler(http.server.BaseHTTPRequestHandler):
    cfg = None

    def log_message(self, fmt, *args):
        pass

    def do_GET(self):
        from urllib.parse import urlparse, parse_qs
        c = self.cfg
        u = urlparse(self.path)
        q = parse_qs(u.query)
        if u.path != "/token":
            return self.reply(404, {"error": "not found"})
        user = None
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Basic "):
            try:
                user, _, pw = base64.b64decode(auth[6:]).decode().partition(":")
            except Exception:
                return self.reply(400, {"error": "bad authorization"})
            if user != c.user or pw != c.password:
                log(f"token user={user} denied")
                return self.reply(401, {"error": "invalid credentials"},
                                  {"WWW-Authenticate": 'Basic realm="token"'})
        access = []
        for scope in q.get("scope", []):
            m = re.fullmatch(r"repository:([^:]+):([a-z,*]+)", scope)
            if m and user is not None:
                access.append({"type": "repository", "name": m.group(1),
                               "actions": m.group(2).split(",")})
        now = int(time.time())
        claims = {"iss": c.issuer, "sub": user or "", "aud": q.get("service", [c.service])[0],
                  "exp": now + c.expires, "nbf": now - 10, "iat": now, "jti": uuid.uuid4().hex,
                  "access": access}
        tok = make_jwt(c.key, c.cert_der, claims)
        log(f"token user={user or '-'} scope={','.join(q.get('scope', []))} granted={len(access)}")
        self.reply(200, {"token": tok, "access_token": tok, "expires_in": c.expires,
                         "issued_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))})

    def reply(self, code, doc, headers=None):
        body = json.dumps(doc).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)


class FileHandler(http.server.BaseHTTPRequestHandler):
    root = None

    def log_message(self, fmt, *args):
        pass

    def do_GET(self):
        rng = self.headers.get("Range")
        log(f"GET {self.path} auth={'yes' if self.headers.get('Authorization') else 'no'} "
            f"range={rng or '-'}")
        path = os.path.realpath(os.path.join(self.root, self.path.split("?")[0].lstrip("/")))
        if not path.startswith(self.root + "/") or not os.path.isfile(path):
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        size = os.path.getsize(path)
        start = 0
        m = re.fullmatch(r"bytes=(\d+)-", rng or "")
        if m and int(m.group(1)) < size:
            start = int(m.group(1))
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{size - 1}/{size}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(size - start))
        self.send_header("Content-Type", "application/octet-stream")
        self.end_headers()
        with open(path, "rb") as f:
            f.seek(start)
            while True:
                chunk = f.read(1 << 16)
                if not chunk:
                    break
                self.wfile.write(chunk)


def main():
    global LOG
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="mode", required=True)
    t = sub.add_parser("token")
    t.add_argument("port", type=int)
    t.add_argument("--key", required=True)
    t.add_argument("--cert", required=True)
    t.add_argument("--issuer", required=True)
    t.add_argument("--service", required=True)
    t.add_argument("--user")
    t.add_argument("--password")
    t.add_argument("--expires", type=int, default=300)
    t.add_argument("--log")
    f = sub.add_parser("files")
    f.add_argument("port", type=int)
    f.add_argument("dir")
    f.add_argument("--log")
    a = p.parse_args()
    LOG = a.log
    if a.mode == "token":
        from cryptography import x509
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.serialization import Encoding
        with open(a.key, "rb") as fh:
            a.key = serialization.load_pem_private_key(fh.read(), password=None)
        with open(a.cert, "rb") as fh:
            a.cert_der = x509.load_pem_x509_certificate(fh.read()).public_bytes(Encoding.DER)
        TokenHandler.cfg = a
        handler = TokenHandler
    else:
        FileHandler.root = os.path.realpath(a.dir)
        handler = FileHandler
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", a.port), handler)
    srv.daemon_threads = True
    sys.stderr.write(f"listening on 127.0.0.1:{a.port}\n")
    srv.serve_forever()


if __name__ == "__main__":
    main()
