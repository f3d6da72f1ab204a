# Helpers of policies whose rule index files rules under n-grams: rules whose
# patterns have no literal start or end (such as "*-prod-*") are listed under
# one n-gram (a run of n code points) of a literal piece, and a request is
# looked up under every n-gram of its field. Only bundles of such policies
# carry this module, so every other bundle keeps its bytes.
#
# A field's characters are split once and each n-gram joined from n of them:
# in WebAssembly, substring walks the string from its start on every call,
# so cutting each n-gram out of the field would cost the square of its
# length; this costs a constant per character (65,536 characters at most).
package mcp_policy.ngram

# grams(v, n) are the distinct n-grams of v; none when v is shorter than n.
grams(v, n) := {concat("", array.slice(cs, i, i + n)) |
	cs := split(v, "")
	some i, _ in cs
	i + n <= count(cs)
}

# worth(v, rules) holds when cutting v into n-grams costs less than checking
# every one of the rules filed under n-grams for its field: an n-gram costs
# about two short rule checks, and a rule check costs one more for every 128
# characters of the value. A long value against a few hundred rules or fewer
# is checked against all of them instead, as without the index.
worth(v, rules) if 256 * count(v) < rules * (128 + count(v))
