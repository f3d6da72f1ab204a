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

# Enterprise directives. Generated modules that carry an enterprise config
# define `directives` (key to {"value", "enforcement"}) and `degraded`
# ({"policy", "grace_seconds"?, "message"?}) and call these helpers.

# builtin_values are what clients use when no directive and no local setting gives a value.
builtin_values := {
	"registry": null,
	"non_registry_servers": true,
	"telemetry": null,
	"ca_certificate": null,
	"build_env": {},
	"playground": true,
	"help_menu": true,
	"assistant": true,
}

# enterprise_request_error(req) explains why a request's enterprise fields are malformed.
enterprise_request_error(req) := "field \"local\" must be an object" if {
	"local" in object.keys(req)
	not is_object(req.local)
} else := "field \"local.non_registry_servers\" must be a boolean" if {
	"non_registry_servers" in object.keys(object.get(req, "local", {}))
	not is_boolean(req.local.non_registry_servers)
} else := "field \"unreachableSeconds\" must be a non-negative number" if {
	"unreachableSeconds" in object.keys(req)
	not non_negative(req.unreachableSeconds)
} else := "field \"newInstall\" must be a boolean" if {
	"newInstall" in object.keys(req)
	not is_boolean(req.newInstall)
}

non_negative(x) if {
	is_number(x)
	x >= 0
}

# effective_entry is one directive's value in force and where it came from.
effective_entry(directives, local, k) := {"value": directives[k].value, "source": "enforced"} if {
	directives[k].enforcement == "enforced"
} else := {"value": local[k], "source": "local"} if {
	k in object.keys(local)
} else := {"value": directives[k].value, "source": "default"} if {
	k in object.keys(directives)
} else := {"value": object.get(builtin_values, k, null), "source": "builtin"}

directive_keys(directives, local) := (object.keys(directives) | object.keys(builtin_values)) | object.keys(local)

# effective_config is the configuration in force for a client's local settings, and why.
effective_config(directives, degraded, local) := {
	"directives": {k: effective_entry(directives, local, k) | some k in directive_keys(directives, local)},
	"rejected": [{"key": k, "local": local[k], "value": directives[k].value} |
		some k in sort(object.keys(directives))
		directives[k].enforcement == "enforced"
		k in object.keys(local)
		local[k] != directives[k].value
	],
	"degraded_mode": {
		"policy": object.get(degraded, "policy", "warn"),
		"grace_period": object.get(degraded, "grace_period", null),
		"grace_period_seconds": object.get(degraded, "grace_seconds", null),
		"message": object.get(degraded, "message", null),
	},
}

# connection_state is connected, grace (unreachable within the grace period) or degraded.
connection_state(degraded, req) := "connected" if {
	object.get(req, "unreachableSeconds", 0) <= 0
} else := "grace" if {
	req.unreachableSeconds <= degraded.grace_seconds
} else := "degraded"

unreachable_warning := "the Enterprise Manager is unreachable; using the cached configuration"

blocked_install_reason := "new server installs are blocked while the Enterprise Manager is unreachable"

# directive_denial is the denial a directive imposes before any policy rule; undefined when none does.
directive_denial(directives, degraded, req) := d if {
	entry := effective_entry(directives, object.get(req, "local", {}), "non_registry_servers")
	entry.value == false
	action(req) == "load"
	object.get(req, "serverType", "") != "registry"
	reason := concat("", ["non-registry servers are not allowed: directive \"non_registry_servers\" (", entry.source, ")"])
	d := {"allowed": false, "reason": reason, "rule": null, "directive": "non_registry_servers"}
} else := d if {
	degraded.policy == "block_new"
	connection_state(degraded, req) == "degraded"
	action(req) == "load"
	req.newInstall == true
	d := {"allowed": false, "reason": object.get(degraded, "message", blocked_install_reason), "rule": null, "directive": "degraded_mode"}
}

# degraded_warning is the warning for decisions made while the Enterprise Manager is unreachable; "" when connected.
degraded_warning(degraded, req) := "" if {
	connection_state(degraded, req) == "connected"
} else := object.get(degraded, "message", unreachable_warning)

# warned(d, w) is decision d with warning w attached, unless w is empty.
warned(d, "") := d

warned(d, w) := object.union(d, {"warning": w}) if w != ""
