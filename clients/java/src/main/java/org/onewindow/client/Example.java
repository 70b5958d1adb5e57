package org.onewindow.client;

import java.time.LocalDate;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.function.Supplier;

/** A department system's day: submit a case at the window, approve every
 * department's task, pay the bill, read the result, through the gateway.
 * OW_GATEWAY_URL (http://127.0.0.1:8001); a token in OW_TOKEN, or per role
 * OW_TOKEN_WINDOW, OW_TOKEN_CASHIER, OW_TOKEN_DEPARTMENT_CODE. Prints one
 * JSON line per step; the last is the result. */
public final class Example {
    static final String SAMPLE_ID_NUMBER = "11010519491231002X";
    static final String SAMPLE_USCC = "91350100M000100Y43";
    static final Map<String, OneWindowClient> CLIENTS = new HashMap<>();

    static OneWindowClient as(String role, String department) {
        String name = "OW_TOKEN_" + role.toUpperCase() + (department == null ? "" : "_" + department.toUpperCase());
        String token = System.getenv().getOrDefault(name, System.getenv("OW_TOKEN"));
        if (token == null) throw new IllegalStateException("set " + name + " or OW_TOKEN");
        String base = System.getenv().getOrDefault("OW_GATEWAY_URL", "http://127.0.0.1:8001");
        return CLIENTS.computeIfAbsent(token, t -> new OneWindowClient(base, t));
    }

    /** key, value, key, value...: a JSON object that may hold nulls (Map.of may not). */
    static Map<String, Object> kv(Object... pairs) {
        Map<String, Object> map = new LinkedHashMap<>();
        for (int i = 0; i < pairs.length; i += 2) map.put((String) pairs[i], pairs[i + 1]);
        return map;
    }

    static void step(String what, Map<String, ?> detail) {
        Map<String, Object> line = new LinkedHashMap<>();
        line.put("step", what);
        line.putAll(detail);
        System.out.println(Json.write(line));
    }

    static Object fieldValue(Map<String, Object> field) {
        switch ((String) field.get("type")) {
            case "integer": return 10L;
            case "amount_fen": return 10_000_000L;
            case "date": return LocalDate.now().toString();
            case "choice": return ((List<?>) field.get("choices")).get(0);
            case "phone": return "13800138000";
            case "id_number": return SAMPLE_ID_NUMBER;
            case "uscc": return SAMPLE_USCC;
            default: return "示例" + field.getOrDefault("label", field.get("name"));
        }
    }

    static <T> T until(String what, Supplier<T> probe) throws InterruptedException {
        long deadline = System.currentTimeMillis() + 30_000;
        while (true) {
            T value = probe.get();
            if (value != null) return value;
            if (System.currentTimeMillis() > deadline) throw new IllegalStateException("timed out waiting for " + what);
            Thread.sleep(200);
        }
    }

