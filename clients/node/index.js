// OneWindow client for department systems: the same calls over HTTP (the
// gateway, with a bearer token) or over AMQP (nameko RPC, docs/wire.md).
// Both give the method's result, or throw a OneWindowError whose `type` is
// the wire's exc_type (ValidationFailed, Forbidden, NotFound, Conflict, ...)
// and whose `problems` lists every problem of a ValidationFailed.
"use strict";
const { randomUUID } = require("crypto");

class OneWindowError extends Error {
  constructor(type, message, { status = null, code = null, problems = null } = {}) {
    super(`${type}: ${message}`);
    this.type = type;
    this.status = status;
    this.code = code;
    this.problems = problems;
  }
}

class HttpClient {
  // baseUrl like http://127.0.0.1:8001; token from `onewindow principal token NAME`
  constructor(baseUrl, token, { timeoutMs = 35000 } = {}) {
    this.baseUrl = baseUrl.replace(/\/+$/, "");
    this.token = token;
    this.timeoutMs = timeoutMs;
  }

  async call(service, method, args = {}, { requestId = randomUUID() } = {}) {
    const response = await fetch(`${this.baseUrl}/api/v1/${service}/${method}`, {
      method: "POST",
      headers: { "Content-Type": "application/json", Authorization: `Bearer ${this.token}`,
                 "X-Request-Id": requestId },
      body: JSON.stringify(args),
      signal: AbortSignal.timeout(this.timeoutMs),
    });
    const body = await response.json();
    if (response.status === 200) return body;
    const error = body.error || {};
    throw new OneWindowError(error.type || "HttpError", error.message || `HTTP ${response.status}`,
                             { status: response.status, code: error.code, problems: error.problems });
  }

  async close() {}
}

class AmqpClient {
  // amqpUrl like amqp://ow-dept-PSB:secret@127.0.0.1:5672/ ; userId: the broker user (the principal)
  static async connect(amqpUrl, { userId = null, timeoutMs = 30000 } = {}) {
    const amqp = require("amqplib");
    const client = new AmqpClient();
    client.userId = userId || decodeURIComponent(new URL(amqpUrl).username || "") || null;
    client.timeoutMs = timeoutMs;
    client.connection = await amqp.connect(amqpUrl);
    client.channel = await client.connection.createConfirmChannel();
    client.replyKey = randomUUID();
    const queue = `rpc.reply-standalone_rpc_proxy-${client.replyKey}`;
    await client.channel.assertExchange("nameko-rpc", "topic", { durable: true });
    await client.channel.assertQueue(queue, { durable: true, arguments: { "x-expires": 300000 } });
    await client.channel.bindQueue(queue, "nameko-rpc", client.replyKey);
    client.pending = new Map();
    client.channel.on("return", (msg) => {  // mandatory: no service bound to that routing key
      const done = client.pending.get(msg.properties.correlationId);
      if (done) {
        client.pending.delete(msg.properties.correlationId);
        done.reject(new OneWindowError("UnknownService", `nobody serves ${msg.fields.routingKey}`));
      }
    });
    await client.channel.consume(queue, (msg) => client._reply(msg), { noAck: false });
    return client;
  }

  _reply(msg) {
    this.channel.ack(msg);
    const done = this.pending.get(msg.properties.correlationId);
    if (!done) return;  // a late reply to a call that timed out
    this.pending.delete(msg.properties.correlationId);
    clearTimeout(done.timer);
    const reply = JSON.parse(msg.content.toString("utf8"));
    if (!reply.error) return done.resolve(reply.result);
    const { exc_type: type, value } = reply.error;
    // ValidationFailed's value is itself JSON: {"field.path": ["problem", ...]}
    const problems = type === "ValidationFailed" ? JSON.parse(value) : null;
    done.reject(new OneWindowError(type, value, { problems }));
  }

  // userId: another principal's name, for a connection whose broker user may
  // set it (an impersonating drill or router); by default the connection's user
  call(service, method, args = {}, { userId = this.userId } = {}) {
    const correlationId = randomUUID();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(correlationId);
        reject(new OneWindowError("Timeout", `${service}.${method} did not answer in ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      this.pending.set(correlationId, { resolve, reject, timer });
      const properties = { contentType: "application/json", contentEncoding: "utf-8", deliveryMode: 2,
                           mandatory: true, replyTo: this.replyKey, correlationId };
      if (userId) properties.userId = userId;
      this.channel.publish("nameko-rpc", `${service}.${method}`,
                           Buffer.from(JSON.stringify({ args: [], kwargs: args }), "utf8"), properties);
    });
  }

  async close() {
    await this.channel.close();
    await this.connection.close();
  }
}

module.exports = { HttpClient, AmqpClient, OneWindowError };
