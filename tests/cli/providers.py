#!/usr/bin/python3
"""Local stand-ins for the providers the dispatcher sends to, answering in
their documented formats (errors included), for tests/cli/dispatch.sh.

  providers.py CERT KEY DIR

Serves HTTPS (CERT/KEY) and SMTP (aiosmtpd: STARTTLS required, then AUTH
mailer/smtp-pass) on 127.0.0.1, writes "HTTPS_PORT SMTP_PORT" to
DIR/ports, and appends every request it receives to DIR/requests.jsonl.

Twilio   POST /2010-04-01/Accounts/AC123/Messages.json (basic AC123:tw-token)
         To +15550000400: 400 code 21211; +15550000429: 429 Retry-After 1;
         a StatusCallback on 127.0.0.1 gets a signed 'delivered' after 0.2 s
         the first time; +15550000504: hangs 8 s the first time (a timeout)
WhatsApp POST /v17.0/<id>/messages (Bearer wa-token); to 15550000400: 400
         code 131030
Slack    POST /api/chat.postMessage (Bearer xoxb-test): channel #nope: ok
         false channel_not_found; POST /services/T000/B000/XXXX: "ok"
FCM      POST /v1/projects/<p>/messages:send (Bearer ya29.token); token
         tok-gone: 404 UNREGISTERED
         or Bearer an access token /token issued and not expired
Token    POST /token: Google's OAuth2 token endpoint for a service account
         (grant_type jwt-bearer): the JWT's RS256 signature checked with
         DIR/sa.pub (openssl), its aud this URL, its scope FCM's, iat/exp
         now; else 400 invalid_grant. An access token for 1 h (3 s for
         iss short@...), "ya29.sa-<random>"
SendGrid POST /v3/mail/send (Bearer SG.key): 202 with X-Message-Id
SMTP     RCPT bounce@example.com: 550
"""
import asyncio
import base64
import hashlib
import http.server
import json
import os
import socket
import ssl
import subprocess
import tempfile
import sys
import threading
import time
import urllib.parse

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

CERT, KEY, DIR = sys.argv[1:4]
LOG = os.path.join(DIR, "requests.jsonl")
lock = threading.Lock()
seen = {}


def log(rec):
    rec["at"] = time.time()
    with lock:
        with open(LOG, "a") as f:
            f.write(json.dumps(rec) + "\n")


def first_time(key):
    with lock:
        n = seen.get(key, 0)
        seen[key] = n + 1
        return n == 0


issued = {}  # access token -> expiry (time.time())


def b64url(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def check_jwt(jwt, aud):
    """(claims, None) when jwt is a good service-account assertion for aud,
    else (None, why)."""
    parts = jwt.split(".")
    if len(parts) != 3:
        return None, "not a JWT"
    try:
        header = json.loads(b64url(parts[0]))
        claims = json.loads(b64url(parts[1]))
        sig = b64url(parts[2])
    except ValueError:
        return None, "not a JWT"
    if header.get("alg") != "RS256":
        return None, "alg is not RS256"
    with tempfile.TemporaryDirectory() as t:
        with open(os.path.join(t, "in"), "w") as f:
            f.write(parts[0] + "." + parts[1])
        with open(os.path.join(t, "sig"), "wb") as f:
            f.write(sig)
        r = subprocess.run(["openssl", "dgst", "-sha256", "-verify",
                            os.path.join(DIR, "sa.pub"), "-signature",
                            os.path.join(t, "sig"), os.path.join(t, "in")],
                           capture_output=True, text=True)
    if r.returncode != 0:
        return None, "Invalid JWT Signature."
    now = time.time()
    if claims.get("aud") != aud:
        return None, "aud is not this token endpoint"
    if claims.get("scope") != "https://www.googleapis.com/auth/firebase.messaging":
        return None, "scope is not FCM's"
    if not str(claims.get("iss", "")).endswith("@proj.iam.gserviceaccount.com"):
        return None, "iss is not a service account"
    iat, exp = claims.get("iat", 0), claims.get("exp", 0)
    if not (iat <= now + 60 and exp > now and exp - iat <= 3600):
        return None, "iat/exp out of bounds"
    return claims, None


def status_callback(url, sid, form):
    """Twilio's status callback for a message it took: 'delivered', POSTed
    to its StatusCallback when that is on 127.0.0.1, signed as Twilio signs
    (X-Twilio-Signature: base64 HMAC-SHA1 under the auth token of the URL
    then every parameter's name and value, sorted by name)."""
    import hmac
    import urllib.request
    time.sleep(0.2)
    params = {"MessageSid": sid, "MessageStatus": "delivered", "AccountSid": "AC123",
              "To": form.get("To", ""), "From": form.get("From", "")}
    signed = url + "".join(k + params[k] for k in sorted(params))
    sig = base64.b64encode(hmac.new(b"tw-token", signed.encode(), hashlib.sha1).digest())
    req = urllib.request.Request(url, data=urllib.parse.urlencode(params).encode(),
                                 headers={"X-Twilio-Signature": sig.decode(),
                                          "Content-Type": "application/x-www-form-urlencoded"})
    rec = {"callback": url, "sid": sid}
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            rec["status"] = r.status
    except Exception as e:  # logged for the test to see
        rec["status"] = getattr(e, "code", str(e))
    log(rec)


def ident(*parts):
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:16]


