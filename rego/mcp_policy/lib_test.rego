# Tests of the static helpers in lib.rego: request checking, request facts,
# image reference canonicalisation and the string helpers that "*" patterns
# are lowered to.
package mcp_policy.lib_test

import data.mcp_policy.lib

# Values of every JSON type except string.
non_strings := [null, 0, 1, -1, 1.5, true, false, [], ["load"], {}, {"action": "load"}]

# The error text request_error gives for a known field of the wrong type.
type_error(f) := concat("", ["field \"", f, "\" must be a string"])

# ---------------------------------------------------------------------------
# constants

test_request_fields_in_error_order if {
	lib.request_fields == ["action", "server", "serverType", "serverSource", "transport", "tool"]
}

test_actions if {
	lib.actions == {"load", "invoke", "prompt"}
}

# ---------------------------------------------------------------------------
# request_error: well-formed requests

test_request_error_undefined_for_empty_object if {
	not lib.request_error({})
}

test_request_error_undefined_for_full_request if {
	not lib.request_error({
		"action": "invoke",
		"server": "github-official",
		"serverType": "registry",
		"serverSource": "mcp/github@sha256:0123",
		"transport": "stdio",
		"tool": "create_issue",
	})
}

test_request_error_undefined_for_each_action if {
	every a in ["load", "invoke", "prompt"] {
		not lib.request_error({"action": a})
	}
}

test_request_error_undefined_for_empty_action if {
	not lib.request_error({"action": ""})
}

test_request_error_undefined_for_empty_strings if {
	not lib.request_error({
		"action": "",
		"server": "",
		"serverType": "",
		"serverSource": "",
		"transport": "",
		"tool": "",
	})
}

test_request_error_ignores_extra_fields_of_any_type if {
	not lib.request_error({
		"catalog": null,
		"workingSet": 1,
		"target": {"type": "tool", "name": "x"},
		"tools": ["x"],
		"Action": 5,
		"allowed": true,
	})
}

test_request_error_does_not_judge_field_values if {
	# serverType and transport are not checked against their known values:
	# a rule naming them simply does not match.
	not lib.request_error({"serverType": "other", "transport": "carrier pigeon"})
}

# ---------------------------------------------------------------------------
# request_error: requests that are not objects

test_request_error_null_request if {
	lib.request_error(null) == "request must be a JSON object"
}

test_request_error_number_request if {
	every n in [0, 1, -1, 1.5] {
		lib.request_error(n) == "request must be a JSON object"
	}
}

test_request_error_bool_request if {
	lib.request_error(true) == "request must be a JSON object"
	lib.request_error(false) == "request must be a JSON object"
}

test_request_error_string_request if {
	lib.request_error("") == "request must be a JSON object"
	lib.request_error("{\"action\": \"load\"}") == "request must be a JSON object"
}

test_request_error_array_request if {
	lib.request_error([]) == "request must be a JSON object"
	lib.request_error([{"action": "load"}]) == "request must be a JSON object"
}

# ---------------------------------------------------------------------------
# request_error: known fields of the wrong type

test_request_error_null_field if {
	lib.request_error({"server": null}) == "field \"server\" must be a string"
}

test_request_error_number_field if {
	lib.request_error({"tool": 1}) == "field \"tool\" must be a string"
	lib.request_error({"tool": 0}) == "field \"tool\" must be a string"
	lib.request_error({"tool": 1.5}) == "field \"tool\" must be a string"
}

test_request_error_bool_field if {
	lib.request_error({"transport": true}) == "field \"transport\" must be a string"
	lib.request_error({"transport": false}) == "field \"transport\" must be a string"
}

test_request_error_array_field if {
	lib.request_error({"serverSource": []}) == "field \"serverSource\" must be a string"
	lib.request_error({"serverSource": ["ghcr.io/o/x"]}) == "field \"serverSource\" must be a string"
}

test_request_error_object_field if {
	lib.request_error({"serverType": {}}) == "field \"serverType\" must be a string"
	lib.request_error({"serverType": {"name": "registry"}}) == "field \"serverType\" must be a string"
}

test_request_error_non_string_action if {
	lib.request_error({"action": null}) == "field \"action\" must be a string"
	lib.request_error({"action": 1}) == "field \"action\" must be a string"
	lib.request_error({"action": ["load"]}) == "field \"action\" must be a string"
}

