#!/usr/bin/env bash
# compare.sh REF_OUT OUT: from two run.sh --out dirs (e.g. runc's and cgfw-runc's), list the tests
# that pass with the reference and fail with the other, each with its first error line (the first
# diagnostic line that reads like an error from the runtime, else the failed assertion).
# Output: TSV "file<TAB>test<TAB>first error line", then the totals of both runs.
set -euo pipefail
REF=$1 OUT=$2
first_error() { # $1 = tap file, $2 = test name
	awk -v name="$2" '
		/^(not ok|ok) [0-9]+ / {
			t = $0; sub(/^(not ok|ok) [0-9]+ /, "", t); sub(/ # timeout after [0-9]+s$/, "", t)
			inblk = ($1 == "not" && t == name); next
		}
		inblk && /^# / {
			l = substr($0, 3)
			if (l ~ /^\(|^ from function|^ in test file|^[[:space:]]*$|level=warning|"level":"warning"/) next
			if (assert == "" && l ~ /failed( with status [0-9]+)?( due to timeout)?$/) { assert = l; next }
			if (err == "" && l ~ /[Ee]rror|ERRO|panic|not supported|[Ff]ailed|unknown|invalid|denied|No such|not found|refus|[Tt]imeout|[Uu]sage/) err = l
		}
		END { gsub(/\t/, " ", err); gsub(/\t/, " ", assert); print (err != "" ? err : assert) }
	' "$1"
}
while IFS=$'\t' read -r st f name _; do
	[ "$st" = pass ] || continue
	ost=$(awk -F'\t' -v f="$f" -v n="$name" '$2 == f && $3 == n { print $1; exit }' "$OUT/results.tsv")
	[ "$ost" = fail ] || continue
	printf '%s\t%s\t%s\n' "$f" "$name" "$(first_error "$OUT/tap/$f.tap" "$name" | cut -c1-220)"
done <"$REF/results.tsv"
echo "# reference: $(cat "$REF/summary" | tail -1)"
echo "# other:     $(cat "$OUT/summary" | tail -1)"
