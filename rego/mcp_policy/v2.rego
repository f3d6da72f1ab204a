# Helpers of version 2 policies: request checking with the principal,
# arguments, resource and annotations, the facts rules match on, and the
# conditions on them. Version 1 conditions are lib.rego's, unchanged.
#
# Like lib.rego, only builtins that behave the same in OPA's interpreter and
# in the WebAssembly target are used, and nothing recurses: walking an
# argument pointer and cleaning a path are unrolled, with bounds validation
# and request checking guarantee (32 pointer segments, 512 path parts).
package mcp_policy.v2

import data.mcp_policy.lib

# Request fields that must be strings when present, in the order errors name
# them: lib.request_fields and "resource". Written out, as is actions (lib.actions
# and "resource"), since a module evaluates a rule's value again on every
# decision (v2_test.rego holds them to lib's).
request_fields := ["action", "server", "serverType", "serverSource", "transport", "tool", "resource"]

actions := {"load", "invoke", "prompt", "resource"}

# The tool annotation hints a rule can constrain, in the order errors name them.
annotation_hints := ["readOnlyHint", "destructiveHint", "idempotentHint", "openWorldHint"]

# MCP's default of each hint a request does not declare.
annotation_defaults := {
	"readOnlyHint": false,
	"destructiveHint": true,
	"idempotentHint": false,
	"openWorldHint": true,
}

max_groups := 4096

max_claims := 64

max_claim_values := 256

# max_path_parts is the most "/"-separated parts a string cleaned as a path may have.
max_path_parts := 512

# request_error(req) explains why a request is malformed; undefined when it is not.
request_error(req) := "request must be a JSON object" if {
	not is_object(req)
} else := msg if {
	wrong := [f | some f in request_fields; v := req[f]; not is_string(v)]
	count(wrong) > 0
	msg := concat("", ["field \"", wrong[0], "\" must be a string"])
} else := msg if {
	long := [f | some f in request_fields; count(req[f]) > lib.max_field_length]
	count(long) > 0
	msg := concat("", ["field \"", long[0], "\" is longer than 65536 characters"])
} else := msg if {
	a := lib.action(req)
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
	count(req.target.type) > lib.max_field_length
} else := msg if {
	t := req.target.type
	not t in lib.target_types
	msg := concat("", ["unknown target type \"", t, "\""])
} else := msg if {
	# One pass over the principal and the rest for a well-formed request;
	# the checks in their order only for one that is not.
	not context_ok(req)
	msg := context_error(req)
}

# context_error(req) explains why a request's principal, arguments or annotations are malformed.
context_error(req) := msg if {
	msg := principal_error(object.get(req, "principal", null))
} else := "field \"arguments\" must be an object" if {
	a := object.get(req, "arguments", null)
	a != null
	not is_object(a)
} else := msg if {
	msg := annotations_error(object.get(req, "annotations", null))
}

# context_ok(req) holds when context_error(req) is undefined.
context_ok(req) if {
	principal_ok(object.get(req, "principal", null))
	object_or_null(object.get(req, "arguments", null))
	annotations_ok(object.get(req, "annotations", null))
}

object_or_null(null)

object_or_null(x) if is_object(x)

principal_ok(null)

principal_ok(p) if {
	is_object(p)
	sub := object.get(p, "sub", "")
	is_string(sub)
	count(sub) <= lib.max_field_length
	groups := object.get(p, "groups", [])
	is_array(groups)
	count(groups) <= max_groups
	every g in groups {
		is_string(g)
		count(g) <= lib.max_field_length
	}
	claims := object.get(p, "claims", {})
	is_object(claims)
	count(claims) <= max_claims
	every v in claims {
		claim_ok(v)
	}
}

claim_ok(v) if {
	is_string(v)
	count(v) <= lib.max_field_length
}

claim_ok(v) if {
	is_array(v)
	count(v) <= max_claim_values
	every s in v {
		is_string(s)
		count(s) <= lib.max_field_length
	}
}

annotations_ok(null)

annotations_ok(a) if {
	is_object(a)
	every h in annotation_hints {
		is_boolean(object.get(a, h, false))
	}
}