test_request_error_every_field_every_wrong_type if {
	every f in lib.request_fields {
		every v in non_strings {
			lib.request_error({f: v}) == type_error(f)
		}
	}
}

test_request_error_wrong_type_among_valid_fields if {
	every f in lib.request_fields {
		every v in non_strings {
			lib.request_error(object.union(
				{"action": "load", "server": "s", "serverType": "image", "serverSource": "alpine", "transport": "stdio", "tool": "t"},
				{f: v},
			)) == type_error(f)
		}
	}
}

test_request_error_names_first_wrong_field_in_order if {
	lib.request_error({"tool": 1, "action": 1}) == "field \"action\" must be a string"
	lib.request_error({"tool": 1, "transport": null, "server": false}) == "field \"server\" must be a string"
	lib.request_error({"tool": [], "transport": {}}) == "field \"transport\" must be a string"
	lib.request_error({"tool": null, "serverSource": 2, "serverType": true}) == "field \"serverType\" must be a string"
}

test_request_error_type_error_before_unknown_action if {
	lib.request_error({"action": "delete", "tool": 1}) == "field \"tool\" must be a string"
}

# ---------------------------------------------------------------------------
# request_error: unknown actions

test_request_error_unknown_action if {
	lib.request_error({"action": "delete"}) == "unknown action \"delete\""
}

test_request_error_action_is_case_sensitive if {
	lib.request_error({"action": "LOAD"}) == "unknown action \"LOAD\""
	lib.request_error({"action": "Invoke"}) == "unknown action \"Invoke\""
}

test_request_error_action_is_not_trimmed if {
	lib.request_error({"action": " load"}) == "unknown action \" load\""
	lib.request_error({"action": "load\n"}) == "unknown action \"load\n\""
	lib.request_error({"action": " "}) == "unknown action \" \""
}

test_request_error_unknown_action_quoted_raw if {
	# The action is put between quotes as it is, not JSON-escaped.
	lib.request_error({"action": "a\"b"}) == "unknown action \"a\"b\""
	lib.request_error({"action": "a\\b"}) == "unknown action \"a\\b\""
	lib.request_error({"action": "chargé 東京 😀"}) == "unknown action \"chargé 東京 😀\""
}

test_request_error_unknown_action_with_valid_fields if {
	lib.request_error({"action": "list", "server": "s", "tool": "t"}) == "unknown action \"list\""
}

# ---------------------------------------------------------------------------
# request_error: targets

test_request_error_undefined_for_each_target_type if {
	every t in ["catalog", "workingSet", "server", "tool"] {
		not lib.request_error({"action": "load", "target": {"type": t, "name": "x"}})
	}
	not lib.request_error({"target": null})
}

test_request_error_unknown_target_type if {
	lib.request_error({"action": "prompt", "tool": "p", "target": {"type": "prompt"}}) == "unknown target type \"prompt\""
	lib.request_error({"target": {"type": "resource", "name": "file:///x"}}) == "unknown target type \"resource\""
	lib.request_error({"target": {"type": "Tool"}}) == "unknown target type \"Tool\""
}

test_request_error_target_shape if {
	lib.request_error({"target": "tool"}) == "field \"target\" must be an object"
	lib.request_error({"target": ["tool"]}) == "field \"target\" must be an object"
	lib.request_error({"target": {}}) == "field \"target.type\" must be a string"
	lib.request_error({"target": {"type": 1}}) == "field \"target.type\" must be a string"
	lib.request_error({"target": {"type": concat("", ["x" | some _ in numbers.range(0, 65536)])}}) == "field \"target.type\" is longer than 65536 characters"
}

test_request_error_unknown_action_before_target if {
	lib.request_error({"action": "list", "target": {"type": "prompt"}}) == "unknown action \"list\""
}

# ---------------------------------------------------------------------------
# action

test_action_missing_is_invoke if {
	lib.action({}) == "invoke"
	lib.action({"server": "s", "tool": "t"}) == "invoke"
}

test_action_empty_is_invoke if {
	lib.action({"action": ""}) == "invoke"
}

