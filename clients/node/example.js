// A department system's day in one script: submit a case at the window,
// approve every department's task, pay the bill, read the result.
//   node example.js            over HTTP: OW_GATEWAY_URL (http://127.0.0.1:8001) and a token
//   node example.js --amqp     over AMQP: AMQP_URI (amqp://guest:guest@127.0.0.1:5672/)
// Tokens: OW_TOKEN, or per role OW_TOKEN_WINDOW, OW_TOKEN_CASHIER and
// OW_TOKEN_DEPARTMENT_<CODE> (each from `onewindow principal token NAME`).
// Prints one JSON line per step; the last is {"result": ...}. Exit 1 on failure.
"use strict";
const { randomUUID } = require("crypto");
const { HttpClient, AmqpClient, OneWindowError } = require("./index");

const SAMPLE_ID_NUMBER = "11010519491231002X";  // valid GB 11643 check digit
const SAMPLE_USCC = "91350100M000100Y43";        // valid GB 32100 check digit

function step(what, detail) {
  console.log(JSON.stringify({ step: what, ...detail }));
}

function fieldValue(field) {
  const today = new Date().toISOString().slice(0, 10);
  switch (field.type) {
    case "integer": return 10;
    case "amount_fen": return 10000000;
    case "date": return today;
    case "choice": return field.choices[0];
    case "phone": return "13800138000";
    case "id_number": return SAMPLE_ID_NUMBER;
    case "uscc": return SAMPLE_USCC;
    default: return `示例${field.label || field.name}`;
  }
}

async function until(what, probe, timeoutMs = 30000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

async function clients(amqp) {
  if (amqp) {
    // one connection; each role's calls carry that principal's user_id when
    // OW_AMQP_USER_<ROLE>[_<DEPARTMENT>] names one (the connection's user may act as it)
    const client = await AmqpClient.connect(process.env.AMQP_URI || "amqp://guest:guest@127.0.0.1:5672/");
    const as = (role, department = null) => {
      const name = ["OW_AMQP_USER", role, department].filter(Boolean).join("_").toUpperCase();
      const userId = process.env[name] || client.userId;
      return { call: (service, method, args) => client.call(service, method, args, { userId }) };
    };
    return { as, close: () => client.close() };
  }
  const base = process.env.OW_GATEWAY_URL || "http://127.0.0.1:8001";
  const made = new Map();
  const as = (role, department = null) => {
    const name = ["OW_TOKEN", role, department].filter(Boolean).join("_").toUpperCase();
    const token = process.env[name] || process.env.OW_TOKEN;
    if (!token) throw new Error(`set ${name} or OW_TOKEN (onewindow principal token NAME)`);
    if (!made.has(token)) made.set(token, new HttpClient(base, token));
    return made.get(token);
  };
  return { as, close: async () => {} };
}

async function main() {
  const amqp = process.argv.includes("--amqp");
  const { as, close } = await clients(amqp);
  const tag = randomUUID().slice(0, 8);
  try {
    const window = as("window");
    const itemCode = process.env.OW_ITEM || "ENT-EST";
    const item = (await window.call("intake", "list_items")).find((i) => i.code === itemCode);
    if (!item) throw new Error(`no item ${itemCode} in the catalog`);
    const { fields } = await window.call("intake", "form_for", { item_code: itemCode });
    const enterprise = fields.some((f) => f.type === "uscc") || itemCode.startsWith("ENT");
    const application = {
      client_ref: `node-${tag}`, item_code: itemCode, channel: "window",
      applicant: { kind: enterprise ? "enterprise" : "person", name: "张三丰", phone: "13900139000",
                   ...(enterprise ? { uscc: SAMPLE_USCC } : { id_number: SAMPLE_ID_NUMBER }) },
      form: Object.fromEntries(fields.filter((f) => f.required).map((f) => [f.name, fieldValue(f)])),
      materials: item.materials.filter((m) => m.required).map((m) => m.code),
    };

    // a bad application first: every problem comes back at once
    try {
      await window.call("intake", "submit", { application: { ...application, channel: "fax", applicant: {} } });
      throw new Error("a bad application was accepted");
    } catch (err) {
      if (!(err instanceof OneWindowError) || err.type !== "ValidationFailed") throw err;
      step("refused", { type: err.type, problems: Object.keys(err.problems).sort() });
    }

    const submitted = await window.call("intake", "submit", { application });
    const number = submitted.application_no;
    step("submitted", { application_no: number, status: submitted.status, due_date: submitted.due_date });

    for (const department of item.departments) {
      const reviewer = as("department", department);
      const task = await until(`${department}'s task`, async () =>
        (await reviewer.call("review", "tasks", { department, status: "open" }))
          .find((t) => t.application_no === number));
      const decided = await reviewer.call("review", "decide", {
        task_id: task.task_id, department, reviewer: task.assignee, decision: "approve", opinion: "同意",
        client_ref: `node-${tag}-${department}` });
      step("approved", { department, task_id: task.task_id, status: decided.task.status });
    }

    const decided = await until("the decision", async () => {
      const record = await window.call("intake", "get", { application_no: number });
      return ["awaiting_payment", "completed", "rejected"].includes(record.status) && record;
    });
    if (decided.status === "awaiting_payment") {
      const cashier = as("cashier");
      const bill = await until("the bill", async () => {
        try { return await cashier.call("fees", "bill", { application_no: number }); } catch (err) {
          if (err.type === "NotFound") return null;
          throw err;
        }
      });
      const paid = await cashier.call("fees", "pay", { bill_no: bill.bill_no, amount_fen: bill.total_fen,
                                                        method: "pos", payment_ref: `node-${tag}-pay` });
      step("paid", { bill_no: bill.bill_no, total_fen: bill.total_fen, status: paid.status });
    }
    const result = await until("the case to complete", async () => {
      const record = await window.call("intake", "get", { application_no: number });
      return record.status === "completed" && record;
    });
    step("result", { application_no: number, status: result.status, transport: amqp ? "amqp" : "http" });
  } finally {
    await close();
  }
}

main().catch((err) => {
  console.error(err instanceof OneWindowError ? `${err.message} ${JSON.stringify(err.problems)}` : err);
  process.exit(1);
});