# principal_error(p) explains why a request's principal is malformed; undefined when it is not.
principal_error(p) := "field \"principal\" must be an object" if {
	p != null
	not is_object(p)
} else := "field \"principal.sub\" must be a string" if {
	v := p.sub
	not is_string(v)
} else := "field \"principal.sub\" is longer than 65536 characters" if {
	count(p.sub) > lib.max_field_length
} else := "field \"principal.groups\" must be an array of strings" if {
	g := p.groups
	not strings(g)
} else := "field \"principal.groups\" has more than 4096 entries" if {
	count(p.groups) > max_groups
} else := "field \"principal.groups\" has an entry longer than 65536 characters" if {
	some g in p.groups
	count(g) > lib.max_field_length
} else := "field \"principal.claims\" must be an object" if {
	c := p.claims
	not is_object(c)
} else := "field \"principal.claims\" has more than 64 claims" if {
	count(p.claims) > max_claims
} else := "field \"principal.claims\" must map each claim to a string or an array of strings" if {
	some v in p.claims
	not is_string(v)
	not strings(v)
} else := "field \"principal.claims\" has a claim with more than 256 values" if {
	some v in p.claims
	is_array(v)
	count(v) > max_claim_values
} else := "field \"principal.claims\" has a value longer than 65536 characters" if {
	some v in p.claims
	some s in claim_values(v)
	count(s) > lib.max_field_length
}

# strings(x) holds when x is an array of strings.
strings(x) if {
	is_array(x)
	every s in x {
		is_string(s)
	}
}

# annotations_error(a) explains why a request's annotations are malformed; undefined when they are not.
annotations_error(a) := "field \"annotations\" must be an object" if {
	a != null
	not is_object(a)
} else := msg if {
	wrong := [h | some h in annotation_hints; v := a[h]; not is_boolean(v)]
	count(wrong) > 0
	msg := concat("", ["field \"annotations.", wrong[0], "\" must be a boolean"])
}

# claim_values(v) are the values of a claim: the string, or the array's elements.
claim_values(v) := [v] if is_string(v)

claim_values(v) := v if is_array(v)

# facts(req) is what rules match on: version 1's facts (lib.facts, built
# here in one union), and the request itself, from which the version 2
# conditions and the index read only what they ask for (request checking has
# made sure of every type they expect).
facts(req) := object.union(
	{f: v | some f in lib.request_fields; v := req[f]; v != ""},
	{"action": lib.action(req), "sources": source_forms(req), "request": req},
)

# source_forms(req) is lib.source_forms(req), computed with the registry_host below.
source_forms(req) := {s} if {
	s := req.serverSource
	s != ""
	contains(s, "://")
} else := {s, canonical_image(s)} if {
	s := req.serverSource
	s != ""
} else := set()

# canonical_image(ref) is lib.canonical_image(ref), computed with the registry_host below.
canonical_image(ref) := concat("", ["docker.io/library/", ref]) if {
	not contains(ref, "/")
} else := lib.hub_image(trim_prefix(ref, "docker.io/")) if {
	startswith(ref, "docker.io/")
} else := lib.hub_image(trim_prefix(ref, "index.docker.io/")) if {
	startswith(ref, "index.docker.io/")
} else := ref if {
	registry_host(split(ref, "/")[0])
} else := concat("", ["docker.io/", ref])

# registry_host(h) is lib.registry_host(h), decided in one pass: most first
# components are lowercase, and one that lowercasing leaves as it is has no
# ASCII capital, so the 26 letters are looked for only in one it changes
# (whatever the engine's case tables say about other letters, the letters
# looked for are ASCII only, as in lib). About 1.4 us of a version 2 wasm
# decision with an image reference.
registry_host(h) if {
	contains(h, ".")
} else if {
	contains(h, ":")
} else if {
	h == "localhost"
} else if {
	lower(h) != h
	some c in lib.ascii_capitals
	contains(h, c)
}

# effective_hint(a, h) is what the request declares, else MCP's default, except
# that a tool declaring itself read-only and nothing about destructiveness is not destructive.
effective_hint(a, h) := a[h] if {
	is_boolean(a[h])
} else := false if {
	h == "destructiveHint"
	a.readOnlyHint == true
} else := annotation_defaults[h]

# field_values(r, f) are the values of fact f a rule is matched against: the
# non-empty resource, subject and groups, or version 1's fields.
field_values(r, "groups") := [g | some g in r.request.principal.groups; g != ""]

field_values(r, "sub") := [s | s := r.request.principal.sub; s != ""]

field_values(r, "resource") := [s | s := r.request.resource; s != ""]

field_values(r, f) := lib.field_values(r, f) if not v2_fields[f]

v2_fields := {"groups": true, "sub": true, "resource": true}

