# Tests of the version 2 helpers in v2.rego: request checking, facts, path
# cleaning, the pointer walk and the conditions.
package mcp_policy.v2_test

import data.mcp_policy.v2

# ---------------------------------------------------------------------------
# request_error

test_request_error_undefined_for_full_request if {
	not v2.request_error({
		"action": "resource",
		"resource": "file:///srv/docs/a.md",
		"principal": {"sub": "ada", "groups": ["platform"], "claims": {"org": "acme", "teams": ["a", "b"]}, "email": 5},
		"arguments": {"path": "/srv"},
		"annotations": {"readOnlyHint": true, "title": 7},
	})
}

test_request_error_null_members_are_absent if {
	not v2.request_error({"principal": null, "arguments": null, "annotations": null})
}

test_request_error_texts_in_order if {
	long := concat("", ["a" | some _ in numbers.range(1, 65537)])
	cases := [
		[[], "request must be a JSON object"],
		[{"resource": 1}, "field \"resource\" must be a string"],
		[{"tool": 1, "resource": 1}, "field \"tool\" must be a string"],
		[{"resource": long}, "field \"resource\" is longer than 65536 characters"],
		[{"action": "Resource"}, "unknown action \"Resource\""],
		[{"target": 1}, "field \"target\" must be an object"],
		[{"target": {"type": "prompt"}}, "unknown target type \"prompt\""],
		[{"principal": "ada", "arguments": 1}, "field \"principal\" must be an object"],
		[{"principal": {"sub": null}}, "field \"principal.sub\" must be a string"],
		[{"principal": {"sub": long, "groups": 1}}, "field \"principal.sub\" is longer than 65536 characters"],
		[{"principal": {"groups": "a"}}, "field \"principal.groups\" must be an array of strings"],
		[{"principal": {"groups": ["a", 1]}}, "field \"principal.groups\" must be an array of strings"],
		[{"principal": {"groups": ["a" | some _ in numbers.range(1, 4097)]}}, "field \"principal.groups\" has more than 4096 entries"],
		[{"principal": {"groups": ["a", long], "claims": 1}}, "field \"principal.groups\" has an entry longer than 65536 characters"],
		[{"principal": {"claims": []}}, "field \"principal.claims\" must be an object"],
		[{"principal": {"claims": {"a": 1}}}, "field \"principal.claims\" must map each claim to a string or an array of strings"],
		[{"principal": {"claims": {"a": ["x", null]}}}, "field \"principal.claims\" must map each claim to a string or an array of strings"],
		[{"principal": {"claims": {"a": ["x" | some _ in numbers.range(1, 257)]}}}, "field \"principal.claims\" has a claim with more than 256 values"],
		[{"principal": {"claims": {"a": "x", "b": ["y", long]}}}, "field \"principal.claims\" has a value longer than 65536 characters"],
		[{"principal": {"claims": {"a": long}}}, "field \"principal.claims\" has a value longer than 65536 characters"],
		[{"arguments": [], "annotations": 1}, "field \"arguments\" must be an object"],
		[{"annotations": []}, "field \"annotations\" must be an object"],
		[{"annotations": {"openWorldHint": 1, "readOnlyHint": "true"}}, "field \"annotations.readOnlyHint\" must be a boolean"],
		[{"annotations": {"destructiveHint": null}}, "field \"annotations.destructiveHint\" must be a boolean"],
	]
	every c in cases {
		v2.request_error(c[0]) == c[1]
	}
}

test_request_error_claim_count if {
	claims := {sprintf_free(i): "x" | some i in numbers.range(1, 65)}
	v2.request_error({"principal": {"claims": claims}}) == "field \"principal.claims\" has more than 64 claims"
}

# sprintf_free(i) is a distinct key per number without sprintf (not a wasm builtin).
sprintf_free(i) := concat("", ["k", format_int(i, 10)])

# ---------------------------------------------------------------------------
# facts