class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def answer(self, code, body, headers=()):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(code)
        ctype = "text/plain" if isinstance(body, bytes) else "application/json"
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        try:
            self.wfile.write(data)
        except OSError:
            pass

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(n).decode()
        path = self.path
        auth = self.headers.get("Authorization", "")
        rec = {"path": path, "auth": auth, "body": raw,
               "headers": {k.lower(): v for k, v in self.headers.items()}}
        if path.startswith("/2010-04-01/Accounts/"):
            form = dict(urllib.parse.parse_qsl(raw))
            rec["form"] = form
            rec["to"] = form.get("To", "")
            log(rec)
            want = "Basic " + base64.b64encode(b"AC123:tw-token").decode()
            if auth != want or "/Accounts/AC123/" not in path:
                return self.answer(401, {"code": 20003, "message": "Authenticate",
                                         "more_info": "https://www.twilio.com/docs/errors/20003",
                                         "status": 401})
            to = form.get("To", "").replace("whatsapp:", "")
            if to == "+15550000400":
                return self.answer(400, {
                    "code": 21211,
                    "message": "The 'To' number %s is not a valid phone number." % to,
                    "more_info": "https://www.twilio.com/docs/errors/21211",
                    "status": 400})
            if to == "+15550000429" and first_time(path + to):
                return self.answer(429, {"code": 20429, "message": "Too Many Requests",
                                         "status": 429}, [("Retry-After", "1")])
            if to == "+15550000504" and first_time(path + to):
                time.sleep(8)  # past the dispatcher's timeout
                return self.answer(503, {"code": 20503, "message": "late",
                                         "status": 503})
            sid = "SM" + ident(form.get("To", ""), form.get("Body", ""))
            cb = form.get("StatusCallback", "")
            if cb.startswith("http://127.0.0.1:"):  # never another host
                threading.Thread(target=status_callback, daemon=True,
                                 args=(cb, sid, form)).start()
            return self.answer(201, {"sid": sid,
                                     "status": "queued", "to": form.get("To"),
                                     "from": form.get("From"), "body": form.get("Body")})
        if path == "/token":
            form = dict(urllib.parse.parse_qsl(raw))
            aud = "https://127.0.0.1:%d/token" % self.server.server_address[1]
            claims, why = check_jwt(form.get("assertion", ""), aud)
            if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
                claims, why = None, "grant_type"
            rec["to"] = "token"
            rec["iss"] = claims.get("iss") if claims else None
            log(rec)
            if claims is None:
                return self.answer(400, {"error": "invalid_grant", "error_description": why})
            life = 3 if claims["iss"].startswith("short@") else 3600
            tok = "ya29.sa-" + os.urandom(8).hex()
            with lock:
                issued[tok] = time.time() + life
            return self.answer(200, {"access_token": tok, "expires_in": life,
                                     "token_type": "Bearer"})
        body = json.loads(raw) if raw.startswith("{") else {}
        rec["json"] = body
        if path.startswith("/v17.0/"):
            rec["to"] = body.get("to", "")
            log(rec)
            if auth != "Bearer wa-token":
                return self.answer(401, {"error": {"message": "Invalid OAuth access token.",
                                                   "type": "OAuthException", "code": 190}})
            if body.get("to") == "15550000400":
                return self.answer(400, {"error": {
                    "message": "(#131030) Recipient phone number not in allowed list",
                    "type": "OAuthException", "code": 131030, "fbtrace_id": "Afake"}})
            return self.answer(200, {"messaging_product": "whatsapp",
                                     "contacts": [{"input": body.get("to"), "wa_id": body.get("to")}],
                                     "messages": [{"id": "wamid." + ident(raw)}]})
        if path == "/api/chat.postMessage":
            rec["to"] = body.get("channel", "")
            log(rec)
            if auth != "Bearer xoxb-test":
                return self.answer(200, {"ok": False, "error": "invalid_auth"})
            if body.get("channel") == "#nope":
                return self.answer(200, {"ok": False, "error": "channel_not_found"})
            return self.answer(200, {"ok": True, "channel": "C0001",
                                     "ts": "%.6f" % time.time()})
        if path == "/services/T000/B000/XXXX":
            rec["to"] = "webhook"
            log(rec)
            return self.answer(200, b"ok")
        if path.startswith("/v1/projects/"):
            tok = body.get("message", {}).get("token", "")
            rec["to"] = tok
            log(rec)
            with lock:
                fresh = issued.get(auth[7:], 0) > time.time()
            if auth != "Bearer ya29.token" and not (auth.startswith("Bearer ") and fresh):
                return self.answer(401, {"error": {"code": 401, "message": "bad token",
                                                   "status": "UNAUTHENTICATED"}})
            if tok == "tok-gone":
                return self.answer(404, {"error": {
                    "code": 404, "message": "Requested entity was not found.",
                    "status": "NOT_FOUND",
                    "details": [{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
                                 "errorCode": "UNREGISTERED"}]}})
            return self.answer(200, {"name": "%s/messages/0:%s" % (path.split("/messages")[0][4:], ident(tok))})
        if path == "/v3/mail/send":
            rec["to"] = body["personalizations"][0]["to"][0]["email"]
            log(rec)
            if auth != "Bearer SG.key":
                return self.answer(401, {"errors": [{"message": "authorization required"}]})
            return self.answer(202, b"", [("X-Message-Id", "sg-" + ident(raw))])
        log(rec)
        return self.answer(404, {"error": "no such route"})