# holds(c, r) holds when version 2 condition c of a rule holds for facts r
# (src/pipeline/lower.ts writes them; version 1 conditions go to lib.rego).
# Patterns are [prefix, [middle], suffix]; steps are as found reads them.
#
# ["u" | "g" | "r", {literal: true}, [pattern]]: the non-empty subject, some
# non-empty group, or the non-empty resource is a literal or matches a pattern.
holds(["u", literals, patterns], r) if {
	v := r.request.principal.sub
	v != ""
	matches_any(v, literals, patterns)
}

holds(["g", literals, patterns], r) if {
	some v in r.request.principal.groups
	v != ""
	matches_any(v, literals, patterns)
}

holds(["r", literals, patterns], r) if {
	v := r.request.resource
	v != ""
	matches_any(v, literals, patterns)
}

# ["c", [[name, {literal: true}, [pattern]]]]: there is a principal, and
# each listed claim has a non-empty value (or element) that matches.
holds(["c", entries], r) if {
	p := r.request.principal
	is_object(p)
	claims := object.get(p, "claims", {})
	every e in entries {
		some v in claim_values(claims[e[0]])
		v != ""
		matches_any(v, e[1], e[2])
	}
}

# ["h", hint, value]: the request's effective hint is the value.
holds(["h", h, b], r) if effective_hint(annotations(r.request), h) == b

# Argument tests: nothing found at the pointer fails the condition; else
# whether some value found passes the test, negated by `not`. A value of the
# wrong type fails every test. ["m" | "mp", steps, {literal: true},
# [pattern], not] ("mp" cleans the string as a path first),
# ["in", steps, [scalar], not], ["rg", steps, min, max, not].
holds(["m", steps, literals, patterns, negated], r) if {
	vs := found(r, steps)
	count(vs) > 0
	some_match(vs, literals, patterns) != negated
}

holds(["mp", steps, literals, patterns, negated], r) if {
	vs := found(r, steps)
	count(vs) > 0
	some_path_match(vs, literals, patterns) != negated
}

holds(["in", steps, values, negated], r) if {
	vs := found(r, steps)
	count(vs) > 0
	some_in(vs, values) != negated
}

holds(["rg", steps, lo, hi, negated], r) if {
	vs := found(r, steps)
	count(vs) > 0
	some_in_range(vs, lo, hi) != negated
}

# ["p", steps, present]: whether anything is found at the pointer.
holds(["p", steps, true], r) if count(found(r, steps)) > 0

holds(["p", steps, false], r) if count(found(r, steps)) == 0

# annotations(req) are the annotations the request declares; {} when none.
annotations(req) := a if {
	a := req.annotations
	is_object(a)
} else := {}

matches_any(v, literals, _) if literals[v]

matches_any(v, _, patterns) if {
	some p in patterns
	wildcard(v, p)
}

# wildcard(x, p) holds when x matches the "*" pattern p, [prefix, [middle], suffix].
wildcard(x, [prefix, middles, suffix]) if {
	y := lib.between(x, prefix, suffix)
	lib.in_order(y, middles)
}

# some_match(vs, literals, patterns) and its siblings are true when some
# value of vs passes the test, else false (so that `not` can negate them).
some_match(vs, literals, patterns) if {
	some v in vs
	is_string(v)
	matches_any(v, literals, patterns)
} else := false

some_path_match(vs, literals, patterns) if {
	some v in vs
	is_string(v)
	matches_any(clean_path(v), literals, patterns)
} else := false

some_in(vs, values) if {
	some v in vs
	some c in values
	same_scalar(v, c)
} else := false

some_in_range(vs, lo, hi) if {
	some v in vs
	is_number(v)
	at_least(v, lo)
	at_most(v, hi)
} else := false

# same_scalar(v, c) holds when v is the scalar c: the same JSON type and equal.
same_scalar(v, c) if {
	type_name(v) == type_name(c)
	v == c
}

at_least(_, null) := true

at_least(v, m) if {
	m != null
	v >= m
}

at_most(_, null) := true

at_most(v, m) if {
	m != null
	v <= m
}

# found(r, steps) are the values at a pointer's steps, from the request's
# arguments; none when the request has no arguments. steps is the member name
# of a one-segment pointer, else a list of steps: "*" (every element or member
# value), a member name, or [name, index] for a segment that is an array index.
found(r, key) := [x | x := r.request.arguments[key]] if {
	is_string(key)
} else := [x | v := r.request.arguments[key[0]]; some x in children(v)] if {
	# Every element (or member value) of one member, the next commonest pointer.
	count(key) == 2
	is_string(key[0])
	key[0] != "*"
	key[1] == "*"
} else := walk_8([a | a := r.request.arguments; is_object(a)], steps, 0) if {
	steps := key
	count(steps) <= 8
} else := vs if {
	steps := key
	v8 := walk_8([a | a := r.request.arguments; is_object(a)], steps, 0)
	v16 := walk_8(v8, steps, 8)
	v24 := walk_8(v16, steps, 16)
	vs := walk_8(v24, steps, 24)
}