test_action_given if {
	lib.action({"action": "load"}) == "load"
	lib.action({"action": "invoke"}) == "invoke"
	lib.action({"action": "prompt"}) == "prompt"
}

test_action_unknown_is_returned_as_is if {
	# request_error, not action, rejects it.
	lib.action({"action": "delete"}) == "delete"
}

# ---------------------------------------------------------------------------
# facts

test_facts_empty_request if {
	lib.facts({}) == {"action": "invoke", "sources": set()}
}

test_facts_full_request if {
	lib.facts({
		"action": "load",
		"server": "duckduckgo",
		"serverType": "registry",
		"serverSource": "mcp/duckduckgo@sha256:abc",
		"transport": "stdio",
		"tool": "search",
	}) == {
		"action": "load",
		"server": "duckduckgo",
		"serverType": "registry",
		"serverSource": "mcp/duckduckgo@sha256:abc",
		"transport": "stdio",
		"tool": "search",
		"sources": {"mcp/duckduckgo@sha256:abc", "docker.io/mcp/duckduckgo@sha256:abc"},
	}
}

test_facts_defaults_action if {
	lib.facts({"tool": "t"}) == {"action": "invoke", "tool": "t", "sources": set()}
	lib.facts({"action": "", "tool": "t"}) == {"action": "invoke", "tool": "t", "sources": set()}
}

test_facts_drop_empty_strings if {
	lib.facts({
		"action": "",
		"server": "",
		"serverType": "",
		"serverSource": "",
		"transport": "",
		"tool": "",
	}) == {"action": "invoke", "sources": set()}
}

test_facts_drop_empty_strings_keep_others if {
	lib.facts({"action": "prompt", "server": "", "tool": "greeting", "transport": ""}) == {
		"action": "prompt",
		"tool": "greeting",
		"sources": set(),
	}
}

test_facts_drop_extra_fields if {
	lib.facts({
		"action": "invoke",
		"tool": "t",
		"catalog": "docker-mcp",
		"workingSet": "default",
		"target": {"type": "tool", "name": "t"},
		"sources": ["evil"],
		"tools": ["x"],
	}) == {"action": "invoke", "tool": "t", "sources": set()}
}

test_facts_keep_whitespace_and_unicode if {
	lib.facts({"server": " ", "tool": "écrire\n日本😀"}) == {
		"action": "invoke",
		"server": " ",
		"tool": "écrire\n日本😀",
		"sources": set(),
	}
}

test_facts_remote_source if {
	lib.facts({"serverType": "remote", "serverSource": "https://mcp.example.com/sse", "transport": "sse"}) == {
		"action": "invoke",
		"serverType": "remote",
		"serverSource": "https://mcp.example.com/sse",
		"transport": "sse",
		"sources": {"https://mcp.example.com/sse"},
	}
}

# ---------------------------------------------------------------------------
# canonical_image

test_canonical_image_official_image if {
	lib.canonical_image("alpine") == "docker.io/library/alpine"
}

test_canonical_image_official_image_with_tag_and_digest if {
	lib.canonical_image("alpine:3.20") == "docker.io/library/alpine:3.20"
	lib.canonical_image("alpine@sha256:abc") == "docker.io/library/alpine@sha256:abc"
}

test_canonical_image_bare_localhost_is_an_image_name if {
	lib.canonical_image("localhost") == "docker.io/library/localhost"
}

test_canonical_image_hub_namespace if {
	lib.canonical_image("mcp/x") == "docker.io/mcp/x"
	lib.canonical_image("mcp/duckduckgo@sha256:abc") == "docker.io/mcp/duckduckgo@sha256:abc"
	lib.canonical_image("a/b/c:1") == "docker.io/a/b/c:1"
}

test_canonical_image_registry_with_dot if {
	lib.canonical_image("ghcr.io/o/x") == "ghcr.io/o/x"
	lib.canonical_image("docker.io/mcp/x") == "docker.io/mcp/x"
	lib.canonical_image("internal-registry.company.com/mcp/x:1") == "internal-registry.company.com/mcp/x:1"
}

test_canonical_image_localhost if {
	lib.canonical_image("localhost/x") == "localhost/x"
}

test_canonical_image_registry_with_port if {
	lib.canonical_image("localhost:5000/x") == "localhost:5000/x"
	lib.canonical_image("host:1/x") == "host:1/x"
}

