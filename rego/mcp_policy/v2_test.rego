# Tests of the version 2 helpers in v2.rego: request checking, facts, path
# cleaning, the pointer walk and the conditions.
package mcp_policy.v2_test

import data.mcp_policy.lib
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
	not v2.holds(["u", {"": true}, [["", [], ""]]], r)
	not v2.holds(["r", {"": true}, [["", [], ""]]], r)
	v2.holds(["g", {}, [["", [], ""]]], r)
	v2.holds(["u", {"ada": true}, []], v2.facts({"principal": {"sub": "ada"}}))
	v2.holds(["r", {}, [["file:", [], ""]]], v2.facts({"resource": "file:///x"}))
	v2.holds(["c", []], r)
}

test_facts_hold_version_1_facts if {
	req := {"action": "", "server": "s", "serverSource": "alpine", "tool": "", "principal": {"sub": "ada"}}
	object.remove(v2.facts(req), ["request"]) == lib.facts(req)
	v2.facts(req).request == req
}

test_facts_without_principal_have_no_claims if {
	r := v2.facts({})
	v2.field_values(r, "groups") == []
	not v2.holds(["c", []], r)
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
	v2.holds(["h", "destructiveHint", false], v2.facts({"annotations": {"readOnlyHint": true}}))
	not v2.holds(["h", "destructiveHint", false], v2.facts({}))
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
		["/srv/projects/app/../app/src/main.ts", "/srv/projects/app/src/main.ts"],
		["/../a", "/a"],
		["../a", "../a"],
		["a/..", "."],
		["/a/..", "/"],
		["/a/./../b/", "/b"],
		["a//b/../c", "a/c"],
		["x/../", "."],
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

test_found_members_and_elements if {
	args := {"a": [{"b": 1}, {"b": 2}, {"c": 3}], "0": "zero", "*": "star"}
	v2.found(args_facts(args), ["a", ["1", 1], "b"]) == [2]
	v2.found(args_facts(args), ["a", "*", "b"]) == [1, 2]
	v2.found(args_facts(args), ["a", "*"]) == [{"b": 1}, {"b": 2}, {"c": 3}]
	v2.found(args_facts({"o": {"k": 1}, "s": "x"}), ["o", "*"]) == [1]
	v2.found(args_facts({"s": "x"}), ["s", "*"]) == []
	v2.found(args_facts({}), ["s", "*"]) == []
	v2.found(args_facts(args), [["0", 0], "*"]) == []
	v2.found(args_facts(args), [["0", 0]]) == ["zero"]
	v2.found(args_facts(args), "0") == ["zero"]
	v2.found(args_facts(args), "*") == ["star"]

	# Member values come in OPA's key order; only "some value" is ever asked of them.
	sort(v2.found(args_facts(args), ["*"])) == sort(["star", "zero", [{"b": 1}, {"b": 2}, {"c": 3}]])
	v2.found(args_facts(args), ["a", ["3", 3]]) == []
	v2.found(args_facts(args), ["a", "01"]) == []
	v2.found(args_facts({"x": null}), "x") == [null]
	v2.found(args_facts({"x": null}), ["x"]) == [null]
	v2.found({}, []) == []
	v2.found({}, "x") == []
	v2.found(args_facts({}), []) == [{}]
}

test_found_32_segments if {
	deep := {"k": {"k": {"k": {"k": {"k": {"k": {"k": {"k": {"k": {"k": {"k": {"k": {"k": {"k": {"k": {"k": {"k": {"k": {"k": {"k": {"k": {"k": {"k": {"k": {"k": {"k": {"k": {"k": {"k": {"k": {"k": {"k": "end"}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}
	v2.found(args_facts(deep), ["k" | some _ in numbers.range(1, 32)]) == ["end"]
}

# ---------------------------------------------------------------------------
# conditions

# args_facts(args) are the facts of a request with these arguments.
args_facts(args) := v2.facts({"arguments": args})

test_argument_condition_semantics if {
	r := args_facts({"xs": ["a", 1]})
	v2.holds(["m", ["xs", "*"], {"a": true}, [], false], r)
	not v2.holds(["m", ["xs", "*"], {"a": true}, [], true], r)

	# Nothing found: fails, `not` or not.
	not v2.holds(["m", "nope", {"a": true}, [], false], r)
	not v2.holds(["m", "nope", {"a": true}, [], true], r)

	# The wrong type fails the test, so with `not` the condition holds.
	v2.holds(["m", ["xs", ["1", 1]], {}, [["", [], ""]], true], r)
	v2.holds(["mp", ["xs", ["1", 1]], {}, [["", [], ""]], true], r)
	v2.holds(["mp", ["xs", "*"], {"a": true}, [], false], r)
	not v2.holds(["mp", ["xs", "*"], {"a": true}, [], true], r)

	v2.holds(["p", "nope", false], r)
	not v2.holds(["p", "nope", true], r)
	v2.holds(["p", "xs", true], r)
	not v2.holds(["p", "xs", false], r)
	not v2.holds(["p", [], true], {})
}

test_path_match if {
	r := args_facts({"p": "/srv/a/../../etc/passwd", "q": "a/./b/"})
	v2.holds(["mp", "p", {"/etc/passwd": true}, [], false], r)
	not v2.holds(["m", "p", {"/etc/passwd": true}, [], false], r)
	v2.holds(["mp", "q", {}, [["a/", [], ""]], false], r)
	v2.holds(["mp", "q", {"a/b": true}, [], false], r)
}

test_scalar_tests if {
	r := args_facts({"n": 1, "s": "1", "t": true, "z": null})
	v2.holds(["in", "n", [1], false], r)
	not v2.holds(["in", "s", [1], false], r)
	not v2.holds(["in", "n", ["1"], false], r)
	v2.holds(["in", "t", [false, true], false], r)
	v2.holds(["in", "z", [null], false], r)
	not v2.holds(["in", "t", [1], false], r)
	v2.holds(["in", "t", [1], true], r)
	v2.holds(["rg", "n", 1, null, false], r)
	not v2.holds(["rg", "n", 1.5, null, false], r)
	v2.holds(["rg", "n", 1.5, null, true], r)
	not v2.holds(["rg", "s", 1, null, false], r)
	v2.holds(["rg", "s", 1, null, true], r)
	v2.holds(["rg", "n", null, 1, false], r)
}

test_claims_and_groups if {
	r := v2.facts({"principal": {"groups": ["dev", "platform"], "claims": {"org": "acme", "teams": ["", "red"], "empty": ""}}})
	v2.holds(["g", {"platform": true}, []], r)
	v2.holds(["g", {}, [["plat", [], ""]]], r)
	not v2.holds(["g", {"ops": true}, []], r)
	v2.holds(["c", [["org", {"acme": true}, []], ["teams", {}, [["", [], ""]]]]], r)
	not v2.holds(["c", [["empty", {}, [["", [], ""]]]]], r)
	not v2.holds(["c", [["missing", {}, [["", [], ""]]]]], r)
	not v2.holds(["c", []], v2.facts({}))
	v2.holds(["c", []], v2.facts({"principal": {}}))
}

test_source_forms_are_lib_source_forms if {
	refs := [
		"alpine", "mcp/fetch", "Org/x", "Host/mcp/x", "host:1/x", "localhost/x", "LOCALHOST/x",
		"registry.example.com/mcp/x", "docker.io/x", "index.docker.io/library/x", "Émile/x", "émile/x",
		"ÀB/x", "a/b/c", "https://mcp.example.com/sse", "",
	]
	every ref in refs {
		v2.source_forms({"serverSource": ref}) == lib.source_forms({"serverSource": ref})
	}
	hosts := ["Host", "hOST", "É", "é", "x", "localhost", "a.b", "a:1", ""]
	registries := {h | some h in hosts; v2.registry_host(h)}
	registries == {h | some h in hosts; lib.registry_host(h)}
	registries == {"Host", "hOST", "localhost", "a.b", "a:1"}
}

test_fields_and_actions_are_lib_s_and_resource if {
	v2.request_fields == array.concat(lib.request_fields, ["resource"])
	v2.actions == lib.actions | {"resource"}
}