class Mail:
    async def handle_RCPT(self, server, session, envelope, address, options):
        if address == "bounce@example.com":
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        log({"smtp": True, "mail_from": envelope.mail_from, "to": ",".join(envelope.rcpt_tos),
             "tls": session.ssl is not None, "authenticated": session.authenticated,
             "auth_user": session.auth_data.decode()
             if isinstance(session.auth_data, bytes) else str(session.auth_data),
             "data": envelope.content.decode("utf-8", "replace")})
        return "250 OK queued"


def auth(server, session, envelope, mechanism, data):
    ok = data.login == b"mailer" and data.password == b"smtp-pass"
    return AuthResult(success=ok, handled=False, auth_data=data.login)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def main():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(CERT, KEY)
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    httpd.daemon_threads = True
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    sctx.load_cert_chain(CERT, KEY)
    smtp_port = free_port()
    ctl = Controller(Mail(), hostname="127.0.0.1", port=smtp_port,
                     tls_context=sctx, require_starttls=True,
                     authenticator=auth, auth_required=True)
    ctl.start()
    with open(os.path.join(DIR, "ports.tmp"), "w") as f:
        f.write("%d %d\n" % (httpd.server_address[1], smtp_port))
    os.rename(os.path.join(DIR, "ports.tmp"), os.path.join(DIR, "ports"))
    try:
        while True:
            time.sleep(3600)
    finally:
        ctl.stop()


main()