test_canonical_image_only_first_component_decides if {
	# A "." or ":" after the first "/" does not make a registry host.
	lib.canonical_image("mcp/x.y:1.2") == "docker.io/mcp/x.y:1.2"
	lib.canonical_image("localhostx/y") == "docker.io/localhostx/y"
}

test_canonical_image_hub_official_image if {
	lib.canonical_image("docker.io/alpine") == "docker.io/library/alpine"
	lib.canonical_image("docker.io/alpine:3.20") == "docker.io/library/alpine:3.20"
	lib.canonical_image("docker.io/alpine@sha256:abc") == "docker.io/library/alpine@sha256:abc"
	lib.canonical_image("docker.io/library/alpine") == "docker.io/library/alpine"
}

test_canonical_image_legacy_hub_domain if {
	lib.canonical_image("index.docker.io/mcp/evil") == "docker.io/mcp/evil"
	lib.canonical_image("index.docker.io/mcp/x@sha256:abc") == "docker.io/mcp/x@sha256:abc"
	lib.canonical_image("index.docker.io/alpine:1") == "docker.io/library/alpine:1"
	lib.canonical_image("index.docker.io/library/alpine") == "docker.io/library/alpine"
}

test_canonical_image_hub_domain_is_exact if {
	# Only the whole first component is Docker Hub's domain, spelled in lowercase.
	lib.canonical_image("docker.iox/alpine") == "docker.iox/alpine"
	lib.canonical_image("my.index.docker.io/mcp/x") == "my.index.docker.io/mcp/x"
	lib.canonical_image("Docker.io/alpine") == "Docker.io/alpine"
	lib.canonical_image("INDEX.DOCKER.IO/mcp/x") == "INDEX.DOCKER.IO/mcp/x"
}

test_canonical_image_hub_domain_with_empty_path if {
	lib.canonical_image("docker.io/") == "docker.io/library/"
	lib.canonical_image("index.docker.io/") == "docker.io/library/"
	lib.canonical_image("index.docker.io//x") == "docker.io//x"
}

test_canonical_image_capital_names_a_registry if {
	lib.canonical_image("Localhost/x") == "Localhost/x"
	lib.canonical_image("Mcp/x") == "Mcp/x"
	lib.canonical_image("mcP/x") == "mcP/x"
	lib.canonical_image("mcp/X") == "docker.io/mcp/X"
	lib.canonical_image("Alpine") == "docker.io/library/Alpine"
}

test_canonical_image_only_ascii_capitals_name_a_registry if {
	lib.canonical_image("Émcp/x") == "docker.io/Émcp/x"
}

test_canonical_image_url_is_unchanged if {
	lib.canonical_image("https://x/y") == "https://x/y"
}

test_canonical_image_unicode if {
	lib.canonical_image("café") == "docker.io/library/café"
	lib.canonical_image("東京/x") == "docker.io/東京/x"
}

# ---------------------------------------------------------------------------
# source_forms

test_source_forms_missing if {
	lib.source_forms({}) == set()
	lib.source_forms({"server": "s"}) == set()
}

test_source_forms_empty if {
	lib.source_forms({"serverSource": ""}) == set()
}

test_source_forms_official_image if {
	lib.source_forms({"serverSource": "alpine"}) == {"alpine", "docker.io/library/alpine"}
}

test_source_forms_hub_namespace if {
	lib.source_forms({"serverSource": "mcp/x"}) == {"mcp/x", "docker.io/mcp/x"}
}

test_source_forms_hub_spellings if {
	lib.source_forms({"serverSource": "index.docker.io/mcp/evil"}) == {"index.docker.io/mcp/evil", "docker.io/mcp/evil"}
	lib.source_forms({"serverSource": "docker.io/alpine"}) == {"docker.io/alpine", "docker.io/library/alpine"}
	lib.source_forms({"serverSource": "index.docker.io/alpine"}) == {"index.docker.io/alpine", "docker.io/library/alpine"}
}

test_source_forms_registry_host if {
	lib.source_forms({"serverSource": "ghcr.io/o/x"}) == {"ghcr.io/o/x"}
	lib.source_forms({"serverSource": "docker.io/mcp/x"}) == {"docker.io/mcp/x"}
}