test_facts_drop_empty_strings if {
	r := v2.facts({"resource": "", "principal": {"sub": "", "groups": ["", "a"]}})
	v2.field_values(r, "resource") == []
	v2.field_values(r, "sub") == []
	v2.field_values(r, "groups") == ["a"]
	v2.holds(["claims", []], r)
}

test_facts_without_principal_have_no_claims if {
	r := v2.facts({})
	v2.field_values(r, "groups") == []
	not v2.holds(["claims", []], r)
	v2.found(r, []) == []
	v2.found(v2.facts({"arguments": null}), []) == []
}

effective(annotations) := {h: v2.effective_hint(v2.annotations({"annotations": annotations}), h) | some h in v2.annotation_hints}

test_effective_annotations if {
	effective(null) == {"readOnlyHint": false, "destructiveHint": true, "idempotentHint": false, "openWorldHint": true}
	effective({"readOnlyHint": true}).destructiveHint == false
	effective({"readOnlyHint": true, "destructiveHint": true}).destructiveHint == true
	effective({"readOnlyHint": false}).destructiveHint == true
	effective({"openWorldHint": false}).openWorldHint == false
	v2.holds(["annotation", "destructiveHint", false], v2.facts({"annotations": {"readOnlyHint": true}}))
	not v2.holds(["annotation", "destructiveHint", false], v2.facts({}))
}

# ---------------------------------------------------------------------------
# clean_path

test_clean_path_examples if {
	cases := [
		["/srv/projects/../../etc/passwd", "/etc/passwd"],
		["//a/./b/", "/a/b"],
		["a/../../b", "../b"],
		["", "."],
		["/..", "/"],
		["..", ".."],
		["../..", "../.."],
		["./", "."],
		["a/b/..", "a"],
		["a/b/../..", "."],
		["/a/b/c/../../d", "/a/d"],
		["../a/../b", "../b"],
		["/srv/projects/a.md", "/srv/projects/a.md"],
		["/", "/"],
		["a/b/", "a/b"],
		["./a", "a"],
		["a/.", "a"],
		["/./", "/"],
		["...", "..."],
		["/a/.b/..c", "/a/.b/..c"],
	]
	every c in cases {
		v2.clean_path(c[0]) == c[1]
	}
}

test_clean_path_long_paths if {
	# 100 names then 99 ".."s: every chunk of the unrolled read is crossed.
	names := [concat("", ["n", format_int(i, 10)]) | some i in numbers.range(1, 100)]
	ups := [".." | some _ in numbers.range(1, 99)]
	v2.clean_path(concat("/", array.concat(names, ups))) == "n1"
	v2.clean_path(concat("/", array.concat(array.concat(names, ups), [".."]))) == "."
	v2.clean_path(concat("/", array.concat(array.concat(names, ups), ["..", ".."]))) == ".."
}

test_clean_path_part_limit if {
	v2.clean_path(concat("/", ["a" | some _ in numbers.range(1, 512)])) == concat("/", ["a" | some _ in numbers.range(1, 512)])
	not v2.clean_path(concat("/", ["a" | some _ in numbers.range(1, 513)]))
}

# ---------------------------------------------------------------------------
# the pointer walk

step(s) := {"key": s, "index": -1, "all": false}

test_found_members_and_elements if {
	args := {"a": [{"b": 1}, {"b": 2}, {"c": 3}], "0": "zero", "*": "star"}
	v2.found(args_facts(args), [step("a"), {"key": "1", "index": 1, "all": false}, step("b")]) == [2]
	v2.found(args_facts(args), [step("a"), {"key": "*", "index": -1, "all": true}, step("b")]) == [1, 2]
	v2.found(args_facts(args), [{"key": "0", "index": 0, "all": false}]) == ["zero"]

	# Member values come in OPA's key order; only "some value" is ever asked of them.
	sort(v2.found(args_facts(args), [{"key": "*", "index": -1, "all": true}])) == sort(["star", "zero", [{"b": 1}, {"b": 2}, {"c": 3}]])
	v2.found(args_facts(args), [step("a"), {"key": "3", "index": 3, "all": false}]) == []
	v2.found(args_facts(args), [step("a"), step("01")]) == []
	v2.found(args_facts({"x": null}), [step("x")]) == [null]
	v2.found({}, []) == []
	v2.found(args_facts({}), []) == [{}]
}

