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

# What a request's target may name (Docker's gateway protocol); a request
# about anything else (a prompt or a resource as such) is not one a policy answers.
target_types := {"catalog", "workingSet", "server", "tool"}

# max_field_length is the longest request field, in characters (code points):
# it bounds what one request can make matching cost.
max_field_length := 65536

# request_error(req) explains why a request is malformed; undefined when it is not.
request_error(req) := "request must be a JSON object" if {
	not is_object(req)
} else := msg if {
	wrong := [f | some f in request_fields; v := req[f]; not is_string(v)]
	count(wrong) > 0
	msg := concat("", ["field \"", wrong[0], "\" must be a string"])
} else := msg if {
	long := [f | some f in request_fields; count(req[f]) > max_field_length]
	count(long) > 0
	msg := concat("", ["field \"", long[0], "\" is longer than 65536 characters"])
} else := msg if {
	a := action(req)
	not a in actions
	msg := concat("", ["unknown action \"", a, "\""])
} else := "field \"target\" must be an object" if {
	t := req.target
	t != null
	not is_object(t)
} else := "field \"target.type\" must be a string" if {
	is_object(req.target)
	not is_string(object.get(req.target, "type", null))
} else := "field \"target.type\" is longer than 65536 characters" if {
	count(req.target.type) > max_field_length
} else := msg if {
	t := req.target.type
	not t in target_types
	msg := concat("", ["unknown target type \"", t, "\""])
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

# canonical_image(ref) is Docker's canonical form of an image reference
# (distribution's ParseNormalizedNamed, without its validation): "alpine" and
# "docker.io/alpine" are docker.io/library/alpine, "mcp/x" and
# "index.docker.io/mcp/x" are docker.io/mcp/x, and a reference whose first
# component names another registry host stays as it is.
canonical_image(ref) := concat("", ["docker.io/library/", ref]) if {
	not contains(ref, "/")
} else := hub_image(trim_prefix(ref, "docker.io/")) if {
	startswith(ref, "docker.io/")
} else := hub_image(trim_prefix(ref, "index.docker.io/")) if {
	startswith(ref, "index.docker.io/")
} else := ref if {
	registry_host(split(ref, "/")[0])
} else := concat("", ["docker.io/", ref])

# hub_image(path) is the canonical form of a repository path on Docker Hub: a
# path of one component is an official image, under library/.
hub_image(path) := concat("", ["docker.io/library/", path]) if {
	not contains(path, "/")
} else := concat("", ["docker.io/", path])

# registry_host(h) holds when the first component h of a reference is a
# registry host: it has a "." or ":", is exactly "localhost", or has a capital
# letter (repository names are lowercase). Only ASCII capitals count: every
# character of a valid reference is ASCII, and Unicode case tables differ
# between the engines.
registry_host(h) if contains(h, ".")

registry_host(h) if contains(h, ":")

registry_host(h) if h == "localhost"

registry_host(h) if {
	some c in ascii_capitals
	contains(h, c)
}

ascii_capitals := [
	"A", "B", "C", "D", "E", "F", "G", "H", "I", "J", "K", "L", "M",
	"N", "O", "P", "Q", "R", "S", "T", "U", "V", "W", "X", "Y", "Z",
]

# between(x, p, s) is what lies between prefix p and suffix s of x; undefined
# unless x starts with p and, after it, ends with s.
between(x, p, s) := trim_suffix(rest, s) if {
	startswith(x, p)
	rest := trim_prefix(x, p)
	endswith(rest, s)
}

# Rules and their index come from data.json (see src/lower.ts): per rule its
# conditions (rules[i]) and its decision (decisions[i], JSON text), and the
# index lists, per request value, the rules that could match it. Generated
# modules look them up by path (data.<package>.lowered...), so OPA reads only
# the entries a request needs.

# conditions(w) are a rule's conditions. A rule the index finds keeps them as
# JSON text, decoded only when a request names the rule (the text is far
# smaller in memory than the values); a rule every request checks keeps the list.
conditions(w) := json.unmarshal(w) if is_string(w)

conditions(w) := w if is_array(w)

# index_fields are the request fields the index has exact entries for.
index_fields := ["action", "serverType", "transport", "server", "source", "tool"]

# affix_fields are the fields the index has prefix and suffix entries for.
affix_fields := ["server", "source", "tool"]

# field_values(r, f) are the values of field f a rule is matched against.
field_values(r, "source") := r.sources

field_values(r, f) := [r[f]] if f != "source"

# suffix_of(v, n) is the last n code points of v; undefined when v is shorter.
suffix_of(v, n) := substring(v, start, n) if {
	start := count(v) - n
	start >= 0
}

# holds(c, r) holds when condition c of a rule holds for facts r.
holds(["equals", f, v], r) if r[f] == v

holds(["present", f], r) if is_string(r[f])

holds(["contains", f, m], r) if contains(r[f], m)

holds(["matches", f, p], r) if wildcard(r[f], p)

holds(["source_is", s], r) if s in r.sources

holds(["source_matches", p], r) if {
	some s in r.sources
	wildcard(s, p)
}

holds(["tools", literals, _], r) if literals[r.tool]

holds(["tools", _, patterns], r) if {
	some p in patterns
	wildcard(r.tool, p)
}

# wildcard(x, p) holds when x matches the "*" pattern p ({"prefix", "middles", "suffix"}).
wildcard(x, p) if {
	y := between(x, p.prefix, p.suffix)
	in_order(y, p.middles)
}

# in_order(y, ms) holds when the pieces ms occur in y in order, without
# overlapping. Each piece is found leftmost after the previous one, which is
# enough for "*" patterns and costs one search per piece: linear in y for a
# given pattern, with no allocation per occurrence. Rego has no loops, so the
# search is unrolled: up to 8, 64 or 512 pieces (validation allows no more).
in_order(_, ms) if count(ms) == 0

in_order(y, ms) if {
	count(ms) == 1
	contains(y, ms[0])
}

in_order(y, ms) if {
	count(ms) > 1
	count(ms) <= 8
	seek_8(y, 0, ms, 0)
}

in_order(y, ms) if {
	count(ms) > 8
	count(ms) <= 64
	seek_64(y, 0, ms, 0)
}

in_order(y, ms) if {
	count(ms) > 64
	p1 := seek_64(y, 0, ms, 0)
	p2 := seek_64(y, p1, ms, 64)
	p3 := seek_64(y, p2, ms, 128)
	p4 := seek_64(y, p3, ms, 192)
	p5 := seek_64(y, p4, ms, 256)
	p6 := seek_64(y, p5, ms, 320)
	p7 := seek_64(y, p6, ms, 384)
	seek_64(y, p7, ms, 448)
}

# seek_64(y, pos, ms, k) is where the search stands after pieces k to k+63.
seek_64(y, pos, ms, k) := p8 if {
	p1 := seek_8(y, pos, ms, k)
	p2 := seek_8(y, p1, ms, k + 8)
	p3 := seek_8(y, p2, ms, k + 16)
	p4 := seek_8(y, p3, ms, k + 24)
	p5 := seek_8(y, p4, ms, k + 32)
	p6 := seek_8(y, p5, ms, k + 40)
	p7 := seek_8(y, p6, ms, k + 48)
	p8 := seek_8(y, p7, ms, k + 56)
}

# seek_8(y, pos, ms, k) is where the search stands after pieces k to k+7.
seek_8(y, pos, ms, k) := p8 if {
	p1 := seek(y, pos, ms, k)
	p2 := seek(y, p1, ms, k + 1)
	p3 := seek(y, p2, ms, k + 2)
	p4 := seek(y, p3, ms, k + 3)
	p5 := seek(y, p4, ms, k + 4)
	p6 := seek(y, p5, ms, k + 5)
	p7 := seek(y, p6, ms, k + 6)
	p8 := seek(y, p7, ms, k + 7)
}

# seek(y, pos, ms, k) is the position just after piece k found at or after
# pos; pos itself when there is no piece k; undefined when it is not found.
seek(y, pos, ms, k) := pos if {
	k >= count(ms)
} else := (pos + i) + count(ms[k]) if {
	i := indexof(substring(y, pos, -1), ms[k])
	i >= 0
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
