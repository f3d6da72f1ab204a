# Helpers shared by every module that mcp-policy generates.
#
# Only builtins that behave the same in OPA's interpreter and in the
# WebAssembly target are used: string builtins, never glob.match or
# regex.match (in WebAssembly those run on RE2, where "." stops at a newline,
# and are recompiled on every evaluation). wasm/capabilities.json enforces it.
package mcp_policy.lib

# Request fields that must be strings when present, in the order errors name them.
request_fields := ["action", "server", "serverType", "serverSource", "transport", "tool"]

actions := {"load", "invoke", "prompt"}

# request_error(req) explains why a request is malformed; undefined when it is not.
request_error(req) := "request must be a JSON object" if {
	not is_object(req)
} else := msg if {
	wrong := [f | some f in request_fields; f in object.keys(req); not is_string(req[f])]
	count(wrong) > 0
	msg := concat("", ["field \"", wrong[0], "\" must be a string"])
} else := msg if {
	a := action(req)
	not a in actions
	msg := concat("", ["unknown action \"", a, "\""])
}

# action(req) is the request's action; absent or empty means invoke.
action(req) := req.action if {
	req.action != ""
} else := "invoke"

# facts(req) is what rules match on: the non-empty string fields, the action
# with its default, and the forms of serverSource that patterns are tried on.
facts(req) := object.union(
	{f: v | some f in request_fields; v := req[f]; v != ""},
	{"action": action(req), "sources": source_forms(req)},
)

# source_forms(req) is serverSource as given plus, for an image reference, its
# canonical Docker form; empty when there is no serverSource.
source_forms(req) := {s} if {
	s := req.serverSource
	s != ""
	contains(s, "://")
} else := {s, canonical_image(s)} if {
	s := req.serverSource
	s != ""
} else := set()

# canonical_image(ref) expands a short image reference as Docker does:
# "alpine" is docker.io/library/alpine, "mcp/x" is docker.io/mcp/x, and a
# reference whose first component names a registry host stays as it is.
canonical_image(ref) := concat("", ["docker.io/library/", ref]) if {
	not contains(ref, "/")
} else := ref if {
	registry_host(split(ref, "/")[0])
} else := concat("", ["docker.io/", ref])

registry_host(h) if contains(h, ".")

registry_host(h) if contains(h, ":")

registry_host(h) if h == "localhost"

# wrapped(x, p, s) holds when x is p, then anything, then s, with p and s not overlapping.
wrapped(x, p, s) if {
	startswith(x, p)
	endswith(trim_prefix(x, p), s)
}

# between(x, p, s) is what lies between prefix p and suffix s of x; undefined
# unless x starts with p and, after it, ends with s.
between(x, p, s) := trim_suffix(rest, s) if {
	startswith(x, p)
	rest := trim_prefix(x, p)
	endswith(rest, s)
}

# after(x, m) is what follows the first occurrence of m in x; undefined when m
# does not occur. Matching pieces leftmost first is enough for "*" patterns.
after(x, m) := concat(m, array.slice(parts, 1, count(parts))) if {
	parts := split(x, m)
	count(parts) > 1
}
