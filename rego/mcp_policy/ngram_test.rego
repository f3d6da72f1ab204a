# Tests of the n-gram helpers in ngram.rego: every run of n code points of a
# value, each once, and none from a value shorter than n.
package mcp_policy.ngram_test

import data.mcp_policy.ngram

test_grams_of_a_value if {
	ngram.grams("delete", 3) == {"del", "ele", "let", "ete"}
	ngram.grams("delete", 4) == {"dele", "elet", "lete"}
}

test_grams_each_once if {
	ngram.grams("aaaaaa", 3) == {"aaa"}
	ngram.grams("abab", 2) == {"ab", "ba"}
}

test_grams_of_a_value_of_exactly_n if {
	ngram.grams("abc", 3) == {"abc"}
}

test_no_grams_of_a_shorter_value if {
	ngram.grams("ab", 3) == set()
	ngram.grams("", 3) == set()
}

# Grams are cut on code points, not bytes: a character of several UTF-8
# bytes (or of two UTF-16 units) is one character of a gram.
test_grams_count_code_points if {
	ngram.grams("héllo", 3) == {"hél", "éll", "llo"}
	ngram.grams("a😀b", 3) == {"a😀b"}
	ngram.grams("中文字", 4) == set()
}

# The grams of the last and first characters are there: a piece at either
# end of a value is found.
test_grams_at_both_ends if {
	gs := ngram.grams("-svc00042-", 4)
	"-svc" in gs
	"042-" in gs
	count(gs) == 7
}

# A long value costs one gram per position, and no gram is cut wrong at its end.
test_grams_of_a_long_value if {
	v := concat("", [x | some _ in numbers.range(1, 1000); x := "ab"])
	ngram.grams(v, 3) == {"aba", "bab"}
	count(ngram.grams(concat("", [v, "xyz"]), 3)) == 5
}

# Short values are always worth cutting into n-grams; long ones only against
# enough rules (past 256 rules, always).
test_worth if {
	ngram.worth("x-svc00042-y", 32)
	long := concat("", [x | some _ in numbers.range(1, 100); x := "abcdefghij"])
	not ngram.worth(long, 32)
	ngram.worth(long, 10000)
	ngram.worth(long, 256)
	not ngram.worth(long, 200)
}