test_source_forms_localhost if {
	lib.source_forms({"serverSource": "localhost/x"}) == {"localhost/x"}
}

test_source_forms_port if {
	lib.source_forms({"serverSource": "localhost:5000/x"}) == {"localhost:5000/x"}
	lib.source_forms({"serverSource": "host:1/x"}) == {"host:1/x"}
}

test_source_forms_https_url if {
	lib.source_forms({"serverSource": "https://x/y"}) == {"https://x/y"}
}

test_source_forms_any_scheme_url if {
	lib.source_forms({"serverSource": "tcp://mcp/x"}) == {"tcp://mcp/x"}
	lib.source_forms({"serverSource": "mcp://x"}) == {"mcp://x"}
	lib.source_forms({"serverSource": "://"}) == {"://"}
}

test_source_forms_url_marker_anywhere if {
	# Any "://" makes the value a URL, not an image reference.
	lib.source_forms({"serverSource": "mcp/x?next=http://y"}) == {"mcp/x?next=http://y"}
}

test_source_forms_only_scheme_separator_marks_a_url if {
	lib.source_forms({"serverSource": "mcp//x"}) == {"mcp//x", "docker.io/mcp//x"}
	lib.source_forms({"serverSource": "mcp:/x"}) == {"mcp:/x"}
}

# ---------------------------------------------------------------------------
# wildcard without middle pieces: prefix, anything, suffix

test_wrapped_prefix_anything_suffix if {
	lib.wildcard("abc", {"prefix": "a", "middles": [], "suffix": "c"})
	lib.wildcard("ghcr.io/o/x", {"prefix": "ghcr.io/", "middles": [], "suffix": "x"})
}

test_wrapped_empty_middle if {
	lib.wildcard("ac", {"prefix": "a", "middles": [], "suffix": "c"})
	lib.wildcard("aa", {"prefix": "a", "middles": [], "suffix": "a"})
}

test_wrapped_empty_prefix_or_suffix if {
	lib.wildcard("abc", {"prefix": "", "middles": [], "suffix": "c"})
	lib.wildcard("abc", {"prefix": "a", "middles": [], "suffix": ""})
	lib.wildcard("abc", {"prefix": "", "middles": [], "suffix": ""})
	lib.wildcard("", {"prefix": "", "middles": [], "suffix": ""})
}

test_wrapped_missing_prefix_or_suffix if {
	not lib.wildcard("abc", {"prefix": "b", "middles": [], "suffix": "c"})
	not lib.wildcard("abc", {"prefix": "a", "middles": [], "suffix": "b"})
	not lib.wildcard("", {"prefix": "a", "middles": [], "suffix": ""})
	not lib.wildcard("", {"prefix": "", "middles": [], "suffix": "a"})
}

test_wrapped_overlapping_prefix_and_suffix if {
	not lib.wildcard("ab", {"prefix": "ab", "middles": [], "suffix": "b"})
	lib.wildcard("abb", {"prefix": "ab", "middles": [], "suffix": "b"})
	not lib.wildcard("a", {"prefix": "a", "middles": [], "suffix": "a"})
	not lib.wildcard("aba", {"prefix": "ab", "middles": [], "suffix": "ba"})
	lib.wildcard("abba", {"prefix": "ab", "middles": [], "suffix": "ba"})
}

test_wrapped_repeated_pieces if {
	lib.wildcard("abab", {"prefix": "ab", "middles": [], "suffix": "ab"})
	lib.wildcard("ababab", {"prefix": "ab", "middles": [], "suffix": "ab"})
	not lib.wildcard("aba", {"prefix": "ab", "middles": [], "suffix": "ab"})
	lib.wildcard("xxxx", {"prefix": "xx", "middles": [], "suffix": "xx"})
	not lib.wildcard("xxx", {"prefix": "xx", "middles": [], "suffix": "xx"})
}

test_wrapped_case_sensitive if {
	not lib.wildcard("Abc", {"prefix": "a", "middles": [], "suffix": "c"})
	not lib.wildcard("abC", {"prefix": "a", "middles": [], "suffix": "c"})
}

