package org.onewindow.client;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.UUID;

/** Calls any contract method through the OneWindow gateway:
 * POST {base}/api/v1/{service}/{method} with a bearer token; the answer is the
 * method's result as plain Java values (Map, List, String, Long, Double,
 * Boolean, null), or a OneWindowException. */
public class OneWindowClient {
    private final HttpClient http;
    private final String base;
    private final String token;
    private final Duration timeout;

    public OneWindowClient(String baseUrl, String token) {
        this(baseUrl, token, Duration.ofSeconds(35));
    }

    public OneWindowClient(String baseUrl, String token, Duration timeout) {
        this.base = baseUrl.replaceAll("/+$", "");
        this.token = token;
        this.timeout = timeout;
        this.http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
    }

    public Object call(String service, String method, Map<String, ?> arguments) {
        HttpRequest request = HttpRequest.newBuilder(URI.create(base + "/api/v1/" + service + "/" + method))
                .timeout(timeout)
                .header("Content-Type", "application/json")
                .header("Authorization", "Bearer " + token)
                .header("X-Request-Id", UUID.randomUUID().toString())
                .POST(HttpRequest.BodyPublishers.ofString(Json.write(arguments), StandardCharsets.UTF_8))
                .build();
        HttpResponse<String> response;
        try {
            response = http.send(request, HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw new OneWindowException(0, "Unreachable", "unreachable", e.toString(), null);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new OneWindowException(0, "Interrupted", "interrupted", e.toString(), null);
        }
        Object body = Json.parse(response.body());
        if (response.statusCode() == 200) return body;
        Map<?, ?> error = (Map<?, ?>) ((Map<?, ?>) body).get("error");
        @SuppressWarnings("unchecked")
        Map<String, List<String>> problems = (Map<String, List<String>>) error.get("problems");
        throw new OneWindowException(response.statusCode(), (String) error.get("type"), (String) error.get("code"),
                                     (String) error.get("message"), problems);
    }

    /** The result as an object (most methods answer one). */
    @SuppressWarnings("unchecked")
    public Map<String, Object> object(String service, String method, Map<String, ?> arguments) {
        return (Map<String, Object>) call(service, method, arguments);
    }

    /** The result as a list (tasks, list_items, ...). */
    @SuppressWarnings("unchecked")
    public List<Map<String, Object>> list(String service, String method, Map<String, ?> arguments) {
        return (List<Map<String, Object>>) call(service, method, arguments);
    }
}
