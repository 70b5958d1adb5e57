"""Local stand-ins for Alibaba Cloud SMS and Tencent Cloud SMS on 127.0.0.1
(a free port): each checks the signed request as the provider documents its
signature (ACS3-HMAC-SHA256, TC3-HMAC-SHA256), written here from the
providers' specifications and not from their SDKs, and answers as the
provider documents, from a script of behaviours."""
import datetime
import hashlib
import hmac
import http.server
import json
import threading
import time
import urllib.parse
import uuid


def sha256_hex(data):
    return hashlib.sha256(data).hexdigest()


def rfc3986(text):
    return urllib.parse.quote(text, safe="-_.~")


class Signed(Exception):
    """The request's signature or its signed parts do not hold."""


def verify_acs3(method, path, headers, body, secrets, now=None):
    """Alibaba Cloud's V3 signature. Returns the AccessKey id it was signed with."""
    auth = headers.get("Authorization", "")
    algorithm, _, rest = auth.partition(" ")
    if algorithm != "ACS3-HMAC-SHA256":
        raise Signed(f"algorithm {algorithm!r}")
    fields = dict(part.split("=", 1) for part in rest.split(","))
    key_id, signed, signature = fields["Credential"], fields["SignedHeaders"], fields["Signature"]
    if key_id not in secrets:
        raise Signed("unknown AccessKey id")
    lower = {k.lower(): v for k, v in headers.items()}
    names = signed.split(";")
    if names != sorted(names) or not {"host", "x-acs-date", "x-acs-content-sha256", "x-acs-action"} <= set(names):
        raise Signed(f"signed headers {signed}")
    if not all(name in lower for name in names):
        raise Signed(f"signed headers {signed} not all sent")
    if lower["x-acs-content-sha256"] != sha256_hex(body):
        raise Signed("x-acs-content-sha256 is not the body's hash")
    signed_at = datetime.datetime.strptime(lower["x-acs-date"], "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=datetime.timezone.utc)
    if abs(((now or datetime.datetime.now(datetime.timezone.utc)) - signed_at).total_seconds()) > 900:
        raise Signed("x-acs-date more than 15 minutes off")
    url = urllib.parse.urlsplit(path)
    query = urllib.parse.parse_qsl(url.query, keep_blank_values=True)
    canonical_query = "&".join(f"{rfc3986(k)}={rfc3986(v)}" for k, v in sorted(query))
    canonical_headers = "".join(f"{name}:{lower[name].strip()}\n" for name in names)
    canonical = "\n".join([method, url.path or "/", canonical_query, canonical_headers, signed,
                           lower["x-acs-content-sha256"]])
    to_sign = "ACS3-HMAC-SHA256\n" + sha256_hex(canonical.encode())
    expected = hmac.new(secrets[key_id].encode(), to_sign.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature):
        raise Signed("signature does not match")
    return key_id


def verify_tc3(method, path, headers, body, secrets, service="sms", now=None):
    """Tencent Cloud's API 3.0 signature. Returns the SecretId it was signed with."""
    auth = headers.get("Authorization", "")
    algorithm, _, rest = auth.partition(" ")
    if algorithm != "TC3-HMAC-SHA256":
        raise Signed(f"algorithm {algorithm!r}")
    fields = dict(part.strip().split("=", 1) for part in rest.split(","))
    secret_id, date, scope_service, terminator = fields["Credential"].split("/")
    if secret_id not in secrets or scope_service != service or terminator != "tc3_request":
        raise Signed(f"credential {fields['Credential']}")
    lower = {k.lower(): v for k, v in headers.items()}
    timestamp = int(lower["x-tc-timestamp"])
    if abs((now or time.time()) - timestamp) > 300:
        raise Signed("X-TC-Timestamp more than 5 minutes off")
    if datetime.datetime.fromtimestamp(timestamp, datetime.timezone.utc).strftime("%Y-%m-%d") != date:
        raise Signed("credential date is not the timestamp's UTC date")
    names = fields["SignedHeaders"].split(";")
    if not {"content-type", "host"} <= set(names):
        raise Signed(f"signed headers {fields['SignedHeaders']}")
    url = urllib.parse.urlsplit(path)
    canonical_headers = "".join(f"{name}:{lower[name].strip().lower()}\n" for name in names)
    canonical = "\n".join([method, url.path or "/", url.query, canonical_headers, fields["SignedHeaders"],
                           sha256_hex(body)])
    to_sign = "\n".join(["TC3-HMAC-SHA256", str(timestamp), f"{date}/{service}/tc3_request",
                         sha256_hex(canonical.encode())])

    def mac(key, msg):
        return hmac.new(key, msg.encode(), hashlib.sha256).digest()

    key = mac(mac(mac(("TC3" + secrets[secret_id]).encode(), date), service), "tc3_request")
    expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, fields["Signature"]):
        raise Signed("signature does not match")
    return secret_id