test_wrapped_newlines if {
	lib.wildcard("a\nb", {"prefix": "a", "middles": [], "suffix": "b"})
	lib.wildcard("a\n\nb", {"prefix": "a\n", "middles": [], "suffix": "\nb"})
	lib.wildcard("\n", {"prefix": "", "middles": [], "suffix": "\n"})
	lib.wildcard("first line\nsecond line", {"prefix": "first", "middles": [], "suffix": "line"})
	not lib.wildcard("a\n", {"prefix": "a", "middles": [], "suffix": "b"})
}

test_wrapped_accents if {
	lib.wildcard("café", {"prefix": "caf", "middles": [], "suffix": "é"})
	lib.wildcard("écrire", {"prefix": "é", "middles": [], "suffix": "e"})
	not lib.wildcard("cafe", {"prefix": "caf", "middles": [], "suffix": "é"})
}

test_wrapped_combining_accent_is_not_precomposed if {
	# "é" (U+00E9) and "e" + U+0301 look alike but are different strings.
	not lib.wildcard("cafe\u0301", {"prefix": "caf", "middles": [], "suffix": "é"})
	lib.wildcard("cafe\u0301", {"prefix": "caf", "middles": [], "suffix": "e\u0301"})
}

test_wrapped_cjk if {
	lib.wildcard("東京都", {"prefix": "東", "middles": [], "suffix": "都"})
	lib.wildcard("東京", {"prefix": "東", "middles": [], "suffix": "京"})
	not lib.wildcard("東", {"prefix": "東", "middles": [], "suffix": "東"})
	not lib.wildcard("京東", {"prefix": "東", "middles": [], "suffix": "京"})
}

test_wrapped_emoji if {
	lib.wildcard("😀x😀", {"prefix": "😀", "middles": [], "suffix": "😀"})
	lib.wildcard("😀😀", {"prefix": "😀", "middles": [], "suffix": "😀"})
	not lib.wildcard("😀", {"prefix": "😀", "middles": [], "suffix": "😀"})
	lib.wildcard("👍🏽ok", {"prefix": "👍", "middles": [], "suffix": "ok"})
}

test_wrapped_special_characters_are_literal if {
	lib.wildcard("a?[b]{c}\\*", {"prefix": "a?[", "middles": [], "suffix": "\\*"})
	not lib.wildcard("ab", {"prefix": "a?", "middles": [], "suffix": ""})
	not lib.wildcard("a.c", {"prefix": "a", "middles": [], "suffix": "[c]"})
}

# ---------------------------------------------------------------------------
# between

test_between_returns_middle if {
	lib.between("abc", "a", "c") == "b"
	lib.between("ghcr.io/o/x:1", "ghcr.io/", ":1") == "o/x"
}

test_between_empty_middle if {
	lib.between("ac", "a", "c") == ""
	lib.between("aa", "a", "a") == ""
}

test_between_empty_prefix_or_suffix if {
	lib.between("abc", "", "c") == "ab"
	lib.between("abc", "a", "") == "bc"
	lib.between("abc", "", "") == "abc"
	lib.between("", "", "") == ""
}

test_between_undefined_without_prefix_or_suffix if {
	not lib.between("abc", "b", "c")
	not lib.between("abc", "a", "b")
	not lib.between("", "a", "")
}

test_between_overlapping_prefix_and_suffix if {
	not lib.between("ab", "ab", "b")
	lib.between("abb", "ab", "b") == ""
	not lib.between("a", "a", "a")
	lib.between("abcba", "ab", "ba") == "c"
}

test_between_repeated_pieces if {
	lib.between("ababab", "ab", "ab") == "ab"
	lib.between("abab", "ab", "ab") == ""
	not lib.between("aba", "ab", "ab")
	lib.between("x-x-x", "x", "x") == "-x-"
}

test_between_newlines if {
	lib.between("a\nb\nc", "a\n", "\nc") == "b"
	lib.between("\n\n", "\n", "\n") == ""
	lib.between("a\nb", "a", "b") == "\n"
}

test_between_unicode if {
	lib.between("café crème", "caf", "crème") == "é "
	lib.between("東京都庁", "東", "庁") == "京都"
	lib.between("😀🎉😀", "😀", "😀") == "🎉"
	not lib.between("😀", "😀", "😀")
}