    @SuppressWarnings("unchecked")
    public static void main(String[] args) throws Exception {
        String tag = UUID.randomUUID().toString().substring(0, 8);
        String itemCode = System.getenv().getOrDefault("OW_ITEM", "ENT-EST");
        OneWindowClient window = as("window", null);

        Map<String, Object> item = window.list("intake", "list_items", Map.of()).stream()
                .filter(i -> itemCode.equals(i.get("code"))).findFirst()
                .orElseThrow(() -> new IllegalStateException("no item " + itemCode));
        List<Map<String, Object>> fields = (List<Map<String, Object>>)
                window.object("intake", "form_for", Map.of("item_code", itemCode)).get("fields");
        boolean enterprise = itemCode.startsWith("ENT") || fields.stream().anyMatch(f -> "uscc".equals(f.get("type")));
        Map<String, Object> applicant = new LinkedHashMap<>();
        applicant.put("kind", enterprise ? "enterprise" : "person");
        applicant.put("name", "张三丰");
        applicant.put("phone", "13900139000");
        applicant.put(enterprise ? "uscc" : "id_number", enterprise ? SAMPLE_USCC : SAMPLE_ID_NUMBER);
        Map<String, Object> form = new LinkedHashMap<>();
        for (Map<String, Object> field : fields) {
            if (Boolean.TRUE.equals(field.get("required"))) form.put((String) field.get("name"), fieldValue(field));
        }
        List<Object> materials = ((List<Map<String, Object>>) item.get("materials")).stream()
                .filter(m -> Boolean.TRUE.equals(m.get("required"))).map(m -> m.get("code")).toList();
        Map<String, Object> application = new LinkedHashMap<>();
        application.put("client_ref", "java-" + tag);
        application.put("item_code", itemCode);
        application.put("channel", "window");
        application.put("applicant", applicant);
        application.put("form", form);
        application.put("materials", materials);

        // a bad application first: every problem comes back at once
        Map<String, Object> bad = new LinkedHashMap<>(application);
        bad.put("channel", "fax");
        bad.put("applicant", Map.of());
        try {
            window.call("intake", "submit", Map.of("application", bad));
            throw new IllegalStateException("a bad application was accepted");
        } catch (OneWindowException e) {
            if (!"ValidationFailed".equals(e.type)) throw e;
            step("refused", kv("type", e.type, "status", (long) e.status,
                                   "problems", List.copyOf(new java.util.TreeSet<>(e.problems.keySet()))));
        }

        Map<String, Object> submitted = window.object("intake", "submit", Map.of("application", application));
        String number = (String) submitted.get("application_no");
        step("submitted", kv("application_no", number, "status", submitted.get("status")));

        for (Object code : (List<Object>) item.get("departments")) {
            String department = (String) code;
            OneWindowClient reviewer = as("department", department);
            Map<String, Object> task = until(department + "'s task", () ->
                    reviewer.list("review", "tasks", Map.of("department", department, "status", "open")).stream()
                            .filter(t -> number.equals(t.get("application_no"))).findFirst().orElse(null));
            Map<String, Object> decision = new LinkedHashMap<>();
            decision.put("task_id", task.get("task_id"));
            decision.put("department", department);
            decision.put("reviewer", task.get("assignee"));
            decision.put("decision", "approve");
            decision.put("opinion", "同意");
            decision.put("client_ref", "java-" + tag + "-" + department);
            Map<String, Object> decided = reviewer.object("review", "decide", decision);
            step("approved", kv("department", department,
                                    "status", ((Map<String, Object>) decided.get("task")).get("status")));
        }

        Map<String, Object> record = until("the decision", () -> {
            Map<String, Object> r = window.object("intake", "get", Map.of("application_no", number));
            return List.of("awaiting_payment", "completed", "rejected").contains(r.get("status")) ? r : null;
        });
        if ("awaiting_payment".equals(record.get("status"))) {
            OneWindowClient cashier = as("cashier", null);
            Map<String, Object> bill = until("the bill", () -> {
                try {
                    return cashier.object("fees", "bill", Map.of("application_no", number));
                } catch (OneWindowException e) {
                    if ("NotFound".equals(e.type)) return null;
                    throw e;
                }
            });
            Map<String, Object> payment = new LinkedHashMap<>();
            payment.put("bill_no", bill.get("bill_no"));
            payment.put("amount_fen", bill.get("total_fen"));
            payment.put("method", "pos");
            payment.put("payment_ref", "java-" + tag + "-pay");
            Map<String, Object> paid = cashier.object("fees", "pay", payment);
            step("paid", kv("bill_no", bill.get("bill_no"), "total_fen", bill.get("total_fen"),
                                "status", paid.get("status")));
        }
        Map<String, Object> result = until("the case to complete", () -> {
            Map<String, Object> r = window.object("intake", "get", Map.of("application_no", number));
            return "completed".equals(r.get("status")) ? r : null;
        });
        step("result", kv("application_no", number, "status", result.get("status"), "transport", "http"));
    }
}