# walk_8(vs, steps, k) are the values steps k to k+7 lead to from values vs,
# taking only the steps there are (a pointer is seldom deeper than a few).
walk_8(vs, steps, k) := vs if {
	k >= count(steps)
} else := walk_1(vs, steps[k]) if {
	k + 1 == count(steps)
} else := walk_1(walk_1(vs, steps[k]), steps[k + 1]) if {
	k + 2 == count(steps)
} else := walk_1(walk_1(walk_1(vs, steps[k]), steps[k + 1]), steps[k + 2]) if {
	k + 3 == count(steps)
} else := v8 if {
	v1 := walk_1(vs, steps[k])
	v2 := walk_1(v1, steps[k + 1])
	v3 := walk_1(v2, steps[k + 2])
	v4 := walk_1(v3, steps[k + 3])
	v5 := walk_step(v4, steps, k + 4)
	v6 := walk_step(v5, steps, k + 5)
	v7 := walk_step(v6, steps, k + 6)
	v8 := walk_step(v7, steps, k + 7)
}

# walk_step(vs, steps, k) is walk_1 for step k; vs when there is no step k.
walk_step(vs, steps, k) := vs if {
	k >= count(steps)
} else := walk_1(vs, steps[k])

# walk_1(vs, s) are the values step s leads to from values vs.
walk_1(vs, "*") := [x | some v in vs; some x in children(v)]

walk_1(vs, s) := [x | some v in vs; x := child(v, s)] if s != "*"

children(v) := v if is_array(v)

children(v) := [x | some x in v] if is_object(v)

children(v) := [] if {
	not is_array(v)
	not is_object(v)
}

child(v, s) := v[s] if {
	is_string(s)
	is_object(v)
}

child(v, [key, _]) := v[key] if is_object(v)

child(v, [_, index]) := v[index] if is_array(v)

# clean_path(s) is s cleaned as a POSIX path, as Go's path.Clean: empty and
# "." parts dropped, ".." taking away the part before it (never above "/" for
# a rooted path, kept at the front of a relative one); "." when nothing is
# left. Undefined for more than max_path_parts parts.
#
# A ".." takes away the nearest name before it that no other ".." took, so
# read from the right with a count of pending ".."s: a name is kept exactly
# when the count is 0 on reaching it, and what is left pending at the start
# is how many ".."s a relative path keeps. The read is unrolled like lib's seek.
clean_path(s) := cleaned if {
	parts := split(s, "/")
	count(parts) <= max_path_parts
	dotdots := [i | some i, p in parts; p == ".."]
	cleaned := clean_parts(s, parts, dotdots)
}

# clean_parts(s, parts, dotdots) is clean_path(s) for the parts of s, where
# dotdots are the positions of its ".." parts. Most paths have no "." or ".."
# part and no empty one: they are clean as they are; without "..", cleaning
# only drops parts; with one, it takes away the name before it; the count of
# pending ".."s is needed only when there are more.
clean_parts(s, parts, []) := s if {
	s != ""
	not contains(s, "//")
	not "." in parts
	trailing_ok(s)
} else := joined(startswith(s, "/"), [], kept) if {
	kept := [p | some p in parts; p != ""; p != "."]
}

clean_parts(s, parts, dotdots) := cleaned if {
	count(dotdots) == 1
	tokens := [p | some p in parts; p != ""; p != "."]
	i := count([p | some p in array.slice(parts, 0, dotdots[0]); p != ""; p != "."])
	cleaned := one_up(startswith(s, "/"), tokens, i)
}

clean_parts(s, parts, dotdots) := cleaned if {
	# A rooted path keeps no "..": the pending count at the start is not needed.
	count(dotdots) > 1
	startswith(s, "/")
	tokens := array.reverse([p | some p in parts; p != ""; p != "."])
	pending := pending_counts(tokens)
	kept := array.reverse([p | some k, p in tokens; p != ".."; pending[k] == 0])
	cleaned := joined(true, [], kept)
}

clean_parts(s, parts, dotdots) := cleaned if {
	count(dotdots) > 1
	not startswith(s, "/")
	tokens := array.reverse([p | some p in parts; p != ""; p != "."])
	pending := pending_counts(tokens)
	kept := array.reverse([p | some k, p in tokens; p != ".."; pending[k] == 0])
	cleaned := joined(false, ups(tokens, pending), kept)
}