# ---------------------------------------------------------------------------
# seek: one step of the leftmost search, by code point

test_seek_first_occurrence if {
	lib.seek("a-b-c", 0, ["-"], 0) == 2
	lib.seek("a-b-c", 2, ["-"], 0) == 4
	lib.seek("delete_all_repos", 0, ["_all"], 0) == 10
}

test_seek_past_the_last_piece_stays if {
	lib.seek("abc", 1, ["x"], 1) == 1
}

test_seek_undefined_when_missing if {
	not lib.seek("abc", 0, ["x"], 0)
	not lib.seek("abc", 2, ["b"], 0)
	not lib.seek("", 0, ["x"], 0)
}

test_seek_counts_code_points if {
	lib.seek("日本語", 0, ["本"], 0) == 2
	lib.seek("x😀y😀z", 2, ["😀"], 0) == 4
	lib.seek("crème brûlée", 0, ["û"], 0) == 9
}

# ---------------------------------------------------------------------------
# wildcard with middle pieces, as rules like "a*b*c*d" are lowered

a_b_c_d(x) if lib.wildcard(x, {"prefix": "a", "middles": ["b", "c"], "suffix": "d"})

test_multi_star_pattern_matches if {
	a_b_c_d("abcd")
	a_b_c_d("a-b-c-d")
	a_b_c_d("abcbd")
	a_b_c_d("abbccd")
	a_b_c_d("a\nb\nc\nd")
	a_b_c_d("a東b😀cé\nd")
}

test_multi_star_pattern_rejects if {
	not a_b_c_d("acbd")
	not a_b_c_d("abd")
	not a_b_c_d("abc")
	not a_b_c_d("bcd")
	not a_b_c_d("abcdx")
	not a_b_c_d("ABCD")
}

# "a*a*a*a" needs four separate a's: no piece may reuse another's characters.
a_a_a_a(x) if lib.wildcard(x, {"prefix": "a", "middles": ["a", "a"], "suffix": "a"})

test_multi_star_pattern_pieces_do_not_overlap if {
	not a_a_a_a("a")
	not a_a_a_a("aa")
	not a_a_a_a("aaa")
	a_a_a_a("aaaa")
	a_a_a_a("aXaYaZa")
	not a_a_a_a("aXaYa")
}

test_one_middle_piece if {
	lib.wildcard("xaby", {"prefix": "", "middles": ["ab"], "suffix": ""})
	not lib.wildcard("xay", {"prefix": "", "middles": ["ab"], "suffix": ""})
}

test_more_than_eight_and_sixty_four_pieces if {
	nine := [p | some p in split("a,b,c,d,e,f,g,h,i", ",")]
	lib.wildcard("abcdefghi", {"prefix": "", "middles": nine, "suffix": ""})
	not lib.wildcard("abcdefgh", {"prefix": "", "middles": nine, "suffix": ""})
	seventy := [p | some _ in numbers.range(1, 70); p := "x"]
	lib.wildcard(concat("", seventy), {"prefix": "", "middles": seventy, "suffix": ""})
	not lib.wildcard(concat("", array.slice(seventy, 1, 70)), {"prefix": "", "middles": seventy, "suffix": ""})
}

# ---------------------------------------------------------------------------
# request field length

test_request_error_field_too_long if {
	long := concat("", [x | some _ in numbers.range(1, 65537); x := "é"])
	lib.request_error({"tool": long}) == "field \"tool\" is longer than 65536 characters"
	not lib.request_error({"tool": substring(long, 1, -1)})
}

# ---------------------------------------------------------------------------
# rule conditions, as JSON text or as the list

test_conditions_decodes_text if {
	lib.conditions(`[["equals","action","load"],["matches","server",{"prefix":"a","middles":[],"suffix":""}]]`) == [
		["equals", "action", "load"],
		["matches", "server", {"prefix": "a", "middles": [], "suffix": ""}],
	]
}

test_conditions_keeps_a_list if {
	lib.conditions([["contains", "server", "x"]]) == [["contains", "server", "x"]]
	lib.conditions([]) == []
}

test_conditions_text_keeps_escapes if {
	lib.conditions(`[["equals","server","a\"b\\c\u00e9\n"]]`) == [["equals", "server", "a\"b\\cé\n"]]
}