class CloudSmsServer:
    """Serves one provider's SendSms. `script` is a list of behaviours taken
    one per request (then `default`): ok, refuse (the phone), throttle,
    error (5xx), slow (answers after `slow_seconds`)."""

    def __init__(self, provider, key_id, key_secret, default="ok", slow_seconds=1.0):
        self.provider = provider
        self.secrets = {key_id: key_secret}
        self.default = default
        self.slow_seconds = slow_seconds
        self.script = []
        self.requests = []        # (params, behaviour) of every request that passed the signature
        self.bad_signatures = []
        self.lock = threading.Lock()
        # as each answers: the Tencent SDK reads an error only under exactly this type
        self.content_type = "application/json;charset=utf-8" if provider == "aliyun" else "application/json"
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = dict(self.headers.items())
                verify = verify_acs3 if server.provider == "aliyun" else verify_tc3
                try:
                    verify("POST", self.path, headers, body, server.secrets)
                except (Signed, KeyError, ValueError) as exc:
                    with server.lock:
                        server.bad_signatures.append(str(exc))
                    return self.answer(*server.signature_refused())
                params = server.params(self.path, headers, body)
                with server.lock:
                    behaviour = server.script.pop(0) if server.script else server.default
                    server.requests.append((params, behaviour))
                if behaviour == "slow":
                    time.sleep(server.slow_seconds)
                self.answer(*server.respond(params, behaviour))

            def answer(self, status, data):
                raw = json.dumps(data, ensure_ascii=False).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", server.content_type)
                    self.send_header("Content-Length", str(len(raw)))
                    self.end_headers()
                    self.wfile.write(raw)
                except OSError:
                    pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.endpoint = f"127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()

    # --------------------------------------------------------- per provider
    def params(self, path, headers, body):
        if self.provider == "aliyun":
            lower = {k.lower(): v for k, v in headers.items()}
            params = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(path).query))
            params.update(urllib.parse.parse_qsl(body.decode()))
            params["Action"], params["Version"] = lower.get("x-acs-action"), lower.get("x-acs-version")
            return params
        lower = {k.lower(): v for k, v in headers.items()}
        params = json.loads(body)
        params["Action"], params["Version"] = lower.get("x-tc-action"), lower.get("x-tc-version")
        params["Region"] = lower.get("x-tc-region")
        return params

    def signature_refused(self):
        request_id = str(uuid.uuid4()).upper()
        if self.provider == "aliyun":
            return 400, {"Code": "SignatureDoesNotMatch", "RequestId": request_id,
                         "Message": "Specified signature does not match our calculation."}
        return 200, {"Response": {"Error": {"Code": "AuthFailure.SignatureFailure",
                                            "Message": "The provided credentials could not be validated."},
                                  "RequestId": request_id}}

    def respond(self, params, behaviour):
        request_id = str(uuid.uuid4()).upper()
        if self.provider == "aliyun":
            if behaviour == "refuse":
                return 200, {"Code": "isv.MOBILE_NUMBER_ILLEGAL", "Message": "非法手机号", "RequestId": request_id}
            if behaviour == "throttle":
                return 200, {"Code": "isv.BUSINESS_LIMIT_CONTROL", "Message": "触发分钟级流控Permits:1",
                             "RequestId": request_id}
            if behaviour == "error":
                return 500, {"Code": "ServiceUnavailable", "Message": "The request has failed due to a "
                             "temporary failure of the server.", "RequestId": request_id}
            return 200, {"Code": "OK", "Message": "OK", "RequestId": request_id,
                         "BizId": f"{uuid.uuid4().int % 10 ** 15}^0"}
        phone = (params.get("PhoneNumberSet") or [""])[0]
        if behaviour == "error":
            return 200, {"Response": {"Error": {"Code": "InternalError.RequestTimeException",
                                                "Message": "internal error"}, "RequestId": request_id}}
        status = {"refuse": ("InvalidParameterValue.IncorrectPhoneNumber", "手机号格式错误"),
                  "throttle": ("LimitExceeded.PhoneNumberThirtySecondLimit", "单个手机号30秒内下发短信条数超过设定的上限")}
        code, message = status.get(behaviour, ("Ok", "send success"))
        return 200, {"Response": {"SendStatusSet": [{
            "SerialNo": f"2645:{uuid.uuid4().int % 10 ** 20}", "PhoneNumber": phone, "Fee": 1,
            "SessionContext": params.get("SessionContext", ""), "Code": code, "Message": message,
            "IsoCode": "CN"}], "RequestId": request_id}}

    def close(self):
        self.server.shutdown()
        self.server.server_close()