# one_up(rooted, tokens, i) is the path of tokens (no "" or "." among them)
# whose only ".." is token i: at the front, a rooted path drops it and a
# relative one keeps it; else it takes away the name before it.
one_up(true, tokens, 0) := joined(true, [], array.slice(tokens, 1, count(tokens)))

one_up(false, tokens, 0) := joined(false, [], tokens)

one_up(rooted, tokens, i) := joined(rooted, [], kept) if {
	i > 0
	kept := array.concat(array.slice(tokens, 0, i - 1), array.slice(tokens, i + 1, count(tokens)))
}

# trailing_ok(s) holds unless s ends with a "/" that cleaning drops.
trailing_ok(s) if not endswith(s, "/")

trailing_ok("/")

joined(true, _, kept) := concat("", ["/", concat("/", kept)])

joined(false, ups, kept) := text if {
	t := concat("/", array.concat(ups, kept))
	text := dot_if_empty(t)
}

dot_if_empty("") := "."

dot_if_empty(t) := t if t != ""

# ups(tokens, pending) are the ".."s a relative path keeps at its front.
ups(tokens, _) := [] if count(tokens) == 0

ups(tokens, pending) := [".." | some _ in numbers.range(1, n)] if {
	count(tokens) > 0
	last := count(tokens) - 1
	n := after(tokens, last, pending[last])
	n > 0
}

ups(tokens, pending) := [] if {
	count(tokens) > 0
	last := count(tokens) - 1
	after(tokens, last, pending[last]) == 0
}

# pending_counts(ts) is, for each token, the count of pending ".."s on reaching it from the right (ts is reversed).
pending_counts(ts) := [] if count(ts) == 0

pending_counts(ts) := counts_8(ts, 0, 0) if {
	count(ts) > 0
	count(ts) <= 8
}

pending_counts(ts) := counts_64(ts, 0, 0) if {
	count(ts) > 8
	count(ts) <= 64
}

pending_counts(ts) := array.flatten([c1, c2, c3, c4, c5, c6, c7, c8]) if {
	count(ts) > 64
	c1 := counts_64(ts, 0, 0)
	c2 := counts_64(ts, 64, next(ts, 63, c1))
	c3 := counts_64(ts, 128, next(ts, 127, c2))
	c4 := counts_64(ts, 192, next(ts, 191, c3))
	c5 := counts_64(ts, 256, next(ts, 255, c4))
	c6 := counts_64(ts, 320, next(ts, 319, c5))
	c7 := counts_64(ts, 384, next(ts, 383, c6))
	c8 := counts_64(ts, 448, next(ts, 447, c7))
}

# next(ts, k, cs) is the count after token k, where cs ends with the count on reaching it.
next(ts, k, cs) := after(ts, k, cs[count(cs) - 1])

# counts_64(ts, k, c) are the counts on reaching tokens k to k+63, starting with c.
counts_64(ts, k, c) := array.flatten([c1, c2, c3, c4, c5, c6, c7, c8]) if {
	c1 := counts_8(ts, k, c)
	c2 := counts_8(ts, k + 8, next(ts, k + 7, c1))
	c3 := counts_8(ts, k + 16, next(ts, k + 15, c2))
	c4 := counts_8(ts, k + 24, next(ts, k + 23, c3))
	c5 := counts_8(ts, k + 32, next(ts, k + 31, c4))
	c6 := counts_8(ts, k + 40, next(ts, k + 39, c5))
	c7 := counts_8(ts, k + 48, next(ts, k + 47, c6))
	c8 := counts_8(ts, k + 56, next(ts, k + 55, c7))
}

# counts_8(ts, k, c) are the counts on reaching tokens k to k+7, starting with c.
counts_8(ts, k, c) := [c, c1, c2, c3, c4, c5, c6, c7] if {
	c1 := after(ts, k, c)
	c2 := after(ts, k + 1, c1)
	c3 := after(ts, k + 2, c2)
	c4 := after(ts, k + 3, c3)
	c5 := after(ts, k + 4, c4)
	c6 := after(ts, k + 5, c5)
	c7 := after(ts, k + 6, c6)
}

# after(ts, k, c) is the count after token k, given count c on reaching it:
# a ".." adds one, a name takes one away if any is pending.
after(ts, k, c) := c if {
	k >= count(ts)
} else := c + 1 if {
	ts[k] == ".."
} else := c - 1 if {
	c > 0
} else := c
