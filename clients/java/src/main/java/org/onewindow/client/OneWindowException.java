package org.onewindow.client;

import java.util.List;
import java.util.Map;

/** A call that failed: `type` is the wire's exc_type (ValidationFailed,
 * Forbidden, NotFound, Conflict, ...); `problems` lists every problem of a
 * ValidationFailed by field path. */
public class OneWindowException extends RuntimeException {
    public final int status;
    public final String type;
    public final String code;
    public final Map<String, List<String>> problems;

    public OneWindowException(int status, String type, String code, String message,
                              Map<String, List<String>> problems) {
        super(type + ": " + message);
        this.status = status;
        this.type = type;
        this.code = code;
        this.problems = problems;
    }
}