test_found_32_segments if {
	deep := {"k": {"k": {"k": {"k": {"k": {"k": {"k": {"k": {"k": {"k": {"k": {"k": {"k": {"k": {"k": {"k": {"k": {"k": {"k": {"k": {"k": {"k": {"k": {"k": {"k": {"k": {"k": {"k": {"k": {"k": {"k": {"k": "end"}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}
	v2.found(args_facts(deep), [step("k") | some _ in numbers.range(1, 32)]) == ["end"]
}

# ---------------------------------------------------------------------------
# conditions

# args_facts(args) are the facts of a request with these arguments.
args_facts(args) := v2.facts({"arguments": args})

test_argument_condition_semantics if {
	r := args_facts({"xs": ["a", 1]})
	all_xs := [step("xs"), {"key": "*", "index": -1, "all": true}]
	match_a := {"steps": all_xs, "test": "match", "literals": {"a": true}, "patterns": [], "normalize": false, "not": false}
	v2.holds(["argument", match_a], r)
	not v2.holds(["argument", object.union(match_a, {"not": true})], r)

	# Nothing found: fails, `not` or not.
	missing := object.union(match_a, {"steps": [step("nope")]})
	not v2.holds(["argument", missing], r)
	not v2.holds(["argument", object.union(missing, {"not": true})], r)

	# The wrong type fails the test, so with `not` the condition holds.
	num := {"steps": [step("xs"), {"key": "1", "index": 1, "all": false}], "test": "match", "literals": {}, "patterns": [{"prefix": "", "middles": [], "suffix": ""}], "normalize": false, "not": true}
	v2.holds(["argument", num], r)

	v2.holds(["argument", {"steps": [step("nope")], "test": "present", "present": false}], r)
	not v2.holds(["argument", {"steps": [step("nope")], "test": "present", "present": true}], r)
	not v2.holds(["argument", {"steps": [], "test": "present", "present": true}], {})
}

in_test(s, vs) := {"steps": [step(s)], "test": "in", "values": vs, "not": false}

test_scalar_tests if {
	r := args_facts({"n": 1, "s": "1", "t": true, "z": null})
	v2.holds(["argument", in_test("n", [1])], r)
	not v2.holds(["argument", in_test("s", [1])], r)
	not v2.holds(["argument", in_test("n", ["1"])], r)
	v2.holds(["argument", in_test("t", [false, true])], r)
	v2.holds(["argument", in_test("z", [null])], r)
	not v2.holds(["argument", in_test("t", [1])], r)
	range := {"steps": [step("n")], "test": "range", "min": 1, "max": null, "not": false}
	v2.holds(["argument", range], r)
	not v2.holds(["argument", object.union(range, {"min": 1.5})], r)
	not v2.holds(["argument", object.union(range, {"steps": [step("s")]})], r)
	v2.holds(["argument", object.union(range, {"min": null, "max": 1})], r)
}

test_claims_and_groups if {
	r := v2.facts({"principal": {"groups": ["dev", "platform"], "claims": {"org": "acme", "teams": ["", "red"], "empty": ""}}})
	v2.holds(["any_of", "groups", {"platform": true}, []], r)
	v2.holds(["any_of", "groups", {}, [{"prefix": "plat", "middles": [], "suffix": ""}]], r)
	not v2.holds(["any_of", "groups", {"ops": true}, []], r)
	v2.holds(["claims", [["org", {"acme": true}, []], ["teams", {}, [{"prefix": "", "middles": [], "suffix": ""}]]]], r)
	not v2.holds(["claims", [["empty", {}, [{"prefix": "", "middles": [], "suffix": ""}]]]], r)
	not v2.holds(["claims", [["missing", {}, [{"prefix": "", "middles": [], "suffix": ""}]]]], r)
	not v2.holds(["claims", []], v2.facts({}))
	v2.holds(["claims", []], v2.facts({"principal": {}}))
}
